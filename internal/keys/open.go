package keys

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys/localkek"
	"github.com/koya-dev/koya/internal/keys/transitkek"
)

// openers maps a URL scheme to its provider; a new provider adds a line.
var openers = map[string]func(ctx context.Context, u *url.URL) (KEK, error){
	"file":    openFile,
	"transit": openTransit,
}

// OpenKEK opens the KEK provider a URL names:
//
//	file:///ABSOLUTE/PATH                 a local key file (package localkek),
//	                                      created 0600 on first use
//	transit://HOST[:PORT]/KEY[?mount=transit&tls=true&namespace=NS&ca=FILE]
//	                                      a Vault/OpenBao transit key (package
//	                                      transitkek); token from VAULT_TOKEN
//	                                      or BAO_TOKEN
func OpenKEK(ctx context.Context, rawURL string) (KEK, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "KEK URL %q does not parse", rawURL)
	}
	open, ok := openers[u.Scheme]
	if !ok {
		schemes := make([]string, 0, len(openers))
		for s := range openers {
			schemes = append(schemes, s+"://")
		}
		slices.Sort(schemes)
		return nil, errs.E(errs.Invalid, "KEK URL %q: unknown scheme %q; use one of %s", u.Redacted(), u.Scheme, strings.Join(schemes, ", "))
	}
	return open(ctx, u)
}

func openFile(_ context.Context, u *url.URL) (KEK, error) {
	if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
		return nil, errs.E(errs.Invalid, "KEK URL %q: want file:///absolute/path", u.Redacted())
	}
	return localkek.Open(filepath.Clean(u.Path))
}

func openTransit(_ context.Context, u *url.URL) (KEK, error) {
	cfg, err := transitkek.FromURL(u, os.Getenv)
	if err != nil {
		return nil, err
	}
	return transitkek.New(cfg)
}
