package agent

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "a", "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a", "b", "f.txt"), []byte("deep"), 0o640))
	must(t, os.WriteFile(filepath.Join(src, "top"), []byte("top"), 0o755))
	must(t, os.Symlink("top", filepath.Join(src, "link")))
	var buf bytes.Buffer
	root, err := os.OpenRoot(src)
	must(t, err)
	defer root.Close()
	must(t, writeTar(&buf, root))
	dst := filepath.Join(t.TempDir(), "out")
	must(t, extractTar(&buf, dst))
	if b, _ := os.ReadFile(filepath.Join(dst, "a", "b", "f.txt")); string(b) != "deep" {
		t.Errorf("a/b/f.txt = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dst, "top")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("top: %v %v", st, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "top" {
		t.Errorf("link: %q %v", l, err)
	}
}

func TestExtractTarStaysInside(t *testing.T) {
	outside := t.TempDir()
	for name, entries := range map[string][]tar.Header{
		"dotdot":   {{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute": {{Name: filepath.Join(outside, "escape"), Typeflag: tar.TypeReg, Mode: 0o644}},
		"symlink": {
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "link/escape", Typeflag: tar.TypeReg, Mode: 0o644},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range entries {
				must(t, tw.WriteHeader(&h))
			}
			must(t, tw.Close())
			if err := extractTar(&buf, filepath.Join(t.TempDir(), "d")); err == nil {
				t.Errorf("extracted %s without error", name)
			}
			if _, err := os.Stat(filepath.Join(outside, "escape")); err == nil {
				t.Fatalf("%s wrote outside the directory", name)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// An output that is (or holds) a link out of the working directory is not
// read through it: the agent may be root, the command not.
func TestOutputsStayInTheWorkingDirectory(t *testing.T) {
	work, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	must(t, os.WriteFile(secret, []byte("root only"), 0o600))
	must(t, os.Symlink(secret, filepath.Join(work, "out.txt")))
	must(t, os.MkdirAll(filepath.Join(work, "dir"), 0o755))
	must(t, os.Symlink(outside, filepath.Join(work, "dirlink")))
	if _, err := statOutput(work, "out.txt"); err == nil {
		t.Error("stat followed a link out of the working directory")
	}
	if r, err := openOutput(work, "out.txt", false); err == nil {
		b, _ := io.ReadAll(r)
		r.Close()
		t.Errorf("read %q through a link out of the working directory", b)
	}
	if r, err := openOutput(work, "dirlink", true); err == nil {
		b, _ := io.ReadAll(r)
		r.Close()
		if bytes.Contains(b, []byte("root only")) {
			t.Error("a directory output read through a link out of the working directory")
		}
	}
}
