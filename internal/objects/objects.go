// Package objects is koya's artifact store: content-addressed, project-scoped,
// encrypted objects over gocloud.dev/blob, so that the same code stores
// artifacts in a local directory (file://), in memory (mem://, for tests) or
// in any S3-compatible service (s3://bucket?endpoint=...&region=...).
//
// Every artifact lives under its project's prefix, and a reader names the
// project it reads for: a ref outside that prefix is refused, so one
// project's credentials never open another's artifacts.
//
// # Encryption at rest
//
// The bucket holds ciphertext only. Put encrypts as it streams, with the
// project's streaming key (package keys, kind "artifact", object id the
// ref), and Open decrypts as it streams: no artifact is ever held whole in
// memory. A ciphertext copied to another ref or another project's prefix
// does not decrypt (errs.Forbidden).
//
// An artifact is named projects/<project>/artifacts/hmac-sha256/<hex>,
// where <hex> is the project's keyed MAC (keys.Keyring.MAC) of the
// plaintext's SHA-256: equal content within a project is stored once, but
// a name does not let anyone with access to the bucket confirm a guess at
// the content, as a bare SHA-256 would. Output.Digest still reports the
// plaintext's SHA-256 to users, who can check what they download.
//
// Objects named artifacts/sha256/<hex> were stored in the clear by koya
// before encryption at rest; Open refuses them with a clear error rather
// than serve unauthenticated bytes.
package objects

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/memblob"  // mem:// URLs
	_ "gocloud.dev/blob/s3blob"   // s3:// URLs
	"gocloud.dev/gcerrors"
)

// Kind is the kind artifacts are encrypted as (see package keys).
const Kind = "artifact"

// Store holds artifacts in one bucket.
type Store struct {
	bucket *blob.Bucket
	keys   *keys.Keyring
	url    string // without credentials, for messages
	dir    string // a file:// bucket's directory, else ""
}

// Open opens the bucket at rawURL, whose artifacts kr encrypts. A file://
// directory is created if it is missing (readable by this user only), and
// temporary files are written next to their final place (so that renames
// never cross file systems).
func Open(ctx context.Context, rawURL string, kr *keys.Keyring) (*Store, error) {
	if kr == nil {
		return nil, errs.E(errs.Invalid, "the object store needs a keyring: artifacts are encrypted at rest")
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, errs.E(errs.Invalid, "objects URL %q: want file:///abs/dir, mem:// or s3://bucket?region=...", rawURL)
	}
	if u.Scheme == "file" {
		q := u.Query()
		// metadata=skip: no .attrs sidecar per object, whose MD5 of every
		// byte cost a third of an upload's CPU; koya reads no blob
		// attributes (sizes come from the files themselves).
		for k, v := range map[string]string{"create_dir": "1", "no_tmp_dir": "1", "dir_file_mode": "0700", "metadata": "skip"} {
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
	st := &Store{bucket: b, keys: kr, url: redact(u)}
	if u.Scheme == "file" {
		st.dir = filepath.FromSlash(u.Path)
	}
	return st, nil
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

// artifactKey is the content-addressed key of an artifact, named by the
// hex of the project's MAC of its SHA-256.
func artifactKey(project, hexMAC string) string {
	return ProjectPrefix(project) + "artifacts/hmac-sha256/" + hexMAC
}

// artifactName matches the last part of an artifact key: encrypted
// (hmac-sha256) or stored in the clear before encryption at rest (sha256).
// Anything else under artifacts/ (a driver's temporary file) is not one.
var artifactName = regexp.MustCompile(`/artifacts/(hmac-sha256|sha256)/[0-9a-f]{64}$`)

// isPlainRef says whether ref names an artifact stored before encryption
// at rest.
func isPlainRef(ref string) bool { return strings.Contains(ref, "/artifacts/sha256/") }

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

// Reader is an open artifact: it reads plaintext, decrypting as it goes.
// Data comes segment by segment, each authenticated, but only io.EOF proves
// the artifact complete: a Read error means what came before must be
// discarded.
type Reader struct {
	blob *blob.Reader
	r    io.Reader
	size int64
}

func (r *Reader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *Reader) Close() error               { return r.blob.Close() }

// Size is the artifact's plaintext length in bytes.
func (r *Reader) Size() int64 { return r.size }

// Open opens the artifact ref of project for reading. A ref outside the
// project's prefix is errs.Forbidden; a missing one errs.NotFound; one that
// is not this project's ciphertext for ref, or under a disabled key,
// errs.Forbidden.
func (s *Store) Open(ctx context.Context, project, ref string) (*Reader, error) {
	if err := checkRef(project, ref); err != nil {
		return nil, err
	}
	br, err := s.bucket.NewReader(ctx, ref, nil)
	if err != nil {
		return nil, s.wrap(err, "open artifact %s", ref)
	}
	r, size, err := s.decrypting(ctx, project, ref, br)
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &Reader{blob: br, r: r, size: size}, nil
}

// decrypting reads the header of br itself, to tell an object stored in
// the clear from a damaged or foreign one.
func (s *Store) decrypting(ctx context.Context, project, ref string, br *blob.Reader) (io.Reader, int64, error) {
	header := make([]byte, 5)
	_, err := io.ReadFull(br, header)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, s.wrap(err, "read artifact %s", ref)
	}
	if _, idErr := keys.KeyIDOf(header); err != nil || idErr != nil {
		if isPlainRef(ref) {
			return nil, 0, errs.E(errs.Forbidden, "artifact %s was stored unencrypted, before koya encrypted artifacts at rest, and is not served; run the step that made it again", ref)
		}
		return nil, 0, errs.E(errs.Forbidden, "artifact %s is not an encrypted artifact of project %s", ref, project)
	}
	r, err := s.keys.NewDecryptingReader(ctx, project, Kind, ref, io.MultiReader(bytes.NewReader(header), br))
	if errs.Is(err, errs.NotFound) { // the project has no keys: not its data
		return nil, 0, errs.Wrap(errs.Forbidden, err, "artifact %s is not an encrypted artifact of project %s", ref, project)
	}
	if err != nil {
		return nil, 0, err
	}
	size, err := r.PlaintextSize(br.Size())
	if err != nil {
		return nil, 0, errs.Wrap(errs.Forbidden, err, "artifact %s is damaged (%d bytes is no encrypted length)", ref, br.Size())
	}
	// Authenticate the first segment now, so that a ciphertext moved from
	// another ref or project fails here, before a caller answers 200.
	plain := bufio.NewReaderSize(r, 4096)
	if _, err := plain.Peek(1); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, s.wrap(err, "read artifact %s", ref)
	}
	return plain, size, nil
}

// wrap maps gocloud's error codes onto koya's vocabulary; errors that have
// a code already (from the keyring) keep it.
func (s *Store) wrap(err error, format string, args ...any) error {
	if _, ok := errors.AsType[*errs.Error](err); ok {
		return err
	}
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
