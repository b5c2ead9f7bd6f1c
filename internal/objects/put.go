package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/writebehind"
	"gocloud.dev/blob"
)

// MaxValueSize is the largest artifact whose JSON content is kept as
// Output.Value (usable in foreach and when expressions).
const MaxValueSize = 1 << 20

// Put streams r into the project's store and returns the artifact's
// address. The bytes are encrypted to a temporary key while their SHA-256 is
// computed; then, unless that content is already stored, they are
// decrypted from there and encrypted again under the final key,
// projects/<project>/artifacts/hmac-sha256/<MAC of the SHA-256> (the final
// key is bound into the ciphertext, and is known only once the last byte is
// in). The temporary key is removed. Nothing holds a whole artifact in
// memory, and a reader never sees a partly written artifact under its
// final key.
//
// A read error from r (including http.MaxBytesError) is returned as is,
// wrapped in nothing, so that callers can tell a client's fault.
func (s *Store) Put(ctx context.Context, project string, r io.Reader) (v1.Output, error) {
	if err := checkProject(project); err != nil {
		return v1.Output{}, err
	}
	tmp := ProjectPrefix(project) + "tmp/" + randomName()
	h := sha256.New()
	head := &capBuffer{max: MaxValueSize + 1}
	src := &readErrs{r: r}
	var n int64
	err := s.write(ctx, tmp, func(w io.Writer) error {
		ew, err := s.keys.NewEncryptingWriter(ctx, project, Kind, tmp, w)
		if err != nil {
			return err
		}
		if n, err = io.Copy(io.MultiWriter(ew, h, head), src); err != nil {
			return err
		}
		return ew.Close()
	})
	// In case the driver kept a part, or once the final key is written.
	defer func() { _ = s.bucket.Delete(context.WithoutCancel(ctx), tmp) }()
	if src.err != nil {
		return v1.Output{}, src.err
	}
	if err != nil {
		return v1.Output{}, s.wrap(err, "write artifact")
	}

	sum := h.Sum(nil)
	mac, err := s.keys.MAC(ctx, project, Kind, sum)
	if err != nil {
		return v1.Output{}, err
	}
	key := artifactKey(project, hex.EncodeToString(mac))
	exists, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return v1.Output{}, s.wrap(err, "check artifact %s", key)
	}
	if !exists {
		if err := s.reseal(ctx, project, tmp, key); err != nil {
			return v1.Output{}, s.wrap(err, "store artifact %s", key)
		}
	}
	out := v1.Output{Ref: key, Digest: "sha256:" + hex.EncodeToString(sum), Size: n}
	if n <= MaxValueSize && json.Valid(head.Bytes()) {
		out.Value = json.RawMessage(bytes.TrimSpace(head.Bytes()))
	}
	return out, nil
}

// reseal streams the object at from to the key to, decrypting it as from
// and encrypting it as to.
func (s *Store) reseal(ctx context.Context, project, from, to string) error {
	rd, err := s.bucket.NewReader(ctx, from, nil)
	if err != nil {
		return err
	}
	defer rd.Close()
	dr, err := s.keys.NewDecryptingReader(ctx, project, Kind, from, rd)
	if err != nil {
		return err
	}
	return s.write(ctx, to, func(w io.Writer) error {
		ew, err := s.keys.NewEncryptingWriter(ctx, project, Kind, to, w)
		if err != nil {
			return err
		}
		if _, err := io.Copy(ew, dr); err != nil {
			return err
		}
		return ew.Close()
	})
}

// write stores what fill writes under key, or nothing if fill fails: the
// write is then abandoned (gocloud's contract: cancelling its context
// before Close), so a reader never sees a partial object. Errors are
// returned unwrapped.
func (s *Store) write(ctx context.Context, key string, fill func(w io.Writer) error) error {
	return s.writeObject(ctx, key, false, fill)
}

func (s *Store) writeObject(ctx context.Context, key string, durable bool, fill func(w io.Writer) error) error {
	st, err := s.stageObject(ctx, key, durable, fill)
	if err != nil {
		return err
	}
	return st.commit()
}

