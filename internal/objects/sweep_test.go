package objects

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSweepLeftovers: a day-old temporary file of a cut write and a
// day-old staging object go; a fresh temporary file (a write in flight),
// the objects themselves and files that are not koya's stay.
func TestSweepLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := open(t, "file://"+dir)
	ctx := context.Background()
	art, err := s.Put(ctx, "p", strings.NewReader("an artifact"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.PutData(ctx, "p", strings.NewReader("a file"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-25 * time.Hour)
	write := func(key string, mtime time.Time) string { return writeAt(t, dir, key, []byte("partial"), mtime) }
	gone := []string{
		write(data.Ref+".187a3c0f1e2d4b5a.tmp", old),
		write(ProjectPrefix("p")+"tmp/"+strings.Repeat("c", 32), old),
		write(ProjectPrefix("p")+"tmp/"+strings.Repeat("c", 32)+".187a3c0f1e2d4b5b.tmp", old),
	}
	kept := []string{
		write(data.Ref+".187a3c0f1e2d4b5c.tmp", now),   // a write in flight
		write(ProjectPrefix("p")+"notes.txt", old),     // not koya's
		write("elsewhere/x.187a3c0f1e2d4b5a.tmp", old), // not under projects/
		filepath.Join(dir, filepath.FromSlash(art.Ref)),
		filepath.Join(dir, filepath.FromSlash(data.Ref)),
	}
	n, err := s.SweepLeftovers(ctx, 24*time.Hour, now)
	if err != nil || n != len(gone) {
		t.Fatalf("swept %d, %v; want %d", n, err, len(gone))
	}
	for _, p := range gone {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s went: %v", p, err)
		}
	}
	if got, err := readAll(s, "p", art.Ref); err != nil || got != "an artifact" {
		t.Fatalf("the artifact after the sweep: %q, %v", got, err)
	}

	if n, err := open(t, "mem://").SweepLeftovers(ctx, time.Hour, now); n != 0 || err != nil {
		t.Fatalf("a mem:// bucket: %d, %v", n, err)
	}
	if n, err := open(t, "file://"+t.TempDir()).SweepLeftovers(ctx, time.Hour, now); n != 0 || err != nil {
		t.Fatalf("an empty bucket: %d, %v", n, err)
	}
}

// writeAt writes b as the file of key in the file:// bucket at dir, as a
// crash would have left it, modified at mtime, and returns its path.
func writeAt(t *testing.T, dir, key string, b []byte, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}
