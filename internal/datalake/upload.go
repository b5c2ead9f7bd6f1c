package datalake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
)

// An upload session stores a file in chunks (tus-like). Its state is a
// small encrypted JSON in the object store,
// projects/<p>/datalake/uploads/<id>.json; a chunk is stored as encrypted
// part objects of at most PartSize bytes,
// projects/<p>/datalake/uploads/<id>/<offset>, and the state keeps the
// running SHA-256 (crypto/sha256's state, marshalled) so that completing
// reads nothing back: it writes a manifest of the parts (the file's Ref)
// and the file's row. A chunk must start at the session's offset (else
// errs.Conflict, whose message carries the offset). A client may send
// the whole file as one chunk: if it is cut, the whole parts before the
// cut stay, and the client resends from the session's offset.
//
// One server process serialises the chunks of a session; with several
// replicas, route a session's requests to one of them.

const uploadsDir = "uploads/"

// Session is the state of an upload session.
type Session struct {
	ID     string `json:"id"`
	Upload `json:"upload"`
	Total  int64  `json:"total"` // -1: not known in advance
	Offset int64  `json:"offset"`
	Hash   []byte `json:"hash"` // sha256 state after Offset bytes
	// CRC32C is the CRC-32C after Offset bytes; nil in a session begun
	// before koya kept it, whose file then has none.
	CRC32C  *uint32        `json:"crc32c,omitempty"`
	Parts   []objects.Part `json:"parts"`
	Expires time.Time      `json:"expires"`
	// Manifest is set while completing: the manifest written for the file.
	Manifest string `json:"manifest,omitempty"`
}

// crc is the session's CRC32C as files keep it ("" if it has none).
func (s Session) crc() string {
	if s.CRC32C == nil {
		return ""
	}
	return objects.CRC32C(*s.CRC32C).String()
}

func sessionKey(project, id string) string {
	return objects.DataPrefix(project) + uploadsDir + id + ".json"
}

func checkSessionID(id string) error {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return errs.At(errs.NotFound, "upload", "no upload session %q", id)
	}
	return nil
}

// CreateUpload starts an upload session for u; total is the file's size
// if known (else -1). It also sweeps the project's expired sessions.
func (l *Lake) CreateUpload(ctx context.Context, u Upload, total int64) (Session, error) {
	if err := u.check(); err != nil {
		return Session{}, err
	}
	if total < -1 {
		return Session{}, errs.At(errs.Invalid, "total", "a size cannot be negative")
	}
	if _, err := l.store.GetChannel(ctx, u.Project, u.Channel); err != nil {
		return Session{}, channelErr(err, u.Project, u.Channel)
	}
	if err := l.Sweep(ctx, u.Project); err != nil {
		return Session{}, err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return Session{}, errs.Wrap(errs.Internal, err, "hash state")
	}
	s := Session{ID: hex.EncodeToString(b), Upload: u, Total: total, Hash: h, CRC32C: new(uint32), Parts: []objects.Part{}, Expires: l.clock().Add(l.ttl)}
	return s, l.save(ctx, s)
}

func (l *Lake) save(ctx context.Context, s Session) error {
	return l.objects.PutDataJSON(ctx, s.Project, sessionKey(s.Project, s.ID), s)
}

// GetUpload returns a live session.
func (l *Lake) GetUpload(ctx context.Context, project, id string) (Session, error) {
	if err := checkSessionID(id); err != nil {
		return Session{}, err
	}
	var s Session
	err := l.objects.GetDataJSON(ctx, project, sessionKey(project, id), &s)
	if errs.Is(err, errs.NotFound) || (err == nil && !l.clock().Before(s.Expires)) {
		return Session{}, errs.At(errs.NotFound, "upload", "no upload session %s in project %s (it completed, was aborted or expired)", id, project)
	}
	return s, err
}

// lock marks a session as being written; a second writer is refused.
func (l *Lake) lock(id string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writing[id] {
		return nil, errs.At(errs.Conflict, "upload", "another request is writing to upload session %s; retry once it ends", id)
	}
	l.writing[id] = true
	return func() {
		l.mu.Lock()
		delete(l.writing, id)
		l.mu.Unlock()
	}, nil
}

