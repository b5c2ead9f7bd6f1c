package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

func encryptStream(t *testing.T, r *keys.Keyring, project, kind, obj string, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := r.NewEncryptingWriter(ctx, project, kind, obj, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decryptStream(r *keys.Keyring, project, kind, obj string, ct []byte) ([]byte, error) {
	dr, err := r.NewDecryptingReader(ctx, project, kind, obj, bytes.NewReader(ct))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(dr)
}

func mustDecryptStream(t *testing.T, r *keys.Keyring, project, kind, obj string, ct, want []byte) {
	t.Helper()
	got, err := decryptStream(r, project, kind, obj, ct)
	if err != nil {
		t.Fatalf("stream %s/%s/%s: %v", project, kind, obj, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stream %s/%s/%s: %d bytes differ from the %d written", project, kind, obj, len(got), len(want))
	}
}

// wantDisabled checks a read refused because its key is disabled.
func wantDisabled(t *testing.T, err error, id uint32, what string) {
	t.Helper()
	wantCode(t, err, errs.Forbidden, what)
	if !errors.Is(err, keys.ErrKeyDisabled) || !strings.Contains(err.Error(), fmt.Sprint(id)) || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("%s: %q should be ErrKeyDisabled and name key %d", what, err, id)
	}
}

// TestRotationProcedure follows doc.go's procedure: write, rotate, write,
// re-encrypt the old data, disable the old key.
func TestRotationProcedure(t *testing.T) {
	clk := newClock()
	store := &keys.MemStore{}
	kek := newKEK(t)
	r := keys.NewKeyring(kek, store, keys.Options{Now: clk.Now})
	secret1, file1 := []byte("old secret"), bytes.Repeat([]byte("old file "), 1000)

	ct1 := encrypt(t, r, "p", "secret", "s1", secret1)
	st1 := encryptStream(t, r, "p", "file", "f1", file1)
	missed := encrypt(t, r, "p", "secret", "missed", []byte("forgotten by the job"))
	id1 := keyID(t, ct1)
	if keyID(t, st1[:5]) != id1 {
		t.Fatalf("stream key id %d, AEAD key id %d: one key id per generation", keyID(t, st1[:5]), id1)
	}
	created1 := clk.Now()

	clk.Advance(time.Hour)
	id2, err := r.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id1 {
		t.Fatal("Rotate returned the old key id")
	}
	want := []keys.KeyInfo{
		{ID: id1, Enabled: true, Created: created1},
		{ID: id2, Primary: true, Enabled: true, Created: clk.Now()},
	}
	if got := listKeys(t, r, "p"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after rotation:\n got %v\nwant %v", got, want)
	}

	ct2 := encrypt(t, r, "p", "secret", "s2", []byte("new secret"))
	st2 := encryptStream(t, r, "p", "file", "f2", []byte("new file"))
	if keyID(t, ct2) != id2 || keyID(t, st2) != id2 {
		t.Fatal("new writes do not use the new primary")
	}
	mustDecrypt(t, r, "p", "secret", "s1", ct1, secret1)
	mustDecryptStream(t, r, "p", "file", "f1", st1, file1)

	wantCode(t, r.Disable(ctx, "p", id2), errs.Conflict, "disable the primary")
	wantCode(t, r.Disable(ctx, "p", id2+1), errs.NotFound, "disable an unknown key")
	wantCode(t, r.Disable(ctx, "nope", id1), errs.NotFound, "disable in a project without keys")

	// The background job moves what it finds.
	ct1b, err := r.Reencrypt(ctx, "p", "secret", "s1", ct1)
	if err != nil {
		t.Fatal(err)
	}
	var st1b bytes.Buffer
	if err := r.ReencryptStream(ctx, "p", "file", "f1", &st1b, bytes.NewReader(st1)); err != nil {
		t.Fatal(err)
	}
	if keyID(t, ct1b) != id2 || keyID(t, st1b.Bytes()) != id2 {
		t.Fatal("re-encrypted data is not under the primary")
	}

	if err := r.Disable(ctx, "p", id1); err != nil {
		t.Fatal(err)
	}
	if err := r.Disable(ctx, "p", id1); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	if ks := listKeys(t, r, "p"); ks[0].Enabled || !ks[1].Enabled || !ks[1].Primary {
		t.Fatalf("after disable: %v", ks)
	}

	mustDecrypt(t, r, "p", "secret", "s1", ct1b, secret1)
	mustDecrypt(t, r, "p", "secret", "s2", ct2, []byte("new secret"))
	mustDecryptStream(t, r, "p", "file", "f1", st1b.Bytes(), file1)
	mustDecryptStream(t, r, "p", "file", "f2", st2, []byte("new file"))

	// What the job missed fails loudly, and is counted.
	if n := r.DisabledKeyFailures(); n != 0 {
		t.Fatalf("failures before any refused read: %d", n)
	}
	_, err = r.Decrypt(ctx, "p", "secret", "missed", missed)
	wantDisabled(t, err, id1, "AEAD data under the disabled key")
	_, err = r.NewDecryptingReader(ctx, "p", "file", "f1", bytes.NewReader(st1))
	wantDisabled(t, err, id1, "stream under the disabled key")
	_, err = r.Reencrypt(ctx, "p", "secret", "missed", missed)
	wantDisabled(t, err, id1, "re-encrypting under the disabled key")
	if n := r.DisabledKeyFailures(); n != 3 {
		t.Fatalf("DisabledKeyFailures = %d, want 3", n)
	}

	// A restarted server sees the same keys.
	restarted := keys.NewKeyring(kek, store, keys.Options{})
	mustDecrypt(t, restarted, "p", "secret", "s2", ct2, []byte("new secret"))
	_, err = restarted.Decrypt(ctx, "p", "secret", "missed", missed)
	wantDisabled(t, err, id1, "after a restart")

	// Enable undoes the step.
	if err := r.Enable(ctx, "p", id1); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, "p", "secret", "missed", missed, []byte("forgotten by the job"))
}

func TestRotateCreatesFirstKey(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	_, err := r.ListKeys(ctx, "p")
	wantCode(t, err, errs.NotFound, "ListKeys of a project without keys")
	id, err := r.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if ks := listKeys(t, r, "p"); len(ks) != 1 || ks[0].ID != id || !ks[0].Primary {
		t.Fatalf("after Rotate of a new project: %v, want key %d alone", ks, id)
	}
	if got := keyID(t, encrypt(t, r, "p", "k", "o", nil)); got != id {
		t.Fatalf("encrypted under %d, want %d", got, id)
	}
}

// TestTwoServers: servers sharing a store see each other's rotations at
// once when they meet a new key, and each other's disables within the TTL.
func TestTwoServers(t *testing.T) {
	clk := newClock()
	kek, store := newKEK(t), &keys.MemStore{}
	a := keys.NewKeyring(kek, store, keys.Options{Now: clk.Now, CacheTTL: time.Minute})
	b := keys.NewKeyring(kek, store, keys.Options{Now: clk.Now, CacheTTL: time.Minute})

	old := encrypt(t, a, "p", "k", "old", []byte("old"))
	mustDecrypt(t, b, "p", "k", "old", old, []byte("old"))

	id2, err := a.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	fresh := encrypt(t, a, "p", "k", "new", []byte("new"))
	mustDecrypt(t, b, "p", "k", "new", fresh, []byte("new")) // b meets key id2 and rereads

	// b now knows id2 is primary, so it can rotate again without conflict.
	id3, err := b.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Disable(ctx, "p", keyID(t, old)); err != nil {
		t.Fatal(err)
	}
	// a has not looked at the store since: within the TTL it still reads old
	// data and writes with id2, which b can read.
	mustDecrypt(t, a, "p", "k", "old", old, []byte("old"))
	if got := keyID(t, encrypt(t, a, "p", "k", "x", nil)); got != id2 {
		t.Fatalf("a wrote under %d within the TTL, want its cached primary %d", got, id2)
	}
	clk.Advance(2 * time.Minute)
	_, err = a.Decrypt(ctx, "p", "k", "old", old)
	wantDisabled(t, err, keyID(t, old), "a after the TTL")
	if got := keyID(t, encrypt(t, a, "p", "k", "x", nil)); got != id3 {
		t.Fatalf("a wrote under %d after the TTL, want b's new primary %d", got, id3)
	}
	if n := len(listKeys(t, a, "p")); n != 3 {
		t.Fatalf("%d keys, want 3", n)
	}
}
