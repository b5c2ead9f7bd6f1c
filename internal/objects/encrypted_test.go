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
	"runtime"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// TestStoredCiphertextOnly: the bucket holds neither the plaintext nor its
// bare SHA-256, and the same content is one object per project but
// differently named in each project.
func TestStoredCiphertextOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, "file://"+dir)
	ctx := context.Background()
	secret := []byte("the quarterly churn numbers are 4.2%")
	a, err := s.Put(ctx, "alpha", bytes.NewReader(secret))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Put(ctx, "alpha", bytes.NewReader(secret))
	if err != nil || again.Ref != a.Ref {
		t.Fatalf("same content again: %s vs %s (%v)", again.Ref, a.Ref, err)
	}
	b, err := s.Put(ctx, "beta", bytes.NewReader(secret))
	if err != nil {
		t.Fatal(err)
	}
	if path := strings.TrimPrefix(b.Ref, "projects/beta/"); path == strings.TrimPrefix(a.Ref, "projects/alpha/") {
		t.Fatal("two projects name the same content alike: a name links them")
	}
	sum := sha256.Sum256(secret)
	files := 0
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		body, _ := os.ReadFile(p)
		for _, leak := range [][]byte{secret, []byte("churn"), sum[:], []byte(hex.EncodeToString(sum[:]))} {
			if bytes.Contains(body, leak) || strings.Contains(p, string(leak)) {
				t.Errorf("%s holds %q", p, leak)
			}
		}
		return nil
	})
	if files == 0 {
		t.Fatal("nothing stored")
	}
	if a.Digest != "sha256:"+hex.EncodeToString(sum[:]) || a.Size != int64(len(secret)) {
		t.Fatalf("output %+v: want the plaintext's digest and size", a)
	}
}

// TestMovedCiphertextRefused: an object's bytes copied under another ref
// of the project, or under another project, do not decrypt.
func TestMovedCiphertextRefused(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		x, err := s.Put(ctx, "alpha", strings.NewReader("x content"))
		if err != nil {
			t.Fatal(err)
		}
		y, err := s.Put(ctx, "alpha", strings.NewReader("y content"))
		if err != nil {
			t.Fatal(err)
		}
		ct, err := s.bucket.ReadAll(ctx, x.Ref)
		if err != nil {
			t.Fatal(err)
		}
		other := strings.Replace(x.Ref, "projects/alpha/", "projects/beta/", 1)
		for _, dst := range []string{y.Ref, other} {
			if err := s.bucket.WriteAll(ctx, dst, ct, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Open itself fails (the first segment is authenticated there), so
		// that a server never answers 200 for them.
		if _, err := s.Open(ctx, "alpha", y.Ref); !errs.Is(err, errs.Forbidden) {
			t.Errorf("x's bytes read as y: %v, want forbidden", err)
		}
		if _, err := s.Open(ctx, "beta", other); !errs.Is(err, errs.Forbidden) {
			t.Errorf("alpha's bytes read as beta's: %v, want forbidden", err)
		}
		if got, err := readAll(s, "alpha", x.Ref); err != nil || got != "x content" {
			t.Errorf("x itself: %q %v", got, err)
		}
	})
}

