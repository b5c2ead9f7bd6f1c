package keys_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/transitkek/transittest"
)

func TestOpenKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek")
	k, err := keys.OpenKEK(ctx, "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name() != "local:"+path {
		t.Errorf("Name = %q", k.Name())
	}

	vault := transittest.New(t)
	t.Setenv("VAULT_TOKEN", vault.Token)
	k, err = keys.OpenKEK(ctx, "transit://"+strings.TrimPrefix(vault.URL, "http://")+"/koya?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	r := keys.NewKeyring(k, &keys.MemStore{}, keys.Options{})
	ct := encrypt(t, r, "p", "secret", "s", []byte("through the vault"))
	mustDecrypt(t, r, "p", "secret", "s", ct, []byte("through the vault"))
	if _, n := vault.Last(); n != 3 {
		t.Errorf("%d vault calls, want 3 (wrap the two keysets and the naming key once)", n)
	}

	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("BAO_TOKEN", "")
	for _, bad := range []string{
		"kek",
		"file://kek",
		"file://host/etc/kek",
		"file:///etc/kek?mode=600",
		"s3://bucket/kek",
		"transit://vault:8200/koya", // no token
		"::",
	} {
		if _, err := keys.OpenKEK(ctx, bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("OpenKEK(%q): %v, want invalid", bad, err)
		}
	}
}
