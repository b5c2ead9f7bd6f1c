// Package kektest is the conformance suite every keys.KEK provider passes,
// so that the Keyring can rely on one contract whatever wraps its keysets.
package kektest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// Run runs the suite. open returns a KEK with its own key each time it is
// called (two calls in one test must not share a key), cleaned up with t.
func Run(t *testing.T, open func(t *testing.T) keys.KEK) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) keys.KEK)
	}{
		{"Name", testName},
		{"RoundTrip", testRoundTrip},
		{"Randomised", testRandomised},
		{"WrongAssociatedData", testWrongAssociatedData},
		{"Tampered", testTampered},
		{"OtherKey", testOtherKey},
		{"Large", testLarge},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var ctx = context.Background()

func encrypt(t *testing.T, k keys.KEK, pt, ad []byte) []byte {
	t.Helper()
	ct, err := k.Encrypt(ctx, pt, ad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

// mustFail checks a decryption that must fail with errs.Forbidden.
func mustFail(t *testing.T, k keys.KEK, ct, ad []byte, what string) {
	t.Helper()
	pt, err := k.Decrypt(ctx, ct, ad)
	if err == nil {
		t.Fatalf("%s: Decrypt succeeded (%d bytes), want an error", what, len(pt))
	}
	if !errs.Is(err, errs.Forbidden) {
		t.Fatalf("%s: Decrypt error %q has code %q, want %q", what, err, errs.CodeOf(err), errs.Forbidden)
	}
}

func testName(t *testing.T, open func(t *testing.T) keys.KEK) {
	if open(t).Name() == "" {
		t.Fatal("Name is empty")
	}
}

func testRoundTrip(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	for _, tc := range []struct {
		name   string
		pt, ad []byte
	}{
		{"empty", nil, nil},
		{"empty with ad", []byte{}, []byte("ad")},
		{"short", []byte("x"), nil},
		{"text", []byte("a keyset, typically"), []byte("project p")},
		{"binary", []byte{0, 1, 2, 0xff, 0}, []byte{0}},
	} {
		ct := encrypt(t, k, tc.pt, tc.ad)
		// Short plaintexts appear in any long enough ciphertext by chance.
		if len(tc.pt) >= 8 && bytes.Contains(ct, tc.pt) {
			t.Errorf("%s: ciphertext contains the plaintext", tc.name)
		}
		got, err := k.Decrypt(ctx, ct, tc.ad)
		if err != nil {
			t.Fatalf("%s: Decrypt: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.pt) {
			t.Fatalf("%s: Decrypt = %q, want %q", tc.name, got, tc.pt)
		}
	}
}

// testRandomised: equal plaintexts must not give equal ciphertexts, or a
// copy of the database would show which projects share a keyset.
func testRandomised(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	a := encrypt(t, k, []byte("same"), []byte("ad"))
	b := encrypt(t, k, []byte("same"), []byte("ad"))
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are equal")
	}
}

func testWrongAssociatedData(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	ct := encrypt(t, k, []byte("secret"), []byte("project a"))
	mustFail(t, k, ct, []byte("project b"), "other ad")
	mustFail(t, k, ct, nil, "no ad")
	mustFail(t, k, ct, []byte("project a\x00"), "longer ad")

	ct = encrypt(t, k, []byte("secret"), nil)
	mustFail(t, k, ct, []byte("x"), "ad where there was none")
}

func testTampered(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	ad := []byte("ad")
	ct := encrypt(t, k, []byte("the plaintext of some length"), ad)
	for _, i := range []int{0, 1, len(ct) / 2, len(ct) - 1} {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		mustFail(t, k, c, ad, fmt.Sprintf("byte %d flipped", i))
	}
	mustFail(t, k, ct[:len(ct)-1], ad, "truncated by one byte")
	mustFail(t, k, ct[:len(ct)/2], ad, "truncated by half")
	mustFail(t, k, append(bytes.Clone(ct), 0), ad, "extended by one byte")
	mustFail(t, k, nil, ad, "empty")
	mustFail(t, k, []byte("garbage"), ad, "garbage")
}

func testOtherKey(t *testing.T, open func(t *testing.T) keys.KEK) {
	a, b := open(t), open(t)
	ad := []byte("ad")
	fromA := encrypt(t, a, []byte("for a"), ad)
	mustFail(t, b, fromA, ad, "a's ciphertext on b before b was used")
	fromB := encrypt(t, b, []byte("for b"), ad)
	mustFail(t, b, fromA, ad, "a's ciphertext on b")
	mustFail(t, a, fromB, ad, "b's ciphertext on a")
}

func testLarge(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	pt := make([]byte, 1<<20)
	if _, err := rand.Read(pt); err != nil {
		t.Fatal(err)
	}
	ct := encrypt(t, k, pt, []byte("large"))
	got, err := k.Decrypt(ctx, ct, []byte("large"))
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("1 MiB round trip differs")
	}
}

func testConcurrent(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				pt := fmt.Appendf(nil, "worker %d round %d", w, i)
				ad := fmt.Appendf(nil, "ad %d", w)
				ct, err := k.Encrypt(ctx, pt, ad)
				if err != nil {
					errc <- err
					return
				}
				got, err := k.Decrypt(ctx, ct, ad)
				if err != nil {
					errc <- err
					return
				}
				if !bytes.Equal(got, pt) {
					errc <- fmt.Errorf("got %q, want %q", got, pt)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// testCanceledContext: a provider that may be remote must honour the
// caller's deadline, and say so with a code.
func testCanceledContext(t *testing.T, open func(t *testing.T) keys.KEK) {
	k := open(t)
	ct := encrypt(t, k, []byte("x"), nil)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.Encrypt(c, []byte("x"), nil); err == nil {
		t.Error("Encrypt with a canceled context succeeded")
	} else if !errs.Is(err, errs.Unavailable) {
		t.Errorf("Encrypt with a canceled context: code %q (%v), want %q", errs.CodeOf(err), err, errs.Unavailable)
	}
	if _, err := k.Decrypt(c, ct, nil); err == nil {
		t.Error("Decrypt with a canceled context succeeded")
	} else if !errs.Is(err, errs.Unavailable) {
		t.Errorf("Decrypt with a canceled context: code %q (%v), want %q", errs.CodeOf(err), err, errs.Unavailable)
	}
}
