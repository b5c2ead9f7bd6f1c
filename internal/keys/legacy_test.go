package keys_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// fixedKEK is a KEK with a constant key, so that a keyset wrapped by one
// test run (a fixture in testdata) unwraps in another. Tests only.
type fixedKEK struct{ aead cipher.AEAD }

func newFixedKEK(t *testing.T) *fixedKEK {
	t.Helper()
	b, err := aes.NewCipher(bytes.Repeat([]byte{0x4b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &fixedKEK{aead: a}
}

func (k *fixedKEK) Name() string { return "fixed:test" }

func (k *fixedKEK) Encrypt(_ context.Context, pt, ad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, pt, ad), nil
}

func (k *fixedKEK) Decrypt(_ context.Context, ct, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(ct) < n {
		return nil, errs.E(errs.Forbidden, "fixed KEK: too short")
	}
	pt, err := k.aead.Open(nil, ct[:n], ct[n:], ad)
	if err != nil {
		return nil, errs.Wrap(errs.Forbidden, err, "fixed KEK: not authentic")
	}
	return pt, nil
}

// legacyFixture is what koya wrote before streaming keys had 1 MiB
// segments: project p's keysets (one key, AES256_GCM_HKDF_4KB) wrapped by
// fixedKEK, a stream of pattern(legacyStreamSize) (kind artifact, object
// legacy) and an AEAD value (kind secret, object s, plaintext "legacy").
type legacyFixture struct {
	Wrapped []byte `json:"wrapped"`
	Stream  []byte `json:"stream"`
	Sealed  []byte `json:"sealed"`
}

const (
	legacyFile       = "testdata/keyset-4k.json"
	legacyStreamSize = 10000 // three 4 KiB segments
)

// TestWriteLegacyFixture wrote the fixture (KOYA_WRITE_FIXTURE=1) with
// the koya of 2026-11-23, before keys had 1 MiB segments; run again, it
// makes keys of 4 KiB segments as that koya did.
func TestWriteLegacyFixture(t *testing.T) {
	if os.Getenv("KOYA_WRITE_FIXTURE") == "" {
		t.Skip("set KOYA_WRITE_FIXTURE=1 to rewrite " + legacyFile)
	}
	store := &keys.MemStore{}
	r := keys.NewKeyring(newFixedKEK(t), store, keys.Options{StreamSegment: keys.Segment4KiB})
	f := legacyFixture{
		Stream: encryptStream(t, r, "p", "artifact", "legacy", pattern(legacyStreamSize)),
		Sealed: encrypt(t, r, "p", "secret", "s", []byte("legacy")),
	}
	st, err := store.GetKeyset(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	f.Wrapped = st.Wrapped
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(legacyFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(legacyFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadLegacy returns a keyring holding the fixture's keysets, and the fixture.
func loadLegacy(t *testing.T, opts keys.Options) (*keys.Keyring, *keys.MemStore, legacyFixture) {
	t.Helper()
	b, err := os.ReadFile(legacyFile)
	if err != nil {
		t.Fatal(err)
	}
	var f legacyFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	store := &keys.MemStore{}
	if err := store.PutKeyset(ctx, "p", keys.Stored{KEK: "fixed:test", Wrapped: f.Wrapped}, 0); err != nil {
		t.Fatal(err)
	}
	return keys.NewKeyring(newFixedKEK(t), store, opts), store, f
}

// streamLen is the length of a stream of n plaintext bytes in segments of
// seg bytes: koya's prefix, tink's header and a tag per segment.
func streamLen(n, seg int) int {
	first, next := seg-40-16, seg-16
	segs := 1
	if n > first {
		segs += (n - first + next - 1) / next
	}
	return 5 + 40 + n + 16*segs
}

// sizeOf is a stream's PlaintextSize, as a server announces it.
func sizeOf(t *testing.T, r *keys.Keyring, project, kind, obj string, ct []byte) int64 {
	t.Helper()
	dr, err := r.NewDecryptingReader(ctx, project, kind, obj, bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	n, err := dr.PlaintextSize(int64(len(ct)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLegacyKeyset: keysets and data koya wrote with 4 KiB-segment keys
// read as before; the old key keeps writing 4 KiB segments while primary;
// a rotation makes a 1 MiB-segment key, and the old data moves to it.
func TestLegacyKeyset(t *testing.T) {
	r, store, f := loadLegacy(t, keys.Options{})
	pt := pattern(legacyStreamSize)
	if len(f.Stream) != streamLen(legacyStreamSize, keys.Segment4KiB) {
		t.Fatalf("the fixture's stream is %d bytes: not 4 KiB segments", len(f.Stream))
	}
	mustDecryptStream(t, r, "p", "artifact", "legacy", f.Stream, pt)
	if n := sizeOf(t, r, "p", "artifact", "legacy", f.Stream); n != legacyStreamSize {
		t.Fatalf("PlaintextSize of the old stream = %d, want %d", n, legacyStreamSize)
	}
	mustDecrypt(t, r, "p", "secret", "s", f.Sealed, []byte("legacy"))
	old := keyID(t, f.Stream)

	// The old key, still primary, writes streams of its own segments.
	ct := encryptStream(t, r, "p", "artifact", "again", pt)
	if keyID(t, ct) != old || len(ct) != streamLen(len(pt), keys.Segment4KiB) {
		t.Fatalf("a stream under the old key is %d bytes of key %d", len(ct), keyID(t, ct))
	}

	id, err := r.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	ct = encryptStream(t, r, "p", "artifact", "new", pt)
	if keyID(t, ct) != id || len(ct) != streamLen(len(pt), keys.Segment1MiB) {
		t.Fatalf("a stream after rotation is %d bytes of key %d, want 1 MiB segments of key %d", len(ct), keyID(t, ct), id)
	}
	mustDecryptStream(t, r, "p", "artifact", "new", ct, pt)
	mustDecryptStream(t, r, "p", "artifact", "legacy", f.Stream, pt)

	var moved bytes.Buffer
	if err := r.ReencryptStream(ctx, "p", "artifact", "legacy", &moved, bytes.NewReader(f.Stream)); err != nil {
		t.Fatal(err)
	}
	if keyID(t, moved.Bytes()) != id || moved.Len() != streamLen(len(pt), keys.Segment1MiB) {
		t.Fatalf("the moved stream is %d bytes of key %d", moved.Len(), keyID(t, moved.Bytes()))
	}
	if err := r.Disable(ctx, "p", old); err != nil {
		t.Fatal(err)
	}
	_, err = decryptStream(r, "p", "artifact", "legacy", f.Stream)
	wantDisabled(t, err, old, "old stream after disabling its key")

	// Another server over the same store reads what this one wrote.
	other := keys.NewKeyring(newFixedKEK(t), store, keys.Options{})
	mustDecryptStream(t, other, "p", "artifact", "legacy", moved.Bytes(), pt)
	if n := sizeOf(t, other, "p", "artifact", "legacy", moved.Bytes()); n != legacyStreamSize {
		t.Fatalf("PlaintextSize of the moved stream = %d", n)
	}
}

// TestRotateAcrossSegments: keys of both segment sizes live in one keyset,
// each stream read with its own key's; keyrings of either setting read
// every stream, and rotate to their own size.
func TestRotateAcrossSegments(t *testing.T) {
	kek, store := newKEK(t), &keys.MemStore{}
	small := keys.NewKeyring(kek, store, keys.Options{StreamSegment: keys.Segment4KiB})
	big := keys.NewKeyring(kek, store, keys.Options{})
	pt := pattern(3*keys.Segment1MiB + 7)
	var cts [][]byte
	for i, step := range []struct {
		r   *keys.Keyring
		seg int
	}{{small, keys.Segment4KiB}, {big, keys.Segment1MiB}, {small, keys.Segment4KiB}} {
		if i > 0 {
			if _, err := step.r.Rotate(ctx, "p"); err != nil {
				t.Fatal(err)
			}
		}
		ct := encryptStream(t, step.r, "p", "datalake", "f", pt)
		if len(ct) != streamLen(len(pt), step.seg) {
			t.Fatalf("stream %d: %d bytes, want segments of %d", i, len(ct), step.seg)
		}
		cts = append(cts, ct)
	}
	for _, r := range []*keys.Keyring{small, big} {
		for i, ct := range cts {
			mustDecryptStream(t, r, "p", "datalake", "f", ct, pt)
			if n := sizeOf(t, r, "p", "datalake", "f", ct); n != int64(len(pt)) {
				t.Fatalf("stream %d: PlaintextSize %d, want %d", i, n, len(pt))
			}
		}
	}
	if ks := listKeys(t, big, "p"); len(ks) != 3 {
		t.Fatalf("%d keys, want 3", len(ks))
	}
}
