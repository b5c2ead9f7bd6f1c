package client

import (
	"context"
	"io"
	"time"

	"github.com/koya-dev/koya/errs"
)

// ResumableOptions configure PutFileResumable.
type ResumableOptions struct {
	PutOptions
	ChunkSize int64 // default 16 MiB
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
}

// DefaultChunkSize is the chunk size of PutFileResumable.
const DefaultChunkSize = 16 << 20

// PutFileResumable uploads size bytes of src as the file path of channel
// in chunks, through an upload session: a chunk that fails is sent again
// from the offset the server reports, and a later call with o.Resume
// continues where an earlier one stopped.
func (c *Client) PutFileResumable(ctx context.Context, project, channel, path string, src io.ReaderAt, size int64, o ResumableOptions) (DataFile, error) {
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
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
	report := func(n int64) {
		if o.Progress != nil && n != 0 {
			o.Progress(n)
		}
	}
	off := s.Offset
	report(off)
	wait := 200 * time.Millisecond
	for tries := 0; off < size; {
		n := min(o.ChunkSize, size-off)
		var sent int64
		body := progressReader(io.NewSectionReader(src, off, n), func(k int64) { sent += k; report(k) })
		got, err := c.WriteChunk(ctx, project, s.ID, off, body)
		if err == nil {
			report(got.Offset - off - sent) // normally 0
			off, tries, wait = got.Offset, 0, 200*time.Millisecond
			continue
		}
		report(-sent)
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
	return c.CompleteUpload(ctx, project, s.ID)
}
