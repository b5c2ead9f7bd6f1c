package keys

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/koya-dev/koya/errs"
)

// NewEncryptingWriter returns a writer that encrypts what is written to it
// into w with the project's primary key, segment by segment (1 MiB for
// keys made now, 4 KiB for older ones), so an object of any size is never
// held in memory. Close must be called: it writes the final segment,
// without which the stream reads as truncated. w sees a write per segment
// (per 256 KiB for keys of small segments): it needs no buffer in front.
func (k *Keyring) NewEncryptingWriter(ctx context.Context, project, kind, objectID string, w io.Writer) (io.WriteCloser, error) {
	if err := checkNames(project, kind, objectID); err != nil {
		return nil, err
	}
	p, err := k.keysFor(ctx, project, true)
	if err != nil {
		return nil, err
	}
	var bw *bufio.Writer
	if p.layouts[p.primary].segment < smallSegment {
		bw = bufio.NewWriterSize(w, 256<<10)
		w = bw
	}
	header := keyPrefix(p.primary)
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	ew, err := p.streams[p.primary].NewEncryptingWriter(w, dataAD("stream", project, kind, objectID, string(header)))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: starting an encrypted stream")
	}
	return &encWriter{WriteCloser: ew, buf: bw}, nil
}

// encWriter flushes the buffer of a stream of small segments on Close.
type encWriter struct {
	io.WriteCloser
	buf *bufio.Writer // nil: none
}

func (e *encWriter) Close() error {
	if err := e.WriteCloser.Close(); err != nil {
		return err
	}
	if e.buf != nil {
		return e.buf.Flush()
	}
	return nil
}

// StreamReader reads the plaintext of a stream: see NewDecryptingReader.
type StreamReader struct {
	authReader
	layout streamLayout
}

// PlaintextSize is the length of the plaintext of this stream if the
// whole stream, header included, is n bytes: so that a server can announce
// a length before decrypting. It reads the segment size of the stream's
// key. It does not authenticate: a stream of a valid length may still fail
// to decrypt. A length no stream of this key has is errs.Forbidden.
func (r *StreamReader) PlaintextSize(n int64) (int64, error) { return r.layout.plaintextSize(n) }

// NewDecryptingReader returns a reader of the plaintext of a stream written
// by NewEncryptingWriter for the same project, kind and object id. It reads
// the stream's header at once, so a stream under a disabled or unknown key
// fails here; tampering or truncation later fails the Read that meets it,
// with errs.Forbidden. Data is released to the caller segment by segment,
// each authenticated, but only io.EOF proves the stream complete. r is
// read a segment at a time (at least 256 KiB at a time for keys of small
// segments): it needs no buffer in front.
func (k *Keyring) NewDecryptingReader(ctx context.Context, project, kind, objectID string, r io.Reader) (*StreamReader, error) {
	if err := checkNames(project, kind, objectID); err != nil {
		return nil, err
	}
	header := make([]byte, prefixLen)
	if _, err := io.ReadFull(r, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, notAuthentic(project, kind, objectID, err)
		}
		return nil, err
	}
	id, err := KeyIDOf(header)
	if err != nil {
		return nil, notAuthentic(project, kind, objectID, err)
	}
	p, err := k.keysForRead(ctx, project, id)
	if err != nil {
		return nil, err
	}
	layout := p.layouts[id]
	if layout.segment < smallSegment {
		r = bufio.NewReaderSize(r, 256<<10)
	}
	src := &sourceReader{r: r}
	dr, err := p.streams[id].NewDecryptingReader(src, dataAD("stream", project, kind, objectID, string(header)))
	if err != nil {
		return nil, notAuthentic(project, kind, objectID, err)
	}
	return &StreamReader{authReader: authReader{r: dr, src: src, project: project, kind: kind, objectID: objectID}, layout: layout}, nil
}

// ReencryptStream copies the stream src to dst under the project's primary
// key. On error dst holds an incomplete stream and must be discarded; it is
// not finished, so it cannot be mistaken for a complete one.
func (k *Keyring) ReencryptStream(ctx context.Context, project, kind, objectID string, dst io.Writer, src io.Reader) error {
	r, err := k.NewDecryptingReader(ctx, project, kind, objectID, src)
	if err != nil {
		return err
	}
	w, err := k.NewEncryptingWriter(ctx, project, kind, objectID, dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Close()
}

// sourceReader remembers the last error of the ciphertext source, so that a
// failure to read (a network error) is not reported as tampering.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// authReader gives tink's decryption errors an errs code.
type authReader struct {
	r                       io.Reader
	src                     *sourceReader
	project, kind, objectID string
}

func (a *authReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if a.src.err != nil {
		return n, a.src.err
	}
	return n, notAuthentic(a.project, a.kind, a.objectID, err)
}
