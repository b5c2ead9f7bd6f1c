// Package directio writes and reads large files with direct I/O
// (O_DIRECT): from the process's buffers to the disk and back, past the
// page cache, as MinIO and Ceph move object data. koya uses it where a
// large file is made durable anyway (a datalake upload, fsynced before
// it is acknowledged; a pulled file, fsynced before it takes its name)
// and to read large datalake objects back.
//
// Through the page cache, each GiB written costs a copy into pages the
// process has never touched (on a VM whose balloon has taken them back,
// free page reporting, also a host fault per page: 0.25 s of CPU at
// best, 1.5-2.5 s seen on the benchmark VM), then the fsync waits for
// the disk to take it all. Direct writes of 2-4 MiB took 0.4-0.5 s per
// GiB with 0.1 s of CPU, already on the disk; nor do big transfers push
// out of the cache what is read again (the database, small files).
//
// Data goes out in aligned blocks, one written while the next fills; the
// tail that fills no block, and a file smaller than a block, go through
// the page cache, and the caller's fsync makes the whole durable. Where
// the file system refuses direct I/O (tmpfs on older kernels, some FUSE
// file systems), files go through the page cache, a write's write-back
// started as it goes (package writebehind).
package directio

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/koya-dev/koya/internal/writebehind"
)

// Block is the size of a direct write: large enough that the disk
// streams (2 and 4 MiB writes did the same on the benchmark VM, 1 MiB
// worse), and a multiple of any logical block size. A writer has two: it
// fills one while the other goes to the disk.
const Block = 2 << 20

// Align is the alignment of a direct write's buffer, offset and
// length: a page, which covers 512-byte and 4 KiB logical blocks.
const Align = 4096

var blockPool = sync.Pool{New: func() any {
	b := make([]byte, Block+Align)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (Align - 1))
	b = b[off : off+Block : off+Block]
	return &b
}}

// Writer writes a new file f from offset 0: in Block writes
// with O_DIRECT while the file system takes them, through the page cache
// (starting write-back as it goes) otherwise. A full block is written on
// a goroutine of its own while the next fills: a direct write returns
// once the disk has the data, and waiting for it would stall the upload's
// pipeline. Finish writes the rest; Release must follow, error or not,
// before f is closed.
type Writer struct {
	f      *os.File
	bufs   [2]*[]byte
	cur    int // the buffer being filled
	n      int // bytes in it
	direct bool
	behind *writebehind.Starter
	inUse  chan error // the result of the write under way, if any
	// flushed is set once a block went out: the file is not small.
	flushed bool
}

// NewWriter turns O_DIRECT on for f if it can.
func NewWriter(f *os.File) *Writer {
	d := &Writer{f: f, behind: writebehind.New(f), direct: setDirect(f, true) == nil}
	d.bufs[0] = blockPool.Get().(*[]byte)
	d.bufs[1] = blockPool.Get().(*[]byte)
	return d
}

func (d *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := copy((*d.bufs[d.cur])[d.n:], p)
		d.n += k
		p = p[k:]
		written += k
		if d.n == Block {
			if err := d.wait(); err != nil {
				return written, err
			}
			b := (*d.bufs[d.cur])[:d.n]
			d.flushed = true
			d.inUse = make(chan error, 1)
			go func() { d.inUse <- d.write(b) }()
			d.cur, d.n = 1-d.cur, 0
		}
	}
	return written, nil
}

// wait waits for the write under way and returns its error.
func (d *Writer) wait() error {
	if d.inUse == nil {
		return nil
	}
	err := <-d.inUse
	d.inUse = nil
	return err
}

// write writes b at the end of the file (len(b) a multiple of
// Align while direct). One runs at a time.
func (d *Writer) write(b []byte) error {
	k, err := d.f.Write(b)
	if err != nil && d.direct && k == 0 && errors.Is(err, syscall.EINVAL) {
		// The file system took the flag but refuses the write: go
		// through the page cache from here.
		d.buffered()
		k, err = d.f.Write(b)
	}
	if !d.direct {
		d.behind.Wrote(k)
	}
	return err
}

// buffered turns O_DIRECT off.
func (d *Writer) buffered() {
	if d.direct {
		_ = setDirect(d.f, false)
		d.direct = false
	}
}

// Finish writes what is buffered: its aligned part directly, the tail
// through the page cache; a file smaller than a block goes through the
// page cache whole, where a small file is worth keeping. The caller
// fsyncs the file.
func (d *Writer) Finish() error {
	if err := d.wait(); err != nil {
		return err
	}
	if !d.flushed {
		d.buffered()
	}
	b := (*d.bufs[d.cur])[:d.n]
	if aligned := len(b) &^ (Align - 1); d.direct && aligned > 0 {
		if err := d.write(b[:aligned]); err != nil {
			return err
		}
		b = b[aligned:]
	}
	d.n = 0
	if len(b) == 0 {
		return nil
	}
	d.buffered()
	return d.write(b)
}

// Release waits for any write under way and returns the buffers; the
// writer is not used after.
func (d *Writer) Release() {
	_ = d.wait()
	for i, b := range d.bufs {
		if b != nil {
			blockPool.Put(b)
			d.bufs[i] = nil
		}
	}
}

var _ io.Writer = (*Writer)(nil)

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
