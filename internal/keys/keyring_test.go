package keys_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

func TestRoundTrip(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	large := make([]byte, 1<<20)
	rand.Read(large)
	for _, pt := range [][]byte{nil, {}, []byte("x"), []byte("a secret value"), large} {
		ct := encrypt(t, r, "p1", "secret", "db-password", pt)
		if len(pt) > 4 && bytes.Contains(ct, pt) {
			t.Fatal("ciphertext contains the plaintext")
		}
		mustDecrypt(t, r, "p1", "secret", "db-password", ct, pt)
	}
	ks := listKeys(t, r, "p1")
	if len(ks) != 1 || !ks[0].Primary || !ks[0].Enabled {
		t.Fatalf("keys after first use: %v, want one enabled primary", ks)
	}
	if id := keyID(t, encrypt(t, r, "p1", "secret", "x", nil)); id != ks[0].ID {
		t.Fatalf("KeyIDOf = %d, want the primary %d", id, ks[0].ID)
	}
}

// TestBoundToObject: a ciphertext only decrypts as the object it was made
// for, never as another project's, kind's or object's.
func TestBoundToObject(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	ct := encrypt(t, r, "p1", "artifact", "run-1/model.bin", []byte("weights"))
	encrypt(t, r, "p2", "artifact", "other", []byte("p2 has keys too"))
	for _, tc := range []struct{ project, kind, obj string }{
		{"p2", "artifact", "run-1/model.bin"},
		{"p1", "log", "run-1/model.bin"},
		{"p1", "artifact", "run-2/model.bin"},
		{"p1", "artifact", "run-1/model.bin\x00"},
	} {
		_, err := r.Decrypt(ctx, tc.project, tc.kind, tc.obj, ct)
		wantCode(t, err, errs.Forbidden, fmt.Sprintf("decrypt as %v", tc))
	}
	_, err := r.Decrypt(ctx, "p3", "artifact", "run-1/model.bin", ct)
	wantCode(t, err, errs.NotFound, "decrypt in a project without keys")

	// Field boundaries are part of the binding.
	ct = encrypt(t, r, "p1", "ab", "c", []byte("x"))
	_, err = r.Decrypt(ctx, "p1", "a", "bc", ct)
	wantCode(t, err, errs.Forbidden, "shifted field boundary")
	mustDecrypt(t, r, "p1", "ab", "c", ct, []byte("x"))
}

func TestTamperedCiphertext(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	ct := encrypt(t, r, "p", "secret", "s", []byte("short secret"))
	for i := range ct {
		c := bytes.Clone(ct)
		c[i] ^= 0x80
		_, err := r.Decrypt(ctx, "p", "secret", "s", c)
		wantCode(t, err, errs.Forbidden, fmt.Sprintf("byte %d flipped", i))
	}
	for _, c := range [][]byte{nil, {}, ct[:4], ct[:5], ct[:len(ct)-1], append(bytes.Clone(ct), 0)} {
		_, err := r.Decrypt(ctx, "p", "secret", "s", c)
		wantCode(t, err, errs.Forbidden, fmt.Sprintf("%d of %d bytes", len(c), len(ct)))
	}
}

func TestInvalidNames(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	long := strings.Repeat("x", 1025)
	for _, n := range [][3]string{{"", "k", "o"}, {"p", "", "o"}, {"p", "k", ""}, {long, "k", "o"}, {"p", long, "o"}, {"p", "k", long}} {
		_, err := r.Encrypt(ctx, n[0], n[1], n[2], []byte("x"))
		wantCode(t, err, errs.Invalid, fmt.Sprintf("Encrypt(%.8q, %.8q, %.8q)", n[0], n[1], n[2]))
		_, err = r.NewEncryptingWriter(ctx, n[0], n[1], n[2], &bytes.Buffer{})
		wantCode(t, err, errs.Invalid, "NewEncryptingWriter")
	}
	_, err := r.Rotate(ctx, "")
	wantCode(t, err, errs.Invalid, "Rotate of an empty project")
	_, err = keys.KeyIDOf([]byte{2, 0, 0, 0, 1})
	wantCode(t, err, errs.Invalid, "KeyIDOf of an unknown format")
}

// TestKeysetBoundToProject: a wrapped keyset copied to another project, or
// edited, does not unwrap, and fails with an error rather than a panic.
func TestKeysetBoundToProject(t *testing.T) {
	kek := newKEK(t)
	store := &keys.MemStore{}
	r := keys.NewKeyring(kek, store, keys.Options{})
	ct := encrypt(t, r, "p1", "secret", "s", []byte("x"))
	st, err := store.GetKeyset(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}

	moved := &keys.MemStore{}
	if err := moved.PutKeyset(ctx, "p2", st, 0); err != nil {
		t.Fatal(err)
	}
	_, err = keys.NewKeyring(kek, moved, keys.Options{}).Decrypt(ctx, "p2", "secret", "s", ct)
	wantCode(t, err, errs.Internal, "keyset moved to another project")

	for _, i := range []int{0, len(st.Wrapped) / 3, len(st.Wrapped) / 2, len(st.Wrapped) - 2} {
		edited := &keys.MemStore{}
		e := st
		e.Wrapped = bytes.Clone(st.Wrapped)
		e.Wrapped[i] ^= 0x01
		if err := edited.PutKeyset(ctx, "p1", e, 0); err != nil {
			t.Fatal(err)
		}
		_, err = keys.NewKeyring(kek, edited, keys.Options{}).Decrypt(ctx, "p1", "secret", "s", ct)
		wantCode(t, err, errs.Internal, fmt.Sprintf("wrapped keyset with byte %d flipped", i))
	}
}

