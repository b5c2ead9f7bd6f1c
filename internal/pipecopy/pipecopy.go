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

// BlockSize is the size of the blocks read and handed down the pipeline:
// large, so that each stage makes few system calls, small enough that a
// transfer holds 2 MiB (1 MiB blocks were no faster on the benchmark).
const BlockSize = 512 << 10

// Depth is how many blocks one copy holds at most: a block being read,
// one being written, one being hashed, and one of slack.
const Depth = 4

var blocks = sync.Pool{New: func() any { b := make([]byte, BlockSize); return &b }}

// Copy copies src to dst until src's io.EOF, and writes the same bytes in
// the same order to h (nil: none), a hash or checksums, whose writes never
// fail. src is read on a goroutine of its
// own and h is fed on another while the caller's goroutine writes dst; a
// block is hashed once written. It returns the bytes written to dst and
// the first error of dst, else of src (other than io.EOF), unchanged.
// When Copy returns, no goroutine it started touches src, dst or h; on
// success h has seen every byte. Memory is at most Depth blocks.
func Copy(dst io.Writer, src io.Reader, h io.Writer) (int64, error) {
	var (
		full = make(chan *[]byte, Depth) // read, to write
		done = make(chan *[]byte, Depth) // written, to hash
		free = make(chan *[]byte, Depth) // hashed, to reuse
		stop = make(chan struct{})       // the writer failed
		wg   sync.WaitGroup
		rerr error
	)
	// The reader fills blocks; a block is reused once hashed. No more than
	// Depth exist, so a slow stage holds the others back (channels of
	// capacity Depth never block a send).
	wg.Go(func() {
		defer close(full)
		made := 0
		for {
			var b *[]byte
			select {
			case <-stop:
				return
			case b = <-free:
			default:
				if made < Depth {
					b = blocks.Get().(*[]byte)
					made++
					break
				}
				select {
				case <-stop:
					return
				case b = <-free:
				}
			}
			n, err := fill(src, (*b)[:BlockSize])
			if n > 0 {
				*b = (*b)[:n]
				full <- b
			} else {
				blocks.Put(resize(b))
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
			blocks.Put(resize(b))
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
			blocks.Put(resize(b))
			continue
		}
		done <- b
	}
	wg.Wait()
	close(done)
	<-hashed
	close(free)
	for b := range free {
		blocks.Put(resize(b))
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

// resize gives a block its full length again before it is pooled.
func resize(b *[]byte) *[]byte {
	*b = (*b)[:BlockSize]
	return b
}
