// Package pipecopy copies a stream through a pipeline of goroutines, so
// that reading it, hashing it and writing it overlap on separate cores
// instead of taking turns on one.
//
// A datalake upload reads a socket, hashes every byte (SHA-256: 0.6-0.8 s
// of CPU per GiB with SHA-NI) and encrypts and writes a file; the CLI's
// download reads a socket, hashes and writes a file; the server's reads
// and decrypts a file and writes a socket. In one goroutine these costs
// add up; in a pipeline they overlap, and the slowest stage sets the pace.
package pipecopy

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// BlockSize is the size of the largest blocks read and handed down the
// pipeline. Every hand-off wakes a goroutine, and on the benchmark VM
// waking one on the other core costs tens of microseconds of idle: a
// 1 GiB push spent about a fifth of its two cores idle with 512 KiB
// blocks. With 2 MiB blocks it took 1.67 s instead of 1.83 s (medians of
// 10, interleaved; 4 MiB: 1.64 s).
const BlockSize = 2 << 20

// FirstBlockSize is the size of a copy's first block. Each block that
// comes back full makes the next one growth times larger, up to
// BlockSize: a small file is copied in one small block, so a burst of
// small uploads does not hold BlockSize each.
const FirstBlockSize = 64 << 10

const growth = 4

// Depth is how many blocks one copy holds at most: a block being read,
// one being written, one being hashed, and one of slack. A copy holds at
// most Depth*BlockSize bytes (8 MiB).
const Depth = 4

// pools holds the blocks of each size a copy uses, smallest first.
var pools = func() []*sync.Pool {
	var ps []*sync.Pool
	for size := FirstBlockSize; ; size = min(size*growth, BlockSize) {
		ps = append(ps, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
		if size == BlockSize {
			return ps
		}
	}
}()

// getBlock returns a pooled block of size bytes (a size of the series).
func getBlock(size int) *[]byte { return pools[class(size)].Get().(*[]byte) }

// putBlock pools b again, at its full size.
func putBlock(b *[]byte) {
	*b = (*b)[:cap(*b)]
	pools[class(cap(*b))].Put(b)
}

// class is the index in pools of the blocks of size bytes.
func class(size int) int {
	i := 0
	for s := FirstBlockSize; s < size; s = min(s*growth, BlockSize) {
		i++
	}
	return i
}

// Copy copies src to dst until src's io.EOF, and writes the same bytes in
// the same order to h (nil: none), a hash or checksums, whose writes never
// fail. src is read on a goroutine of its own; each block read goes at
// once to the caller's goroutine, which writes it to dst, and to another
// that feeds it to h, so the two read it at the same time (as io.Writer
// requires, neither changes it). Hashing while writing rather than after
// took a 1 GiB push 1.71 s instead of 1.76 s (medians of 10,
// interleaved): a block is free for the reader again sooner. It returns
// the bytes written to dst and the first error of dst, else of src
// (other than io.EOF), unchanged.
// When Copy returns, no goroutine it started touches src, dst or h; on
// success h has seen every byte. Memory is at most Depth blocks, which
// grow from FirstBlockSize to BlockSize as the copy goes on.
func Copy(dst io.Writer, src io.Reader, h io.Writer) (int64, error) {
	var (
		toWrite = make(chan *block, Depth) // read, to write
		toHash  = make(chan *block, Depth) // read, to hash
		free    = make(chan *block, Depth) // written and hashed, to reuse
		stop    = make(chan struct{})      // the writer failed
		wg      sync.WaitGroup
		rerr    error
	)
	users := int32(1) // the stages a block goes to
	if h != nil {
		users = 2
	}
	// The reader fills blocks and hands each to the writer and the hasher
	// at once; a block is reused once both are done with it, or swapped
	// for a larger one while they grow. No more than Depth exist, so a
	// slow stage holds the others back (channels of capacity Depth never
	// block a send).
	wg.Go(func() {
		defer close(toWrite)
		defer close(toHash)
		made, size := 0, FirstBlockSize
		for {
			var b *block
			select {
			case <-stop:
				return
			case b = <-free:
			default:
				if made < Depth {
					b = &block{buf: getBlock(size)}
					made++
					break
				}
				select {
				case <-stop:
					return
				case b = <-free:
				}
			}
			if cap(*b.buf) < size {
				putBlock(b.buf)
				b.buf = getBlock(size)
			}
			n, err := fill(src, (*b.buf)[:cap(*b.buf)])
			if n == cap(*b.buf) {
				size = min(size*growth, BlockSize)
			}
			if n > 0 {
				*b.buf = (*b.buf)[:n]
				b.users.Store(users)
				if h != nil {
					toHash <- b
				}
				toWrite <- b
			} else {
				free <- b
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rerr = err
				}
				return
			}
		}
	})
	release := func(b *block) {
		if b.users.Add(-1) == 0 {
			free <- b
		}
	}
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range toHash {
			h.Write(*b.buf) // a hash never fails
			release(b)
		}
	}()

	var (
		written int64
		werr    error
	)
	for b := range toWrite {
		if werr != nil { // drain, so that the reader ends
			release(b)
			continue
		}
		n, err := dst.Write(*b.buf)
		written += int64(n)
		if err == nil && n < len(*b.buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			werr = err
			close(stop)
		}
		release(b)
	}
	wg.Wait()
	<-hashed
	close(free)
	for b := range free {
		putBlock(b.buf)
	}
	if werr != nil {
		return written, werr
	}
	return written, rerr
}

// block is a buffer on its way through a copy, with the count of the
// stages that have yet to finish with it.
type block struct {
	buf   *[]byte
	users atomic.Int32
}

// fill reads from r until b is full or r fails, and returns the bytes read
// and r's error as is: io.EOF is the end, anything else (an
// io.ErrUnexpectedEOF from a cut HTTP body among them) is a failure.
// io.ReadFull would not tell a source's own io.ErrUnexpectedEOF from
// its own making, and a cut upload would pass for a whole one.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
