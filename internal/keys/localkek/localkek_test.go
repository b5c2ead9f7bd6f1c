package localkek_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/kektest"
	"github.com/koya-dev/koya/internal/keys/localkek"
)

func open(t *testing.T, path string) *localkek.KEK {
	t.Helper()
	k, err := localkek.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestConformance(t *testing.T) {
	kektest.Run(t, func(t *testing.T) keys.KEK {
		return open(t, filepath.Join(t.TempDir(), "kek"))
	})
}

func TestCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", ".koya")
	path := filepath.Join(dir, "kek")
	open(t, path)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file: mode %04o size %d, want 0600 and 32", fi.Mode().Perm(), fi.Size())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key directory: mode %04o, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}
}

func TestRefusesReadableFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "kek")
		open(t, path)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := localkek.Open(path)
		if err == nil {
			t.Fatalf("mode %04o: Open succeeded", mode)
		}
		msg := err.Error()
		if !errs.Is(err, errs.Invalid) || !strings.Contains(msg, path) || !strings.Contains(msg, fmtMode(mode)) {
			t.Errorf("mode %04o: error %q (code %s) should be invalid and name the path and the mode", mode, msg, errs.CodeOf(err))
		}
	}
}

// fmtMode spells a mode as chmod takes it: 0644.
func fmtMode(m os.FileMode) string { return fmt.Sprintf("%04o", uint32(m.Perm())) }

func TestRefusesWrongSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := localkek.Open(path)
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "9 bytes") {
		t.Fatalf("Open of a 9-byte file: %v, want an invalid error giving the size", err)
	}
}

func TestRefusesDirectory(t *testing.T) {
	path := t.TempDir()
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := localkek.Open(path); !errs.Is(err, errs.Invalid) {
		t.Fatalf("Open of a directory: %v, want invalid", err)
	}
}

// TestReopen: the key survives a restart, so wrapped keysets stay readable.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek")
	ct, err := open(t, path).Encrypt(ctx, []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := open(t, path).Decrypt(ctx, ct, []byte("ad"))
	if err != nil || !bytes.Equal(pt, []byte("keyset")) {
		t.Fatalf("after reopening: %q, %v", pt, err)
	}
}

// TestConcurrentFirstUse: servers starting together must agree on one key.
func TestConcurrentFirstUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek")
	const n = 8
	kek := make([]*localkek.KEK, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := localkek.Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			kek[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ct, err := kek[0].Encrypt(ctx, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range kek {
		if _, err := k.Decrypt(ctx, ct, nil); err != nil {
			t.Errorf("instance %d has another key: %v", i, err)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("KOYA_KEK_FILE", "/etc/koya/kek")
	if p, err := localkek.DefaultPath(); err != nil || p != "/etc/koya/kek" {
		t.Errorf("with KOYA_KEK_FILE: %q, %v", p, err)
	}
	t.Setenv("KOYA_KEK_FILE", "")
	t.Setenv("HOME", "/home/op")
	if p, err := localkek.DefaultPath(); err != nil || p != "/home/op/.koya/kek" {
		t.Errorf("without KOYA_KEK_FILE: %q, %v", p, err)
	}
}
