package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"

	v1 "github.com/koya-dev/koya/api/v1"
	"gocloud.dev/blob"
)

// MaxValueSize is the largest artifact whose JSON content is kept as
// Output.Value (usable in foreach and when expressions).
const MaxValueSize = 1 << 20

// Put streams r into the project's store and returns the artifact's
// content address. The bytes go to a temporary key while their SHA-256 is
// computed, then are copied to projects/<project>/artifacts/sha256/<hex>
// (skipped when that content is already stored) and the temporary key
// removed: nothing holds a whole artifact in memory, and a reader never
// sees a partly written artifact under its final key.
//
// A read error from r (including http.MaxBytesError) is returned as is,
// wrapped in nothing, so that callers can tell a client's fault.
func (s *Store) Put(ctx context.Context, project string, r io.Reader) (v1.Output, error) {
	if err := checkProject(project); err != nil {
		return v1.Output{}, err
	}
	tmp := ProjectPrefix(project) + "tmp/" + randomName()
	// Cancelling wctx before Close abandons the write (gocloud's contract).
	wctx, abandon := context.WithCancel(ctx)
	defer abandon()
	w, err := s.bucket.NewWriter(wctx, tmp, &blob.WriterOptions{
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return v1.Output{}, s.wrap(err, "write artifact")
	}
	h := sha256.New()
	head := &capBuffer{max: MaxValueSize + 1}
	src := &readErrs{r: r}
	n, copyErr := io.Copy(io.MultiWriter(w, h, head), src)
	if copyErr != nil {
		abandon()
		_ = w.Close()
		_ = s.bucket.Delete(context.WithoutCancel(ctx), tmp) // in case the driver kept a part
		if src.err != nil {
			return v1.Output{}, src.err
		}
		return v1.Output{}, s.wrap(copyErr, "write artifact")
	}
	if err := w.Close(); err != nil {
		_ = s.bucket.Delete(context.WithoutCancel(ctx), tmp)
		return v1.Output{}, s.wrap(err, "write artifact")
	}
	defer func() { _ = s.bucket.Delete(context.WithoutCancel(ctx), tmp) }()

	sum := hex.EncodeToString(h.Sum(nil))
	key := artifactKey(project, sum)
	exists, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return v1.Output{}, s.wrap(err, "check artifact %s", key)
	}
	if !exists {
		if err := s.bucket.Copy(ctx, key, tmp, nil); err != nil {
			return v1.Output{}, s.wrap(err, "store artifact %s", key)
		}
	}
	out := v1.Output{Ref: key, Digest: "sha256:" + sum, Size: n}
	if n <= MaxValueSize && json.Valid(head.Bytes()) {
		out.Value = json.RawMessage(bytes.TrimSpace(head.Bytes()))
	}
	return out, nil
}

// randomName names a temporary object uniquely.
func randomName() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// capBuffer keeps the first max bytes written to it and drops the rest,
// so that a small artifact can be parsed as JSON without buffering a big one.
type capBuffer struct {
	bytes.Buffer
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// readErrs remembers the reader's own error, to tell it from the store's.
type readErrs struct {
	r   io.Reader
	err error
}

func (r *readErrs) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
