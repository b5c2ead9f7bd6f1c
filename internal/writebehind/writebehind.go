// Package writebehind starts the write-back of a file's pages while the
// file is still being written, so that the fsync which ends a durable
// write finds little left to flush.
//
// Written pages stay dirty in the page cache until the kernel's flusher
// gets to them (seconds later) or an fsync forces them out; a writer that
// fsyncs at its end then waits for the disk to take the whole file, after
// all its CPU work is done. Starting the write-back of each window as it
// fills (sync_file_range(SYNC_FILE_RANGE_WRITE), what PostgreSQL's
// *_flush_after and RocksDB's bytes_per_sync do) lets the disk work while
// the writer hashes, encrypts and writes the next window. It only starts
// I/O: durability still comes from the fsync.
package writebehind

import "os"

// Window is how many bytes are written before their write-back starts:
// large enough that the system calls cost nothing, small enough that the
// disk starts early.
const Window = 4 << 20

// Starter follows the sequential writes of one file.
type Starter struct {
	f       *os.File
	written int64 // bytes written from offset 0
	started int64 // bytes whose write-back has been started
	start   func(f *os.File, off, n int64)
}

// New follows f, written sequentially from offset 0.
func New(f *os.File) *Starter { return &Starter{f: f, start: start} }

// Wrote records n more bytes written at the end, and starts the
// write-back of the last window once it is full.
func (s *Starter) Wrote(n int) {
	s.written += int64(n)
	if s.written-s.started >= Window {
		s.start(s.f, s.started, s.written-s.started)
		s.started = s.written
	}
}
