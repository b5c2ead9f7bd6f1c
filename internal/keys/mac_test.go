package keys

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/keys/localkek"
)

// TestMAC: a MAC is stable for the same project, kind and data, across a
// rotation and across keyrings; it differs when any of them differs.
func TestMAC(t *testing.T) {
	ctx := context.Background()
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	store := &MemStore{}
	r := NewKeyring(kek, store, Options{})
	mac := func(r *Keyring, project, kind, data string) []byte {
		t.Helper()
		m, err := r.MAC(ctx, project, kind, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 32 {
			t.Fatalf("MAC of %d bytes", len(m))
		}
		return m
	}
	base := mac(r, "p", "artifact", "x")
	if _, err := r.Rotate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mac(r, "p", "artifact", "x"), base) {
		t.Fatal("the MAC changed with a rotation")
	}
	if !bytes.Equal(mac(NewKeyring(kek, store, Options{}), "p", "artifact", "x"), base) {
		t.Fatal("another keyring over the same store computes another MAC")
	}
	for _, other := range [][]byte{mac(r, "q", "artifact", "x"), mac(r, "p", "log", "x"), mac(r, "p", "artifact", "y")} {
		if bytes.Equal(other, base) {
			t.Fatal("different inputs share a MAC")
		}
	}
}

// TestMACAddsNamingKey: keys stored before the naming key existed get one
// on the first MAC, and keep their data keys.
func TestMACAddsNamingKey(t *testing.T) {
	ctx := context.Background()
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProjectKeys(time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	old, err := fromHandles(p.aeadH, p.streamH, p.meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := old.wrap(ctx, kek, "p")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"prf"`)) {
		t.Fatal("keys without a naming key wrote one")
	}
	store := &MemStore{}
	if err := store.PutKeyset(ctx, "p", Stored{KEK: kek.Name(), Wrapped: b}, 0); err != nil {
		t.Fatal(err)
	}
	r := NewKeyring(kek, store, Options{})
	ct, err := r.Encrypt(ctx, "p", "log", "1", []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	m1, err := r.MAC(ctx, "p", "artifact", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := NewKeyring(kek, store, Options{}).MAC(ctx, "p", "artifact", []byte("x"))
	if err != nil || !bytes.Equal(m1, m2) {
		t.Fatalf("the added naming key was not stored: %v", err)
	}
	if pt, err := NewKeyring(kek, store, Options{}).Decrypt(ctx, "p", "log", "1", ct); err != nil || string(pt) != "before" {
		t.Fatalf("data from before the naming key: %q %v", pt, err)
	}
}
