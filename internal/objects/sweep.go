package objects

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/koya-dev/koya/errs"
)

// leftoverName matches the temporary file of a write to a file:// bucket:
// gocloud's fileblob writes <object>.<nanoseconds in hex>.tmp next to the
// object and renames it at the end, so a crash leaves it behind.
var leftoverName = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// stagingName matches an artifact's staging object, which Put deletes
// once the artifact is under its own name (see put.go).
var stagingName = regexp.MustCompile(`^projects/[^/]+/tmp/[0-9a-f]{32}$`)

// SweepLeftovers deletes what writes cut by a crash left in a file://
// bucket, once it is older than age (no write in flight lasts that long):
// fileblob's temporary files and artifacts' staging objects, under
// projects/ only. Nothing else is touched, and other buckets are left to
// their own means (an S3 lifecycle rule drops incomplete multipart
// uploads). It returns how many files it deleted.
func (s *Store) SweepLeftovers(ctx context.Context, age time.Duration, now time.Time) (int, error) {
	if s.dir == "" {
		return 0, nil
	}
	before := now.Add(-age)
	deleted := 0
	root := filepath.Join(s.dir, "projects")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing stored yet, or deleted meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil {
			return err
		}
		if !leftoverName.MatchString(d.Name()) && !stagingName.MatchString(filepath.ToSlash(rel)) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed or deleted meanwhile: a write that went on
		}
		if err != nil {
			return err
		}
		if !info.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		deleted++
		return nil
	})
	if err != nil {
		return deleted, errs.Wrap(errs.Internal, err, "sweeping leftovers in %s: %v", s.url, err)
	}
	return deleted, nil
}
