package keys

import (
	"context"
	"errors"
	"io"

	"github.com/koya-dev/koya/errs"
)

// NewEncryptingWriter returns a writer that encrypts what is written to it
// into w with the project's primary key, in 4 KiB segments, so an object of
// any size is never held in memory. Close must be called: it writes the
// final segment, without which the stream reads as truncated.
func (k *Keyring) NewEncryptingWriter(ctx context.Context, project, kind, objectID string, w io.Writer) (io.WriteCloser, error) {
	if err := checkNames(project, kind, objectID); err != nil {
		return nil, err
	}
	p, err := k.keysFor(ctx, project, true)
	if err != nil {
		return nil, err
	}
	header := keyPrefix(p.primary)
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	ew, err := p.streams[p.primary].NewEncryptingWriter(w, dataAD("stream", project, kind, objectID, string(header)))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: starting an encrypted stream")
	}
	return ew, nil
}

// NewDecryptingReader returns a reader of the plaintext of a stream written
// by NewEncryptingWriter for the same project, kind and object id. It reads
// the stream's header at once, so a stream under a disabled or unknown key
// fails here; tampering or truncation later fails the Read that meets it,
// with errs.Forbidden. Data is released to the caller segment by segment,
// each authenticated, but only io.EOF proves the stream complete.
func (k *Keyring) NewDecryptingReader(ctx context.Context, project, kind, objectID string, r io.Reader) (io.Reader, error) {
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
	src := &sourceReader{r: r}
	dr, err := p.streams[id].NewDecryptingReader(src, dataAD("stream", project, kind, objectID, string(header)))
	if err != nil {
		return nil, notAuthentic(project, kind, objectID, err)
	}
	return &authReader{r: dr, src: src, project: project, kind: kind, objectID: objectID}, nil
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

// Sizes of the streams NewEncryptingWriter writes (tink's
// AES256_GCM_HKDF_4KB after koya's prefix): a 40-byte header, then 4 KiB
// segments each ending in a 16-byte tag, the first one shortened by the
// header. A stream never ends with an empty segment, except an empty one.
const (
	streamHeader  = prefixLen + 40
	streamSegment = 4096
	streamTag     = 16
	firstSegment  = streamSegment - streamHeader + prefixLen // ciphertext of the first segment
)

// PlaintextSize is the length of the plaintext of a stream of n bytes made
// by NewEncryptingWriter, so that a server can announce a length before
// decrypting. It does not authenticate: a stream of a valid length may
// still fail to decrypt. A length no stream has is errs.Forbidden.
func PlaintextSize(n int64) (int64, error) {
	m := n - streamHeader
	bad := errs.E(errs.Forbidden, "%d bytes is not the length of an encrypted stream", n)
	switch {
	case m < streamTag:
		return 0, bad
	case m <= firstSegment:
		return m - streamTag, nil
	}
	rest := m - firstSegment
	full, part := rest/streamSegment, rest%streamSegment
	size := firstSegment - streamTag + full*(streamSegment-streamTag)
	if part > 0 {
		if part <= streamTag {
			return 0, bad
		}
		size += part - streamTag
	}
	return size, nil
}
