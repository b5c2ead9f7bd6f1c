package transitkek_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/kektest"
	"github.com/koya-dev/koya/internal/keys/transitkek"
	"github.com/koya-dev/koya/internal/keys/transitkek/transittest"
)

var ctx = context.Background()

func newKEK(t *testing.T, s *transittest.Server, key string) *transitkek.KEK {
	t.Helper()
	k, err := transitkek.New(transitkek.Config{Addr: s.URL, Key: key, Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestConformance(t *testing.T) {
	var n atomic.Int64
	kektest.Run(t, func(t *testing.T) keys.KEK {
		// One vault per test, one key per open: two opens do not share a key.
		return newKEK(t, transittest.New(t), fmt.Sprintf("koya-%d", n.Add(1)))
	})
}

// TestRequestShape: what koya sends is what the transit API documents, and
// the associated data travels inside the encrypted payload.
func TestRequestShape(t *testing.T) {
	s := transittest.New(t)
	k, err := transitkek.New(transitkek.Config{Addr: s.URL, Key: "koya", Token: s.Token, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := k.Encrypt(ctx, []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := s.Last()
	if req.Method != http.MethodPost || req.Path != "/v1/transit/encrypt/koya" || req.Token != s.Token || req.Namespace != "team-a" {
		t.Errorf("encrypt request %+v", req)
	}
	pt64, _ := req.Body["plaintext"].(string)
	payload, err := base64.StdEncoding.DecodeString(pt64)
	if err != nil || !bytes.Equal(payload, []byte("\x02adkeyset")) || len(req.Body) != 1 {
		t.Errorf("encrypt body %v: payload %q, want only plaintext = base64(uvarint(2) ad keyset)", req.Body, payload)
	}
	if !strings.HasPrefix(string(ct), "vault:v1:") {
		t.Errorf("ciphertext %q is not transit's", ct)
	}
	if _, err := k.Decrypt(ctx, ct, []byte("ad")); err != nil {
		t.Fatal(err)
	}
	req, _ = s.Last()
	if req.Path != "/v1/transit/decrypt/koya" || req.Body["ciphertext"] != string(ct) || len(req.Body) != 1 {
		t.Errorf("decrypt request %+v", req)
	}
}

// TestVaultRotation: after the key is rotated in the vault, keysets wrapped
// before still unwrap and new ones use the new version.
func TestVaultRotation(t *testing.T) {
	s := transittest.New(t)
	k := newKEK(t, s, "koya")
	old, err := k.Encrypt(ctx, []byte("old"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	s.Rotate("koya")
	fresh, err := k.Encrypt(ctx, []byte("new"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(fresh), "vault:v2:") {
		t.Errorf("after rotation: %q, want version 2", fresh)
	}
	for _, ct := range [][]byte{old, fresh} {
		if _, err := k.Decrypt(ctx, ct, []byte("ad")); err != nil {
			t.Errorf("Decrypt %.12s: %v", ct, err)
		}
	}
}

// TestAssociatedDataBinding: a payload whose embedded associated data
// differs is refused even though the vault decrypts it.
func TestAssociatedDataBinding(t *testing.T) {
	s := transittest.New(t)
	k := newKEK(t, s, "koya")
	ct, err := k.Encrypt(ctx, []byte("x"), []byte("project-a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range []string{"project-b", "project-", "project-aa", ""} {
		if _, err := k.Decrypt(ctx, ct, []byte(ad)); !errs.Is(err, errs.Forbidden) {
			t.Errorf("ad %q: %v, want forbidden", ad, err)
		}
	}
}

func TestErrors(t *testing.T) {
	s := transittest.New(t)
	good := newKEK(t, s, "koya")
	ct, err := good.Encrypt(ctx, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}

	badToken, err := transitkek.New(transitkek.Config{Addr: s.URL, Key: "koya", Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = badToken.Decrypt(ctx, ct, nil)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("wrong token: %v (code %s), want unavailable naming the token", err, errs.CodeOf(err))
	}

	wrongMount, err := transitkek.New(transitkek.Config{Addr: s.URL, Mount: "nope", Key: "koya", Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrongMount.Encrypt(ctx, []byte("x"), nil); !errs.Is(err, errs.Unavailable) {
		t.Errorf("wrong mount: %v (code %s), want unavailable", err, errs.CodeOf(err))
	}

	s.FailWith(http.StatusServiceUnavailable)
	if _, err := good.Encrypt(ctx, []byte("x"), nil); !errs.Is(err, errs.Unavailable) {
		t.Errorf("sealed vault: %v (code %s), want unavailable", err, errs.CodeOf(err))
	}
	s.FailWith(http.StatusTeapot)
	if _, err := good.Decrypt(ctx, ct, nil); !errs.Is(err, errs.Internal) {
		t.Errorf("unexpected status: %v (code %s), want internal", err, errs.CodeOf(err))
	}
	s.FailWith(0)
	if _, err := good.Decrypt(ctx, ct, nil); err != nil {
		t.Errorf("after recovery: %v", err)
	}

	s.Close()
	if _, err := good.Decrypt(ctx, ct, nil); !errs.Is(err, errs.Unavailable) {
		t.Errorf("vault down: %v (code %s), want unavailable", err, errs.CodeOf(err))
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []transitkek.Config{
		{Addr: "", Key: "k", Token: "t"},
		{Addr: "vault:8200", Key: "k", Token: "t"},
		{Addr: "https://vault:8200", Key: "", Token: "t"},
		{Addr: "https://vault:8200", Key: "a/b", Token: "t"},
		{Addr: "https://vault:8200", Key: "k", Token: ""},
	} {
		if _, err := transitkek.New(cfg); !errs.Is(err, errs.Invalid) {
			t.Errorf("New(%+v): %v, want invalid", cfg, err)
		}
	}
}

func TestFromURL(t *testing.T) {
	env := map[string]string{"BAO_TOKEN": "bao"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		url  string
		want transitkek.Config
	}{
		{"transit://vault.internal/koya", transitkek.Config{Addr: "https://vault.internal:8200", Key: "koya", Token: "bao"}},
		{"transit://127.0.0.1:8201/kek?tls=false&mount=koya-transit&namespace=ops", transitkek.Config{Addr: "http://127.0.0.1:8201", Mount: "koya-transit", Key: "kek", Namespace: "ops", Token: "bao"}},
		{"transit://[::1]/k?tls=true", transitkek.Config{Addr: "https://[::1]:8200", Key: "k", Token: "bao"}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := transitkek.FromURL(u, getenv)
		if err != nil || got != tc.want {
			t.Errorf("FromURL(%s) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}

	env["VAULT_TOKEN"] = "vault"
	u, _ := url.Parse("transit://v/k")
	if got, _ := transitkek.FromURL(u, getenv); got.Token != "vault" {
		t.Errorf("VAULT_TOKEN should win over BAO_TOKEN, got %q", got.Token)
	}

	for _, bad := range []string{
		"file:///kek",
		"transit:///k",
		"transit://tok@v/k",
		"transit://v/k?tls=maybe",
		"transit://v/k?colour=blue",
		"transit://v/k?tls=false&ca=/ca.pem",
		"transit://v/k?ca=/does/not/exist.pem",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transitkek.FromURL(u, getenv); !errs.Is(err, errs.Invalid) {
			t.Errorf("FromURL(%s): %v, want invalid", bad, err)
		}
	}
}
