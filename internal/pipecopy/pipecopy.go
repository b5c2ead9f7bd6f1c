// Package pipecopy copies a stream through a pipeline of goroutines, so
// that reading it, hashing it and writing it overlap on separate cores
// instead of taking turns on one.
//
// A datalake upload reads a socket, hashes every byte (SHA-256: 0.6 s of
// CPU per GiB with SHA-NI) and encrypts and writes a file; the CLI's
// download reads a socket, hashes and writes a file; the server's reads
// and decrypts a file and writes a socket. In one goroutine these costs
// add up; in a pipeline they overlap, and the slowest stage sets the pace.
package pipecopy

import (
	"errors"
	"io"
	"sync"
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
// fail. src is read on a goroutine of its
// own and h is fed on another while the caller's goroutine writes dst; a
// block is hashed once written. It returns the bytes written to dst and
// the first error of dst, else of src (other than io.EOF), unchanged.
// When Copy returns, no goroutine it started touches src, dst or h; on
// success h has seen every byte. Memory is at most Depth blocks, which
// grow from FirstBlockSize to BlockSize as the copy goes on.
func Copy(dst io.Writer, src io.Reader, h io.Writer) (int64, error) {
	var (
		full = make(chan *[]byte, Depth) // read, to write
		done = make(chan *[]byte, Depth) // written, to hash
		free = make(chan *[]byte, Depth) // hashed, to reuse
		stop = make(chan struct{})       // the writer failed
		wg   sync.WaitGroup
		rerr error
	)
	// The reader fills blocks; a block is reused once hashed, or swapped
	// for a larger one while they grow. No more than Depth exist, so a
	// slow stage holds the others back (channels of capacity Depth never
	// block a send).
	wg.Go(func() {
		defer close(full)
		made, size := 0, FirstBlockSize
		for {
			var b *[]byte
			select {
			case <-stop:
				return
			case b = <-free:
			default:
				if made < Depth {
					b = getBlock(size)
					made++
					break
				}
				select {
				case <-stop:
					return
				case b = <-free:
				}
			}
			if cap(*b) < size {
				putBlock(b)
				b = getBlock(size)
			}
			n, err := fill(src, (*b)[:cap(*b)])
			if n == cap(*b) {
				size = min(size*growth, BlockSize)
			}
			if n > 0 {
				*b = (*b)[:n]
				full <- b
			} else {
				putBlock(b)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rerr = err
				}
				return
			}
		}
	})
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range done {
			if h != nil {
				h.Write(*b) // a hash never fails
			}
			free <- b
		}
	}()

	var (
		written int64
		werr    error
	)
	for b := range full {
		if werr != nil { // drain, so that the reader ends
			putBlock(b)
			continue
		}
		n, err := dst.Write(*b)
		written += int64(n)
		if err == nil && n < len(*b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			werr = err
			close(stop)
			putBlock(b)
			continue
		}
		done <- b
	}
	wg.Wait()
	close(done)
	<-hashed
	close(free)
	for b := range free {
		putBlock(b)
	}
	if werr != nil {
		return written, werr
	}
	return written, rerr
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