// TestPlainObjectRefused: an object stored in the clear (by koya before
// encryption at rest, or by anyone with bucket access) is refused with a
// clear error, never served as if it were the artifact.
func TestPlainObjectRefused(t *testing.T) {
	s := open(t, "mem://")
	ctx := context.Background()
	sum := sha256.Sum256([]byte("old plaintext"))
	legacy := "projects/p/artifacts/sha256/" + hex.EncodeToString(sum[:])
	planted := "projects/p/artifacts/hmac-sha256/" + hex.EncodeToString(sum[:])
	for _, ref := range []string{legacy, planted} {
		if err := s.bucket.WriteAll(ctx, ref, []byte("old plaintext"), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Open(ctx, "p", legacy)
	if !errs.Is(err, errs.Forbidden) || !strings.Contains(err.Error(), "unencrypted") {
		t.Errorf("legacy plaintext: %v, want forbidden and why", err)
	}
	if _, err := s.Open(ctx, "p", planted); !errs.Is(err, errs.Forbidden) {
		t.Errorf("planted plaintext: %v, want forbidden", err)
	}
	var seen []Object
	if err := s.Walk(ctx, "p", func(o Object) error { seen = append(seen, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Encrypted || seen[1].Encrypted {
		t.Errorf("walk: %+v, want two unencrypted objects", seen)
	}
}

// TestWalkRewrap: after a rotation, Walk sees artifacts under the old key,
// Rewrap moves them to the new one under the same ref, and the old key can
// then be disabled without losing anything.
func TestWalkRewrap(t *testing.T) {
	kr := newKeyring(t)
	s, err := Open(context.Background(), "file://"+t.TempDir(), kr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var outs []string
	for _, c := range []string{"one", strings.Repeat("two", 5000)} {
		o, err := s.Put(ctx, "p", strings.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o.Ref)
	}
	old := keyIDs(t, s)[outs[0]]
	primary, err := kr.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range outs {
		moved, err := s.Rewrap(ctx, "p", ref, primary)
		if err != nil || !moved {
			t.Fatalf("rewrap %s: %v %v", ref, moved, err)
		}
		if moved, err := s.Rewrap(ctx, "p", ref, primary); err != nil || moved {
			t.Fatalf("rewrap again %s: %v %v, want nothing to do", ref, moved, err)
		}
	}
	for ref, id := range keyIDs(t, s) {
		if id != primary {
			t.Errorf("%s under key %d after the rewrap, want %d", ref, id, primary)
		}
	}
	if err := kr.Disable(ctx, "p", old); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(s, "p", outs[1]); err != nil || got != strings.Repeat("two", 5000) {
		t.Fatalf("read after the rewrap: %d bytes, %v", len(got), err)
	}
}

// TestDisabledKeyRefused: an artifact left under a disabled key fails
// loudly and is counted.
func TestDisabledKeyRefused(t *testing.T) {
	kr := newKeyring(t)
	s, err := Open(context.Background(), "mem://", kr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	o, err := s.Put(ctx, "p", strings.NewReader("left behind"))
	if err != nil {
		t.Fatal(err)
	}
	old := keyIDs(t, s)[o.Ref]
	if _, err := kr.Rotate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := kr.Disable(ctx, "p", old); err != nil {
		t.Fatal(err)
	}
	before := kr.DisabledKeyFailures()
	_, err = s.Open(ctx, "p", o.Ref)
	if !errs.Is(err, errs.Forbidden) || !errors.Is(err, keys.ErrKeyDisabled) {
		t.Fatalf("read under a disabled key: %v", err)
	}
	if kr.DisabledKeyFailures() != before+1 {
		t.Fatal("the failure was not counted")
	}
}

// TestPutMemoryFlat: 64 MiB go in and out through a file bucket while the
// heap stays within a few MiB.
func TestPutMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB artifact")
	}
	const size = 64 << 20
	s := open(t, "file://"+t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, "p", strings.NewReader("warm up")); err != nil { // keys exist before measuring
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	src := &sampling{r: io.LimitReader(&pattern{}, size), every: 4 << 20, sample: sample}
	out, err := s.Put(ctx, "p", src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, "p", out.Ref)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != size {
		t.Fatalf("size %d, want %d", r.Size(), size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, &sampling{r: r, every: 4 << 20, sample: sample}); err != nil {
		t.Fatal(err)
	}
	sample()
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != out.Digest {
		t.Fatalf("read back %s, want %s", got, out.Digest)
	}
	if grew := int64(peak) - int64(base); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB storing 64 MiB; something buffers the artifact", grew>>20)
	}
	t.Logf("heap in use grew by at most %d KiB", (int64(peak)-int64(base))>>10)
}

// sampling calls sample every so many bytes read.
type sampling struct {
	r      io.Reader
	n      int64
	every  int64
	sample func()
}

func (s *sampling) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.n/s.every != (s.n+int64(n))/s.every {
		s.sample()
	}
	s.n += int64(n)
	return n, err
}

// pattern generates bytes without end and without memory.
type pattern struct{ i uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for j := range b {
		b[j] = byte(p.i*2654435761>>13) ^ byte(p.i>>12)
		p.i++
	}
	return len(b), nil
}

func readAll(s *Store, project, ref string) (string, error) {
	r, err := s.Open(context.Background(), project, ref)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func keyIDs(t *testing.T, s *Store) map[string]uint32 {
	t.Helper()
	ids := map[string]uint32{}
	err := s.Walk(context.Background(), "p", func(o Object) error {
		if !o.Encrypted {
			t.Errorf("%s is not encrypted", o.Ref)
		}
		ids[o.Ref] = o.KeyID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
