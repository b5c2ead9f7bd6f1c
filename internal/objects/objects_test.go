package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
)

// each runs f against every driver that needs no network.
func each(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "objects") // missing: Open creates it
		f(t, open(t, "file://"+dir))
	})
	t.Run("mem", func(t *testing.T) {
		f(t, open(t, "mem://"))
	})
}

// open opens a store with a fresh keyring.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, newKeyring(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newKeyring(t *testing.T) *keys.Keyring {
	t.Helper()
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	return keys.NewKeyring(kek, &keys.MemStore{}, keys.Options{})
}

func TestPutOpenRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		data := bytes.Repeat([]byte("koya artifact\n"), 200_000) // ~2.8 MB: no Value
		out, err := s.Put(ctx, "churn", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		if out.Digest != "sha256:"+hexSum || out.Size != int64(len(data)) {
			t.Fatalf("digest/size = %s/%d", out.Digest, out.Size)
		}
		if !strings.HasPrefix(out.Ref, "projects/churn/artifacts/hmac-sha256/") || strings.Contains(out.Ref, hexSum) {
			t.Fatalf("ref = %s: want a keyed name, not the bare digest", out.Ref)
		}
		if out.Value != nil {
			t.Fatalf("a big non-JSON artifact got a value")
		}
		r, err := s.Open(ctx, "churn", out.Ref)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Size() != int64(len(data)) {
			t.Fatalf("reader size %d", r.Size())
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, err %v", len(got), err)
		}
		// The same content again is the same artifact.
		again, err := s.Put(ctx, "churn", bytes.NewReader(data))
		if err != nil || again.Ref != out.Ref {
			t.Fatalf("second put: %+v %v", again, err)
		}
	})
}

func TestJSONValue(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		out, err := s.Put(ctx, "p", strings.NewReader(`  {"auc": 0.91, "grid": [1, 2]}`+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out.Value) != `{"auc": 0.91, "grid": [1, 2]}` {
			t.Fatalf("value = %q", out.Value)
		}
		out, err = s.Put(ctx, "p", strings.NewReader("not json"))
		if err != nil || out.Value != nil {
			t.Fatalf("non-JSON: value %q err %v", out.Value, err)
		}
		// Valid JSON just over the limit keeps no value.
		big := `"` + strings.Repeat("x", MaxValueSize) + `"`
		out, err = s.Put(ctx, "p", strings.NewReader(big))
		if err != nil || out.Value != nil || out.Size != int64(len(big)) {
			t.Fatalf("big JSON: value %d bytes, size %d, err %v", len(out.Value), out.Size, err)
		}
	})
}

func TestOpenRefusesOtherProjects(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		out, err := s.Put(ctx, "alpha", strings.NewReader("secret"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{
			out.Ref, // alpha's artifact read as beta
			"projects/beta/artifacts/../../alpha/artifacts/sha256/x",
			"projects/beta/tmp/x",
			"/projects/beta/artifacts/x",
			"other",
		} {
			if _, err := s.Open(ctx, "beta", ref); !errs.Is(err, errs.Forbidden) {
				t.Errorf("Open(beta, %q) = %v, want forbidden", ref, err)
			}
		}
		if _, err := s.Open(ctx, "beta", "projects/beta/artifacts/sha256/0000"); !errs.Is(err, errs.NotFound) {
			t.Errorf("missing artifact: %v, want not_found", err)
		}
		if _, err := s.Put(ctx, "../x", strings.NewReader("")); !errs.Is(err, errs.Invalid) {
			t.Errorf("bad project: %v, want invalid", err)
		}
	})
}

// A reader that fails midway leaves no artifact and no temporary object.
func TestPutReadErrorLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, "file://"+dir)
	boom := errors.New("client went away")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	if _, err := s.Put(context.Background(), "p", r); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the reader's", err)
	}
	var files []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("left behind: %v", files)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"", "nope", "gopher://x"} {
		if _, err := Open(context.Background(), u, newKeyring(t)); !errs.Is(err, errs.Invalid) {
			t.Errorf("Open(%q) = %v, want invalid", u, err)
		}
	}
}

func TestOpenNeedsKeyring(t *testing.T) {
	if _, err := Open(context.Background(), "mem://", nil); !errs.Is(err, errs.Invalid) {
		t.Fatalf("Open without a keyring = %v, want invalid", err)
	}
}

// TestDataObjectsDurable: a datalake object in a file:// bucket is fsynced
// (its file and directory) before PutData returns; in memory there is
// nothing to sync.
func TestDataObjectsDurable(t *testing.T) {
	for _, tc := range []struct {
		url   func(t *testing.T) string
		syncs int64
	}{
		{func(t *testing.T) string { return "file://" + filepath.Join(t.TempDir(), "objects") }, 1},
		{func(t *testing.T) string { return "mem://" }, 0},
	} {
		s := open(t, tc.url(t))
		before := durableWrites.Load()
		if _, err := s.PutData(context.Background(), "p", strings.NewReader("chunk")); err != nil {
			t.Fatal(err)
		}
		if got := durableWrites.Load() - before; got != tc.syncs {
			t.Fatalf("%s: %d objects synced, want %d", tc.url(t), got, tc.syncs)
		}
	}
}