// MaxParts is the most parts one upload session takes (S3's multipart
// limit too): a session's state lists its parts and is written again
// with every part, so a file of many small parts would cost writes
// growing with the square of its size. A chunk makes one part, or
// several of partSize when larger; a client that sends small chunks sizes
// them to the file (client.ChunkSizeFor).
const MaxParts = 10000

// OffsetConflict is the message prefix of a chunk at the wrong offset.
const OffsetConflict = "upload offset is "

// PartSize is the most bytes one part object of an upload session holds:
// a chunk larger than that (a client may send the whole file as one) is
// stored as several parts, each made durable and counted in the session
// while the next is read (and before the one after it), so that a
// connection cut in the middle of a large chunk loses at most the parts
// being written. Large enough that a part's fsync and the session's
// rewrite are rare, small enough that a resumed upload resends little.
const PartSize = 64 << 20

// partSize is the part size of session s: PartSize, or for a file too
// large for MaxParts of them, its size over MaxParts (whole MiBs).
func (l *Lake) partSize(s Session) int64 {
	size := l.partBytes
	if s.Total > size*int64(l.maxParts) {
		per := (s.Total + int64(l.maxParts) - 1) / int64(l.maxParts)
		size = (per + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return size
}

// WriteChunk stores r as the chunk of session id starting at offset, in
// parts of at most partSize bytes, and returns the session after it.
// Offset must be the session's: else errs.Conflict "upload offset is N".
// A read error of r keeps the whole parts stored before it (the session's
// offset says how far it got: the client resends from there) and is
// returned as is.
func (l *Lake) WriteChunk(ctx context.Context, project, id string, offset int64, r io.Reader) (Session, error) {
	unlock, err := l.lock(id)
	if err != nil {
		return Session{}, err
	}
	defer unlock()
	s, err := l.GetUpload(ctx, project, id)
	if err != nil {
		return s, err
	}
	if offset != s.Offset {
		return s, errs.At(errs.Conflict, "offset", "%s%d, not %d", OffsetConflict, s.Offset, offset)
	}
	if s.Manifest != "" {
		return s, errs.At(errs.Conflict, "upload", "upload session %s is completing", id)
	}
	if s.Total >= 0 {
		r = &limitErr{r: r, left: s.Total - s.Offset, total: s.Total}
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.Hash); err != nil {
		return s, errs.Wrap(errs.Internal, err, "hash state of upload %s", id)
	}
	size := l.partSize(s)
	// Each part is made durable and counted in the session on a goroutine
	// while the next one is read: its fsync no longer stops the upload.
	saver := &partSaver{l: l, saved: s}
	for {
		if len(s.Parts) >= l.maxParts {
			if err := saver.wait(); err != nil {
				return saver.saved, err
			}
			if more, err := hasMore(&r); err != nil || !more {
				return s, err
			}
			return s, errs.At(errs.Invalid, "chunk", "upload session %s has %d parts, the most one may have (%d bytes so far): upload the file again, announcing its size",
				id, len(s.Parts), s.Offset)
		}
		part, next, err := l.stagePart(ctx, s, io.LimitReader(r, size), h)
		if err != nil || part == nil {
			// The parts before stay: the client resends from the
			// session's offset.
			if werr := saver.wait(); werr != nil {
				return saver.saved, werr
			}
			return saver.saved, err
		}
		if err := saver.save(ctx, part, next); err != nil {
			return saver.saved, err
		}
		s = next
		if part.N < size {
			err := saver.wait()
			return saver.saved, err
		}
	}
}

// stagePart writes what r holds as the next part of session s, not yet
// stored (nil for an empty r), and returns the session that counts it;
// h is the running hash, fed r's bytes, as is the session's CRC. On error
// nothing is staged (h has seen some bytes: the caller stops).
func (l *Lake) stagePart(ctx context.Context, s Session, r io.Reader, h hash.Hash) (*objects.StagedPart, Session, error) {
	key := objects.DataPrefix(s.Project) + uploadsDir + s.ID + "/" + fmt.Sprintf("%020d", s.Offset)
	var sums io.Writer = h
	var crc objects.CRC32C
	if s.CRC32C != nil {
		crc = objects.CRC32C(*s.CRC32C)
		sums = io.MultiWriter(h, &crc)
	}
	// Not cancelled with the request: a part read whole is kept even if
	// the client goes while the next one is read.
	part, err := l.objects.StageDataPart(context.WithoutCancel(ctx), s.Project, key, r, sums)
	if err != nil {
		return nil, s, err
	}
	if part.N == 0 {
		part.Abandon()
		return nil, s, nil
	}
	next := s
	if next.Hash, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		part.Abandon()
		return nil, s, errs.Wrap(errs.Internal, err, "hash state of upload %s", s.ID)
	}
	if s.CRC32C != nil {
		next.CRC32C = new(uint32(crc))
	}
	next.Parts = append(slices.Clip(s.Parts), objects.Part{Key: key, Size: part.N})
	next.Offset += part.N
	next.Expires = l.clock().Add(l.ttl)
	return part, next, nil
}

// stagedPart is a part written and not yet stored (objects.StagedPart).
type stagedPart interface {
	Commit() error
	Abandon()
}

// partSaver stores an upload's staged parts and saves the session after
// each, one part at a time, on a goroutine of its own.
type partSaver struct {
	l     *Lake
	saved Session    // the session as last saved
	busy  chan error // the part being stored, if any
	next  Session    // saved once busy succeeds
}

// save waits for the part before (if it failed, part is abandoned and its
// error returned), then stores part and saves next on a goroutine.
func (p *partSaver) save(ctx context.Context, part stagedPart, next Session) error {
	if err := p.wait(); err != nil {
		part.Abandon()
		return err
	}
	p.next, p.busy = next, make(chan error, 1)
	ctx = context.WithoutCancel(ctx) // see stagePart
	go func() {
		err := part.Commit()
		if err == nil {
			if err = p.l.save(ctx, next); err != nil {
				_ = p.l.objects.DeleteData(ctx, next.Project, next.Parts[len(next.Parts)-1].Key)
			}
		}
		p.busy <- err
	}()
	return nil
}

// wait waits for the part being stored, if any, and returns its error.
func (p *partSaver) wait() error {
	if p.busy == nil {
		return nil
	}
	err := <-p.busy
	p.busy = nil
	if err == nil {
		p.saved = p.next
	}
	return err
}

// hasMore reads one byte of *r to tell whether it holds more, and puts
// the byte back in front of it.
func hasMore(r *io.Reader) (bool, error) {
	var one [1]byte
	n, err := io.ReadFull(*r, one[:])
	if n == 1 {
		*r = io.MultiReader(bytes.NewReader(one[:]), *r)
		return true, nil
	}
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	return false, err
}

// limitErr fails a read beyond the announced total.
type limitErr struct {
	r           io.Reader
	left, total int64
}

func (l *limitErr) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errs.At(errs.TooLarge, "body", "the upload is larger than the %d bytes announced", l.total)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// CompleteUpload turns a session's parts into its file and ends the
// session. With a total announced, every byte must be in. crc, if set, is
// the CRC-32C the client computed of the whole file: if the parts' is
// another, the session is dropped (its bytes changed on the way) and the
// file must be sent again. If the row cannot be written the session
// stays, so that completing can be retried.
func (l *Lake) CompleteUpload(ctx context.Context, project, id, crc string) (store.File, *store.File, error) {
	crc, err := CheckCRC32C(crc)
	if err != nil {
		return store.File{}, nil, err
	}
	unlock, err := l.lock(id)
	if err != nil {
		return store.File{}, nil, err
	}
	defer unlock()
	s, err := l.GetUpload(ctx, project, id)
	if err != nil {
		return store.File{}, nil, err
	}
	if s.Total >= 0 && s.Offset != s.Total {
		return store.File{}, nil, errs.At(errs.Conflict, "offset", "%s%d of %d: send the rest before completing", OffsetConflict, s.Offset, s.Total)
	}
	if got := s.crc(); crc != "" && got != "" && got != crc {
		_ = l.drop(context.WithoutCancel(ctx), s)
		return store.File{}, nil, crcMismatch(s.Path, got, crc)
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.Hash); err != nil {
		return store.File{}, nil, errs.Wrap(errs.Internal, err, "hash state of upload %s", id)
	}
	m := objects.Manifest{Parts: s.Parts, Size: s.Offset, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}
	ref, err := l.objects.PutDataManifest(ctx, project, m)
	if err != nil {
		return store.File{}, nil, err
	}
	s.Manifest = ref
	if err := l.save(ctx, s); err != nil {
		_ = l.objects.DeleteDataObject(context.WithoutCancel(ctx), project, ref) // the manifest only: keep the parts
		return store.File{}, nil, err
	}
	f, prev, err := l.store.PutFile(ctx, store.File{
		Project: project, Channel: s.Channel, Path: s.Path, ContentType: s.ContentType,
		Size: m.Size, Digest: m.Digest, CRC32C: s.crc(), Ref: ref, Meta: s.Meta,
	})
	if err != nil {
		// Keep the parts for a retry; drop only the manifest.
		bg := context.WithoutCancel(ctx)
		_ = l.objects.DeleteDataObject(bg, project, ref)
		s.Manifest = ""
		_ = l.save(bg, s)
		return store.File{}, nil, channelErr(err, project, s.Channel)
	}
	bg := context.WithoutCancel(ctx)
	if prev != nil && prev.Ref != "" && prev.Ref != f.Ref {
		_ = l.objects.DeleteData(bg, project, prev.Ref)
	}
	_ = l.objects.DeleteDataObject(bg, project, sessionKey(project, id))
	return f, prev, nil
}

// AbortUpload ends a session and deletes its parts.
func (l *Lake) AbortUpload(ctx context.Context, project, id string) error {
	unlock, err := l.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := l.GetUpload(ctx, project, id)
	if err != nil {
		return err
	}
	return l.drop(ctx, s)
}

// drop deletes a session and its parts, unless a file uses them.
func (l *Lake) drop(ctx context.Context, s Session) error {
	if s.Manifest != "" {
		if f, err := l.store.GetFile(ctx, s.Project, s.Channel, s.Path); err == nil && f.Ref == s.Manifest {
			return l.objects.DeleteDataObject(ctx, s.Project, sessionKey(s.Project, s.ID)) // completed: keep its parts
		}
		_ = l.objects.DeleteDataObject(ctx, s.Project, s.Manifest)
	}
	parts, err := l.objects.ListData(ctx, s.Project, uploadsDir+s.ID+"/")
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := l.objects.DeleteDataObject(ctx, s.Project, p.Key); err != nil {
			return err
		}
	}
	return l.objects.DeleteDataObject(ctx, s.Project, sessionKey(s.Project, s.ID))
}

// Sweep deletes the project's expired upload sessions and their parts.
func (l *Lake) Sweep(ctx context.Context, project string) error {
	entries, err := l.objects.ListData(ctx, project, uploadsDir)
	if err != nil {
		return err
	}
	prefix := objects.DataPrefix(project) + uploadsDir
	for _, e := range entries {
		id, ok := strings.CutSuffix(strings.TrimPrefix(e.Key, prefix), ".json")
		if !ok || checkSessionID(id) != nil {
			continue
		}
		var s Session
		if err := l.objects.GetDataJSON(ctx, project, e.Key, &s); err != nil {
			continue // being replaced, or not ours: leave it
		}
		if l.clock().Before(s.Expires) {
			continue
		}
		l.mu.Lock()
		busy := l.writing[id]
		l.mu.Unlock()
		if busy {
			continue
		}
		if err := l.drop(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
