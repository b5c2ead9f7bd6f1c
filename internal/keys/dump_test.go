package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"
	"github.com/tink-crypto/tink-go/v2/streamingaead/aesgcmhkdf"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys/localkek"
)

// TestDumpRevealsNoKeys: what the store holds contains no key material in
// any of its layers, and another KEK cannot open it.
func TestDumpRevealsNoKeys(t *testing.T) {
	ctx := context.Background()
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	store := &MemStore{}
	r := NewKeyring(kek, store, Options{})
	if _, err := r.Encrypt(ctx, "p", "secret", "s", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	p, err := r.keysFor(ctx, "p", false)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawKeys(t, p)
	if len(raw) != 5 {
		t.Fatalf("found %d raw keys, want 2 AEAD, 2 streaming and 1 naming key", len(raw))
	}

	st, err := store.GetKeyset(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	var w wrapped
	if err := json.Unmarshal(st.Wrapped, &w); err != nil {
		t.Fatal(err)
	}
	for name, blob := range map[string][]byte{"stored": st.Wrapped, "aead": w.AEAD, "stream": w.Stream, "prf": w.PRF, "meta": w.Meta} {
		for _, k := range raw {
			if bytes.Contains(blob, k) {
				t.Errorf("the %s blob contains a raw key", name)
			}
		}
	}

	other, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unwrap(ctx, other, "p", st); !errs.Is(err, errs.Internal) {
		t.Fatalf("unwrap with another KEK: %v, want an internal error", err)
	}
	if _, err := unwrap(ctx, kek, "p", st); err != nil {
		t.Fatalf("unwrap with the right KEK: %v", err)
	}
}

// rawKeys digs the key bytes out of unwrapped keysets: the test's proof of
// what must not appear in the store.
func rawKeys(t *testing.T, p *projectKeys) [][]byte {
	var out [][]byte
	for i := range p.aeadH.Len() {
		e, _ := p.aeadH.Entry(i)
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			t.Fatalf("AEAD key is %T", e.Key())
		}
		out = append(out, k.KeyBytes().Data(insecuresecretdataaccess.Token{}))
	}
	for i := range p.streamH.Len() {
		e, _ := p.streamH.Entry(i)
		k, ok := e.Key().(*aesgcmhkdf.Key)
		if !ok {
			t.Fatalf("streaming key is %T", e.Key())
		}
		out = append(out, k.KeyBytes().Data(insecuresecretdataaccess.Token{}))
	}
	for i := range p.prfH.Len() {
		e, _ := p.prfH.Entry(i)
		k, ok := e.Key().(*hmacprf.Key)
		if !ok {
			t.Fatalf("naming key is %T", e.Key())
		}
		out = append(out, k.KeyBytes().Data(insecuresecretdataaccess.Token{}))
	}
	for _, k := range out {
		if len(k) != 32 {
			t.Fatalf("raw key of %d bytes, want 32", len(k))
		}
	}
	return out
}
