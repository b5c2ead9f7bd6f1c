package client

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/koya-dev/koya/errs"
)

// ResumableOptions configure PutFileResumable.
type ResumableOptions struct {
	PutOptions
	// ChunkSize is the most bytes one request sends. 0 (the default)
	// sends the whole rest of the file in one request, as GCS's and tus's
	// resumable uploads do: the server stores it in parts (64 MiB) as it
	// arrives, and a cut request resumes after the last whole part. Set
	// it under a proxy that limits request bodies; a file of more than
	// 1,000 chunks gets larger ones (ChunkSizeFor).
	ChunkSize int64
	// Resume is the id of an upload session of an earlier try (from
	// OnSession): the upload goes on from the offset the server has. A
	// session that is gone, or is of another file, is replaced by a new one.
	Resume string
	// OnSession is called with the session's id before the first chunk,
	// so that a caller can remember it for a later try.
	OnSession func(id string)
	// Retries is how many times in a row a chunk is retried after a cut
	// connection or a conflict (default 3).
	Retries int
	// CRC32C is the file's CRC-32C (8 hex digits) if the caller knows it;
	// else it is computed from src on the side while the file goes up.
	CRC32C string
}

// DefaultChunkSize is ChunkSizeFor's chunk size when none is asked.
const DefaultChunkSize = 16 << 20

// maxChunks is how many chunks ChunkSizeFor cuts a file into at most:
// the server keeps a session's list of parts and writes it again with
// every chunk (and refuses more than 10,000).
const maxChunks = 1000

// ChunkSizeFor is the chunk size of a resumable upload of size bytes:
// want (DefaultChunkSize if <= 0), or, for a file that would take more
// than maxChunks chunks, the whole MiBs that make it maxChunks or fewer
// (16 MiB up to 16,000 MiB; 1,049 MiB for a 1 TiB file).
func ChunkSizeFor(size, want int64) int64 {
	if want <= 0 {
		want = DefaultChunkSize
	}
	if size <= want*maxChunks {
		return want
	}
	per := (size + maxChunks - 1) / maxChunks
	return (per + 1<<20 - 1) &^ (1<<20 - 1)
}

