package transitkek

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
)

// FromURL turns a transit:// URL (see the package doc) into a Config,
// taking the token from getenv (os.Getenv in production).
func FromURL(u *url.URL, getenv func(string) string) (Config, error) {
	if u.Scheme != "transit" {
		return Config{}, errs.E(errs.Invalid, "transit KEK: URL scheme %q, want transit", u.Scheme)
	}
	if u.Hostname() == "" {
		return Config{}, errs.E(errs.Invalid, "transit KEK: URL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return Config{}, errs.E(errs.Invalid, "transit KEK: put the token in VAULT_TOKEN or BAO_TOKEN, not in the URL")
	}
	q := u.Query()
	for name := range q {
		switch name {
		case "mount", "tls", "namespace", "ca":
		default:
			return Config{}, errs.E(errs.Invalid, "transit KEK: unknown URL parameter %q", name)
		}
	}
	scheme := "https"
	if v := q.Get("tls"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, errs.E(errs.Invalid, "transit KEK: tls=%q is not a boolean", v)
		}
		if !on {
			scheme = "http"
		}
	}
	port := u.Port()
	if port == "" {
		port = "8200"
	}
	cfg := Config{
		Addr:      scheme + "://" + net.JoinHostPort(u.Hostname(), port),
		Mount:     q.Get("mount"),
		Key:       strings.TrimPrefix(u.Path, "/"),
		Namespace: q.Get("namespace"),
		Token:     getenv("VAULT_TOKEN"),
	}
	if cfg.Token == "" {
		cfg.Token = getenv("BAO_TOKEN")
	}
	if ca := q.Get("ca"); ca != "" {
		if scheme != "https" {
			return Config{}, errs.E(errs.Invalid, "transit KEK: ca= given with tls=false")
		}
		client, err := clientWithCA(ca)
		if err != nil {
			return Config{}, err
		}
		cfg.Client = client
	}
	return cfg, nil
}

func clientWithCA(path string) (*http.Client, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "transit KEK: reading CA bundle %s: %v", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errs.E(errs.Invalid, "transit KEK: CA bundle %s holds no PEM certificate", path)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}
