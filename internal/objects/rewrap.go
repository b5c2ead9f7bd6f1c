package objects

import (
	"context"
	"io"
	"regexp"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Object is one stored artifact as key rotation sees it: which key
// encrypted it, read from its header without decrypting anything.
type Object struct {
	Ref  string
	Size int64 // stored (ciphertext) bytes
	// Encrypted is false for an object stored in the clear before
	// encryption at rest (or one that is not koya's at all).
	Encrypted bool
	KeyID     uint32 // when Encrypted
	Datalake  bool   // a datalake file's content, part or manifest
}

// Walk calls fn for every artifact and datalake object of project, in
// key order, reading the first 5 bytes of each: it costs one small read
// per object. An object deleted meanwhile is skipped; fn's error stops the
// walk and is returned.
//
// The state of an unfinished upload session is left out: it is rewritten
// with every chunk (a rewrap could put back an older state), and lives a
// day at most.
func (s *Store) Walk(ctx context.Context, project string, fn func(Object) error) error {
	if err := checkProject(project); err != nil {
		return err
	}
	if err := s.walk(ctx, project, ProjectPrefix(project)+"artifacts/", artifactName.MatchString, fn); err != nil {
		return err
	}
	return s.walk(ctx, project, DataPrefix(project), isRewrappableData, fn)
}

// dataName matches the datalake objects that a walk visits and a rewrap
// moves, all immutable once written: a file's content (32 hex digits), a
// manifest of parts (.parts) and an upload session's part
// (uploads/<id>/<offset>). Not a session's state (see Walk), and not the
// temporary file of a write that a crash cut (<name>.<n>.tmp, next to
// its object in a file:// bucket): it holds no whole object, and counted
// under its key it would keep that key from ever being disabled.
var dataName = regexp.MustCompile(`/datalake/([0-9a-f]{32}(\.parts)?|uploads/[0-9a-f]{32}/[0-9]{20})$`)

// isRewrappableData says whether a datalake key names content, a part or
// a manifest (see dataName).
func isRewrappableData(key string) bool { return dataName.MatchString(key) }

// listPage is how many objects a walk lists at a time.
const listPage = 1000

// listTries is how many times a walk reads a page that fails because a
// file went away while its directory was read: in a file:// bucket a
// rename (a rewrap moving an object, an upload's temporary file) fails
// the listing, which only needs reading again.
const listTries = 5

func (s *Store) walk(ctx context.Context, project, prefix string, keep func(string) bool, fn func(Object) error) error {
	opts := &blob.ListOptions{Prefix: prefix}
	token := blob.FirstPageToken
	for {
		var page []*blob.ListObject
		var next []byte
		var err error
		for try := 1; ; try++ {
			page, next, err = s.bucket.ListPage(ctx, token, listPage, opts)
			if err == nil || try == listTries || gcerrors.Code(err) != gcerrors.NotFound {
				break
			}
		}
		if err != nil {
			return s.wrap(err, "list the artifacts of project %s", project)
		}
		for _, lo := range page {
			if err := s.visit(ctx, project, lo, keep, fn); err != nil {
				return err
			}
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

// visit gives fn the object lo, unless keep refuses it or it went away.
func (s *Store) visit(ctx context.Context, project string, lo *blob.ListObject, keep func(string) bool, fn func(Object) error) error {
	if lo.IsDir || !keep(lo.Key) {
		return nil
	}
	o := Object{Ref: lo.Key, Size: lo.Size, Datalake: strings.HasPrefix(lo.Key, DataPrefix(project))}
	header, err := s.header(ctx, lo.Key)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if id, err := keys.KeyIDOf(header); err == nil {
		o.Encrypted, o.KeyID = true, id
	}
	return fn(o)
}

// header reads the first bytes of an object: the key id of a ciphertext.
func (s *Store) header(ctx context.Context, key string) ([]byte, error) {
	r, err := s.bucket.NewRangeReader(ctx, key, 0, 5, nil)
	if err != nil {
		return nil, s.wrap(err, "read artifact %s", key)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, s.wrap(err, "read artifact %s", key)
	}
	return b, nil
}

// Rewrap moves the artifact ref to the project's primary key unless it is
// already under key primary, and says whether it moved it. The new
// ciphertext replaces the old one atomically under the same ref (readers
// that opened the old one finish reading it); on failure the old one
// stays. An object stored in the clear is refused (errs.Forbidden): it
// cannot be encrypted under its old name.
func (s *Store) Rewrap(ctx context.Context, project, ref string, primary uint32) (bool, error) {
	if strings.HasPrefix(ref, DataPrefix(project)) {
		return s.rewrapData(ctx, project, ref, primary)
	}
	if err := checkRef(project, ref); err != nil {
		return false, err
	}
	header, err := s.header(ctx, ref)
	if err != nil {
		return false, err
	}
	id, err := keys.KeyIDOf(header)
	if err != nil || isPlainRef(ref) {
		return false, errs.E(errs.Forbidden, "artifact %s is not encrypted and cannot be moved to a key", ref)
	}
	if id == primary {
		return false, nil
	}
	rd, err := s.bucket.NewReader(ctx, ref, nil)
	if err != nil {
		return false, s.wrap(err, "read artifact %s", ref)
	}
	defer rd.Close()
	err = s.write(ctx, ref, func(w io.Writer) error {
		return s.keys.ReencryptStream(ctx, project, Kind, ref, w, rd)
	})
	if err != nil {
		return false, s.wrap(err, "re-encrypt artifact %s", ref)
	}
	return true, nil
}

// rewrapData is Rewrap for a datalake object: a manifest is one sealed
// message, content and parts are streams.
func (s *Store) rewrapData(ctx context.Context, project, key string, primary uint32) (bool, error) {
	if err := checkDataKey(project, key); err != nil || !isRewrappableData(key) {
		return false, errs.At(errs.Forbidden, "ref", "%q is not a datalake object of project %s that can move to another key", key, project)
	}
	header, err := s.header(ctx, key)
	if err != nil {
		return false, err
	}
	id, err := keys.KeyIDOf(header)
	if err != nil {
		return false, errs.E(errs.Forbidden, "datalake object %s is not encrypted and cannot be moved to a key", key)
	}
	if id == primary {
		return false, nil
	}
	if IsManifest(key) {
		sealed, err := s.bucket.ReadAll(ctx, key)
		if err != nil {
			return false, s.wrap(err, "read %s", key)
		}
		resealed, err := s.keys.Reencrypt(ctx, project, DataKind, key, sealed)
		if err != nil {
			return false, err
		}
		err = s.write(ctx, key, func(w io.Writer) error { _, err := w.Write(resealed); return err })
		return err == nil, s.wrapNil(err, "re-encrypt %s", key)
	}
	rd, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return false, s.wrap(err, "read datalake object %s", key)
	}
	defer rd.Close()
	err = s.write(ctx, key, func(w io.Writer) error {
		return s.keys.ReencryptStream(ctx, project, DataKind, key, w, rd)
	})
	return err == nil, s.wrapNil(err, "re-encrypt datalake object %s", key)
}

// wrapNil is wrap that keeps a nil error nil.
func (s *Store) wrapNil(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return s.wrap(err, format, args...)
}
