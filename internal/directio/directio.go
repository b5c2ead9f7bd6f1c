// Package directio reads large files with direct I/O (O_DIRECT): from
// the disk into the process's buffers, past the page cache, as MinIO and
// Ceph move object data. koya reads large datalake objects back so: a
// big transfer does not push out of the cache what is read again (the
// database, small files), nor pay for a copy into pages the process has
// never touched (on a VM whose balloon has taken them back, free page
// reporting, also a host fault per page).
//
// A block is read ahead while the caller consumes the one before. Where
// the file system refuses direct I/O (tmpfs on older kernels, some FUSE
// file systems), the file is read through the page cache.
//
// It wrote large files too, until measured otherwise: a direct write
// waits for the disk, and an upload's writes then stalled while the part
// before was fsynced (see objects.stageObject).
package directio

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Block is the size of a direct read: large enough that the disk
// streams (2 and 4 MiB did the same on the benchmark VM, 1 MiB worse),
// and a multiple of any logical block size. A reader has two: the caller
// consumes one while the other is read.
const Block = 2 << 20

// Align is the alignment of a direct read's buffer, offset and
// length: a page, which covers 512-byte and 4 KiB logical blocks.
const Align = 4096

var blockPool = sync.Pool{New: func() any {
	b := make([]byte, Block+Align)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (Align - 1))
	b = b[off : off+Block : off+Block]
	return &b
}}

// Reader reads a file from offset 0 with O_DIRECT, a block ahead: a
// goroutine reads the next block while the caller consumes this one. It
// falls back to reads through the page cache where the file system
// refuses direct ones. Close must be called, before f is closed.
type Reader struct {
	f      *os.File
	bufs   [2]*[]byte
	next   int          // the buffer the next block goes into
	ready  chan readOut // the block being read, if any
	cur    []byte       // what is left of the block being consumed
	err    error        // the end (io.EOF) or a failure, once cur is empty
	direct bool
}

type readOut struct {
	b   []byte
	err error
}

// NewReader starts reading f's first block.
func NewReader(f *os.File) *Reader {
	d := &Reader{f: f, direct: setDirect(f, true) == nil}
	d.bufs[0] = blockPool.Get().(*[]byte)
	d.bufs[1] = blockPool.Get().(*[]byte)
	d.readAhead()
	return d
}

// readAhead starts reading the next block into the free buffer.
func (d *Reader) readAhead() {
	b := *d.bufs[d.next]
	d.next = 1 - d.next
	d.ready = make(chan readOut, 1)
	go func() {
		n, err := d.fill(b)
		d.ready <- readOut{b[:n], err}
	}()
}

// fill reads until b is full or the file ends (io.EOF, with what came).
func (d *Reader) fill(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := d.f.Read(b[n:])
		if err != nil && d.direct && k == 0 && errors.Is(err, syscall.EINVAL) {
			_ = setDirect(d.f, false) // refused: through the page cache
			d.direct = false
			continue
		}
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

func (d *Reader) Read(p []byte) (int, error) {
	if len(d.cur) == 0 {
		if d.err != nil || d.ready == nil {
			return 0, d.err
		}
		out := <-d.ready
		d.ready = nil
		d.cur, d.err = out.b, out.err
		if d.err == nil {
			d.readAhead() // into the other buffer, while this one is read
		}
		if len(d.cur) == 0 {
			return 0, d.err
		}
	}
	n := copy(p, d.cur)
	d.cur = d.cur[n:]
	return n, nil
}

// Close waits for a read under way and returns the buffers.
func (d *Reader) Close() error {
	if d.ready != nil {
		<-d.ready
		d.ready = nil
	}
	for i, b := range d.bufs {
		if b != nil {
			blockPool.Put(b)
			d.bufs[i] = nil
		}
	}
	d.cur, d.err = nil, io.ErrClosedPipe
	return nil
}
