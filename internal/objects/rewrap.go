package objects

import (
	"context"
	"errors"
	"io"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"gocloud.dev/blob"
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
}

// Walk calls fn for every artifact of project, in key order, reading the
// first 5 bytes of each: it costs one small read per artifact. An artifact
// deleted meanwhile is skipped; fn's error stops the walk and is returned.
func (s *Store) Walk(ctx context.Context, project string, fn func(Object) error) error {
	if err := checkProject(project); err != nil {
		return err
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: ProjectPrefix(project) + "artifacts/"})
	for {
		lo, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.wrap(err, "list the artifacts of project %s", project)
		}
		if lo.IsDir || !artifactName.MatchString(lo.Key) {
			continue
		}
		o := Object{Ref: lo.Key, Size: lo.Size}
		header, err := s.header(ctx, lo.Key)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if id, err := keys.KeyIDOf(header); err == nil {
			o.Encrypted, o.KeyID = true, id
		}
		if err := fn(o); err != nil {
			return err
		}
	}
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