// staged is an object written but not yet stored under its key: commit
// stores it (on disk first, when durable), abandon drops it. Exactly one
// of them is called, once.
type staged struct {
	w      *blob.Writer
	file   *os.File // a file:// bucket's temporary file, when durable
	cancel context.CancelFunc
}

// stageObject writes what fill writes for key and stops short of storing
// it, so that making it durable (an fsync: 35-50 ms per 64 MiB part on
// the benchmark VM) can overlap what comes next. If fill fails the write is
// abandoned (gocloud's contract: cancelling its context before Close), so
// a reader never sees a partial object. Errors are returned unwrapped.
//
// Durable: in a file:// bucket the committed object is on disk (its data
// and its name, fsynced), for what a client is told is stored and acts
// on, an upload session's chunks. Other objects are only in the page
// cache until the kernel writes them back, like the SQLite database's
// last transactions; an S3-compatible store makes its own promise.
func (s *Store) stageObject(ctx context.Context, key string, durable bool, fill func(w io.Writer) error) (*staged, error) {
	wctx, cancel := context.WithCancel(ctx)
	st := &staged{cancel: cancel}
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
		BeforeWrite: func(as func(any) bool) error {
			if durable && !as(&st.file) {
				st.file = nil
			}
			return nil
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	st.w = w
	// No buffer: the encrypting writers write a segment (or 256 KiB of
	// small ones) at a time, and JSON goes in one write. A durable file
	// is written straight into its file, past gocloud's writer (which
	// would only pass the bytes on; Close renames it), its write-back
	// started as it goes so that commit's fsync finds little left.
	//
	// Through the page cache, not past it (O_DIRECT, as before): a
	// direct write waits for the disk, and on the benchmark VM the
	// disk held the next part's writes back while a part was fsynced
	// (64 MiB parts took 113 ms instead of 85); writes into the page
	// cache go on meanwhile (bench/RESULTS.md, Datalake I/O, eighth
	// session).
	var to io.Writer = w
	if st.file != nil {
		to = &behindFile{f: st.file, behind: writebehind.New(st.file)}
	}
	err = fill(&pieceWriter{w: to})
	if err != nil {
		st.abandon()
		return nil, err
	}
	return st, nil
}

// commit stores the object under its key: fsynced, named, and its name
// fsynced, when durable.
func (st *staged) commit() error {
	defer st.cancel()
	if st.file != nil {
		if err := st.file.Sync(); err != nil {
			st.abandon()
			return err
		}
	}
	if err := st.w.Close(); err != nil {
		return err
	}
	if st.file != nil {
		// The rename that made the object: the temporary file is next
		// to it, so its directory is the object's.
		if err := syncDir(filepath.Dir(st.file.Name())); err != nil {
			return err
		}
		durableWrites.Add(1)
	}
	return nil
}

// abandon drops the object: nothing is stored under its key.
func (st *staged) abandon() {
	st.cancel()
	_ = st.w.Close()
}

// durableWrites counts the durable objects committed (tests).
var durableWrites atomic.Int64

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// behindFile writes a file sequentially, starting the write-back of what
// it wrote as it goes.
type behindFile struct {
	f      *os.File
	behind *writebehind.Starter
}

func (b *behindFile) Write(p []byte) (int, error) {
	n, err := b.f.Write(p)
	b.behind.Wrote(n)
	return n, err
}

// maxPiece bounds the writes a bucket sees. A file written a MiB per
// system call gets 1 MiB folios in the page cache, taken from the
// high-order free blocks that a VM's balloon (free page reporting) has
// handed back to the host: on the benchmark VM writing 1 GiB so took
// 0.4-0.9 s against 0.25 s in writes of 512 KiB or less.
const maxPiece = 512 << 10

// pieceWriter cuts writes into pieces of at most maxPiece bytes.
type pieceWriter struct{ w io.Writer }

func (p *pieceWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		piece := b[:min(len(b), maxPiece)]
		k, err := p.w.Write(piece)
		n += k
		if err == nil && k < len(piece) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
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
