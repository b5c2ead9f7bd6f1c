package keys_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// TestPlaintextSize: PlaintextSize inverts the length of real streams at
// and around every segment boundary, and refuses lengths no stream has.
func TestPlaintextSize(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	sizes := []int{0, 1, 100}
	for _, b := range []int{4040, 4040 + 4080, 4040 + 5*4080} {
		sizes = append(sizes, b-1, b, b+1, b+15, b+16, b+17)
	}
	for _, n := range sizes {
		var ct bytes.Buffer
		w, err := r.NewEncryptingWriter(ctx, "p", "artifact", "o", &ct)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, io.LimitReader(&patternReader{}, int64(n))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := keys.PlaintextSize(int64(ct.Len()))
		if err != nil || got != int64(n) {
			t.Errorf("PlaintextSize(%d) = %d, %v; want %d", ct.Len(), got, err, n)
		}
	}
	for _, n := range []int64{0, 5, 60, 4101 + 1, 4101 + 16} {
		if _, err := keys.PlaintextSize(n); !errs.Is(err, errs.Forbidden) {
			t.Errorf("PlaintextSize(%d): %v, want forbidden", n, err)
		}
	}
}