// PutFileResumable uploads size bytes of src as the file path of channel
// through an upload session, in one request or in chunks of o.ChunkSize:
// a request that fails is sent again from the offset the server reports,
// and a later call with o.Resume continues where an earlier one stopped.
// A local file (an *os.File) is sent from the page cache with
// sendfile(2), its progress read from the descriptor's offset.
func (c *Client) PutFileResumable(ctx context.Context, project, channel, path string, src io.ReaderAt, size int64, o ResumableOptions) (DataFile, error) {
	if o.ChunkSize > 0 {
		o.ChunkSize = ChunkSizeFor(size, o.ChunkSize)
	} else {
		o.ChunkSize = max(size, 1)
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	var s UploadSession
	if o.Resume != "" {
		got, err := c.Upload(ctx, project, o.Resume)
		switch {
		case err == nil && got.Channel == channel && got.Path == path && got.Total == size:
			s = got
		case err != nil && !errs.Is(err, errs.NotFound):
			return DataFile{}, err
		}
	}
	if s.ID == "" {
		total := size
		var err error
		s, err = c.CreateUpload(ctx, project, UploadRequest{Channel: channel, Path: path, ContentType: o.ContentType, Meta: o.Meta, Total: &total})
		if err != nil {
			return DataFile{}, err
		}
	}
	if o.OnSession != nil {
		o.OnSession(s.ID)
	}
	// The CRC-32C of the whole file, read on the side while it goes up:
	// at completion the server compares it with the parts' and drops an
	// upload whose bytes changed on the way (or whose file changed).
	crcCtx, stopCRC := context.WithCancel(ctx)
	defer stopCRC()
	crcOut := make(chan string, 1)
	if o.CRC32C != "" {
		crcOut <- o.CRC32C
	} else {
		go func() { crcOut <- crcOf(crcCtx, src, size) }()
	}
	report := func(n int64) {
		if o.Progress != nil && n != 0 {
			o.Progress(n)
		}
	}
	off := s.Offset
	report(off)
	wait := 200 * time.Millisecond
	failedAt := int64(-1) // where the last request that failed started
	for tries := 0; off < size; {
		n := min(o.ChunkSize, size-off)
		var sent int64
		var got UploadSession
		var err error
		if fc := openChunk(src, off, n); fc != nil {
			stop := fc.watch(off, 100*time.Millisecond, func(k int64) { sent += k; report(k) })
			got, err = c.writeChunk(ctx, project, s.ID, off, fc, n)
			stop()
			_ = fc.Close() // the transport has closed it, unless the request never started
		} else {
			body := progressReader(io.NewSectionReader(src, off, n), func(k int64) { sent += k; report(k) })
			got, err = c.writeChunk(ctx, project, s.ID, off, body, 0)
		}
		if err == nil {
			report(got.Offset - off - sent) // all of it, for a file chunk
			off, tries, wait = got.Offset, 0, 200*time.Millisecond
			continue
		}
		report(-sent)
		if off > failedAt {
			// The request started past where the last one that failed
			// did (the server kept whole parts of it): progress, so the
			// count of failures in a row starts again.
			tries, wait = 0, 200*time.Millisecond
		}
		failedAt = off
		retryable := errs.Is(err, errs.Conflict) || errs.Is(err, errs.Unavailable)
		if ctx.Err() != nil || !retryable || tries >= o.Retries {
			return DataFile{}, err
		}
		tries++
		select {
		case <-ctx.Done():
			return DataFile{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
		cur, gerr := c.Upload(ctx, project, s.ID)
		if gerr != nil {
			return DataFile{}, gerr
		}
		report(cur.Offset - off)
		off = cur.Offset
	}
	var crc string
	select {
	case crc = <-crcOut:
	case <-ctx.Done():
		return DataFile{}, ctx.Err()
	}
	return c.CompleteUpload(ctx, project, s.ID, crc)
}

// crcOf is the CRC-32C of the size bytes of src, or "" if they cannot be
// read (or ctx ends first): the upload is then completed unchecked.
func crcOf(ctx context.Context, src io.ReaderAt, size int64) string {
	crc := newCRC32C()
	buf := make([]byte, uploadBuffer)
	for off := int64(0); off < size; {
		if ctx.Err() != nil {
			return ""
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		crc.Write(buf[:n])
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == size) {
			return ""
		}
	}
	return crcHex(crc)
}

// fileChunk is a chunk of a local file read through a descriptor of its
// own (so that no other chunk or caller moves its offset). Sent with its
// Content-Length, net/http hands it to sendfile(2), which moves it from
// the page cache to the socket without copying it through this process;
// the transport closes it once sent. It implements only Read, Close and
// syscall.Conn: an io.WriterTo would let a copy read past the chunk.
type fileChunk struct {
	f   *os.File
	end int64 // the offset after the chunk
}

// openChunk opens the n bytes at off of src if src is a local file, and
// returns nil otherwise (or if the file cannot be opened again as the same
// file): the chunk is then read through src.
func openChunk(src io.ReaderAt, off, n int64) *fileChunk {
	f, ok := src.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	g, err := os.Open(f.Name())
	if err != nil {
		return nil
	}
	if gst, err := g.Stat(); err != nil || !os.SameFile(st, gst) {
		_ = g.Close()
		return nil
	}
	if _, err := g.Seek(off, io.SeekStart); err != nil {
		_ = g.Close()
		return nil
	}
	return &fileChunk{f: g, end: off + n}
}

func (c *fileChunk) Read(p []byte) (int, error) {
	pos, err := c.f.Seek(0, io.SeekCurrent) // sendfile moves it too
	if err != nil {
		return 0, err
	}
	if pos >= c.end {
		return 0, io.EOF
	}
	if int64(len(p)) > c.end-pos {
		p = p[:c.end-pos]
	}
	return c.f.Read(p)
}

func (c *fileChunk) Close() error { return c.f.Close() }

// watch reports, every period until stop is called, how far the chunk
// that starts at off has been read (sendfile moves the descriptor's
// offset as it sends): progress for a chunk this process never copies.
// fn runs on the watching goroutine, never after stop returns.
func (c *fileChunk) watch(off int64, period time.Duration, fn func(int64)) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(period)
		defer t.Stop()
		seen := off
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			pos, err := c.f.Seek(0, io.SeekCurrent)
			if err != nil {
				return // closed by the transport: the request is over
			}
			if pos = min(pos, c.end); pos > seen {
				fn(pos - seen)
				seen = pos
			}
		}
	}()
	return func() { close(done); <-exited }
}

// SyscallConn lets net/http's sendfile reach the descriptor.
func (c *fileChunk) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }
