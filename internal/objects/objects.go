// Package objects is koya's artifact store: content-addressed, project-scoped
// objects over gocloud.dev/blob, so that the same code stores artifacts in a
// local directory (file://), in memory (mem://, for tests) or in any
// S3-compatible service (s3://bucket?endpoint=...&region=...).
//
// Every artifact lives under its project's prefix,
// projects/<project>/artifacts/sha256/<hex>, and a reader names the project
// it reads for: a ref outside that prefix is refused, so one project's
// credentials never open another's artifacts.
package objects

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/koya-dev/koya/errs"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/memblob"  // mem:// URLs
	_ "gocloud.dev/blob/s3blob"   // s3:// URLs
	"gocloud.dev/gcerrors"
)

// Store holds artifacts in one bucket.
type Store struct {
	bucket *blob.Bucket
	url    string // without credentials, for messages
}

// Open opens the bucket at rawURL. A file:// directory is created if it is
// missing (readable by this user only), and temporary files are written
// next to their final place (so that renames never cross file systems).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, errs.E(errs.Invalid, "objects URL %q: want file:///abs/dir, mem:// or s3://bucket?region=...", rawURL)
	}
	if u.Scheme == "file" {
		q := u.Query()
		for k, v := range map[string]string{"create_dir": "1", "no_tmp_dir": "1", "dir_file_mode": "0700"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "objects URL %s cannot be opened: %v", redact(u), err)
	}
	return &Store{bucket: b, url: redact(u)}, nil
}

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// String names the store without credentials.
func (s *Store) String() string { return s.url }

// redact drops user info and query values that could hold secrets.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

// ProjectPrefix is where a project's objects live.
func ProjectPrefix(project string) string { return "projects/" + project + "/" }

// artifactKey is the content-addressed key of an artifact.
func artifactKey(project, hexDigest string) string {
	return ProjectPrefix(project) + "artifacts/sha256/" + hexDigest
}

// checkProject refuses names that would escape the project prefix.
func checkProject(project string) error {
	if project == "" || project == "." || project == ".." || strings.ContainsAny(project, "/\\\x00") {
		return errs.At(errs.Invalid, "project", "%q is not a valid project name", project)
	}
	return nil
}

// checkRef verifies that ref is an artifact key of project.
func checkRef(project, ref string) error {
	if err := checkProject(project); err != nil {
		return err
	}
	prefix := ProjectPrefix(project) + "artifacts/"
	if !strings.HasPrefix(ref, prefix) || path.Clean(ref) != ref || strings.Contains(ref, "\\") {
		return errs.At(errs.Forbidden, "ref", "ref %q is not an artifact of project %s", ref, project)
	}
	return nil
}

// Reader is an open artifact.
type Reader struct {
	r *blob.Reader
}

func (r *Reader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *Reader) Close() error               { return r.r.Close() }

// Size is the artifact's length in bytes.
func (r *Reader) Size() int64 { return r.r.Size() }

// Open opens the artifact ref of project for reading. A ref outside the
// project's prefix is errs.Forbidden; a missing one errs.NotFound.
func (s *Store) Open(ctx context.Context, project, ref string) (*Reader, error) {
	if err := checkRef(project, ref); err != nil {
		return nil, err
	}
	r, err := s.bucket.NewReader(ctx, ref, nil)
	if err != nil {
		return nil, s.wrap(err, "open artifact %s", ref)
	}
	return &Reader{r: r}, nil
}

// wrap maps gocloud's error codes onto koya's vocabulary.
func (s *Store) wrap(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, "%s: interrupted", msg)
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return errs.Wrap(errs.NotFound, err, "%s: no such artifact", msg)
	case gcerrors.PermissionDenied:
		return errs.Wrap(errs.Unavailable, err, "%s: the object store refused access", msg)
	case gcerrors.ResourceExhausted, gcerrors.DeadlineExceeded, gcerrors.Canceled:
		return errs.Wrap(errs.Unavailable, err, "%s: the object store is unavailable", msg)
	}
	return errs.Wrap(errs.Internal, err, "%s", msg)
}