// TestOtherKEK: the stored keysets are useless without their KEK, and a
// server started with the wrong KEK does not overwrite them.
func TestOtherKEK(t *testing.T) {
	store := &keys.MemStore{}
	r := keys.NewKeyring(newKEK(t), store, keys.Options{})
	ct := encrypt(t, r, "p", "secret", "s", []byte("x"))

	wrong := keys.NewKeyring(newKEK(t), store, keys.Options{})
	_, err := wrong.Decrypt(ctx, "p", "secret", "s", ct)
	wantCode(t, err, errs.Internal, "decrypt with another KEK")
	if !strings.Contains(err.Error(), "cannot be unwrapped") {
		t.Errorf("error %q should say the keys cannot be unwrapped", err)
	}
	_, err = wrong.Encrypt(ctx, "p", "secret", "s2", []byte("y"))
	wantCode(t, err, errs.Internal, "encrypt with another KEK")
	_, err = wrong.Rotate(ctx, "p")
	wantCode(t, err, errs.Internal, "rotate with another KEK")

	mustDecrypt(t, r, "p", "secret", "s", ct, []byte("x"))
	if st, _ := store.GetKeyset(ctx, "p"); st.Version != 1 {
		t.Errorf("stored version %d after the wrong KEK's attempts, want 1", st.Version)
	}
}

// TestKEKCalls: unwrapped keysets are cached, so the KEK (perhaps a remote
// vault) is not called per operation; an unavailable KEK says so.
func TestKEKCalls(t *testing.T) {
	clk := newClock()
	kek := &countingKEK{KEK: newKEK(t)}
	store := &keys.MemStore{}
	r := keys.NewKeyring(kek, store, keys.Options{Now: clk.Now, CacheTTL: time.Minute})

	ct := encrypt(t, r, "p", "secret", "s", []byte("x"))
	if n := kek.calls.Load(); n != 3 {
		t.Errorf("first use: %d KEK calls, want 3 (wrap the two keysets and the naming key)", n)
	}
	for i := range 10 {
		encrypt(t, r, "p", "secret", fmt.Sprint(i), []byte("x"))
		mustDecrypt(t, r, "p", "secret", "s", ct, []byte("x"))
	}
	clk.Advance(2 * time.Minute) // the stored version is checked, but has not moved
	mustDecrypt(t, r, "p", "secret", "s", ct, []byte("x"))
	if n := kek.calls.Load(); n != 3 {
		t.Errorf("after reuse: %d KEK calls, want still 3", n)
	}

	cold := keys.NewKeyring(kek, store, keys.Options{Now: clk.Now})
	down := error(errs.E(errs.Unavailable, "vault sealed"))
	kek.fail.Store(&down)
	_, err := cold.Decrypt(ctx, "p", "secret", "s", ct)
	wantCode(t, err, errs.Unavailable, "decrypt with the KEK down")
	_, err = r.Rotate(ctx, "p")
	wantCode(t, err, errs.Unavailable, "rotate with the KEK down")
	mustDecrypt(t, r, "p", "secret", "s", ct, []byte("x")) // cached keys still work
	kek.fail.Store(nil)
	mustDecrypt(t, cold, "p", "secret", "s", ct, []byte("x"))
}

// conflictStore makes the next n writes fail as if another server had
// written first.
type conflictStore struct {
	keys.MemStore
	n int
}

func (s *conflictStore) PutKeyset(ctx2 ctxT, project string, st keys.Stored, expect int64) error {
	if s.n > 0 {
		s.n--
		return errs.E(errs.Conflict, "version moved")
	}
	return s.MemStore.PutKeyset(ctx2, project, st, expect)
}

func TestConflictRetry(t *testing.T) {
	store := &conflictStore{n: 3}
	r := keys.NewKeyring(newKEK(t), store, keys.Options{})
	ct := encrypt(t, r, "p", "secret", "s", []byte("x"))
	mustDecrypt(t, r, "p", "secret", "s", ct, []byte("x"))

	store.n = 1000
	_, err := r.Rotate(ctx, "p")
	wantCode(t, err, errs.Conflict, "rotate against a store that always conflicts")
	store.n = 0
	if _, err := r.Rotate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if ks := listKeys(t, r, "p"); len(ks) != 2 {
		t.Fatalf("%d keys after one successful rotation, want 2", len(ks))
	}
}

func TestStoreErrorsPassThrough(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), failingStore{}, keys.Options{})
	_, err := r.Encrypt(ctx, "p", "secret", "s", nil)
	if !errors.Is(err, errStoreDown) {
		t.Fatalf("Encrypt with the store down: %v, want the store's error", err)
	}
	wantCode(t, err, errs.Unavailable, "store down")
}

var errStoreDown = errs.E(errs.Unavailable, "database down")

type failingStore struct{}

func (failingStore) GetKeyset(ctxT, string) (keys.Stored, error) { return keys.Stored{}, errStoreDown }
func (failingStore) PutKeyset(ctxT, string, keys.Stored, int64) error {
	return errStoreDown
}
