// Package storeopen opens the store a DSN names: PostgreSQL for
// postgres:// and postgresql:// URLs, SQLite for sqlite://PATH, file:PATH
// or a plain path.
package storeopen

import (
	"context"
	"regexp"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/sqlite"
)

// scheme matches a URL scheme; one letter is a Windows drive, not a scheme.
var scheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// Open opens the store dsn names.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	if dsn == "" {
		return nil, errs.E(errs.Invalid, "no store given: use postgres://..., sqlite://PATH or a file path")
	}
	m := scheme.FindStringSubmatch(dsn)
	if m == nil {
		return sqlite.Open(ctx, dsn)
	}
	rest := dsn[len(m[0]):]
	switch strings.ToLower(m[1]) {
	case "postgres", "postgresql":
		return postgres.Open(ctx, dsn)
	case "sqlite", "file":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, errs.E(errs.Invalid, "store %q names no file: use sqlite:///abs/path or sqlite://rel/path", dsn)
		}
		return sqlite.Open(ctx, path)
	}
	return nil, errs.E(errs.Invalid, "store %q: unsupported scheme %q (use postgres://, postgresql://, sqlite://PATH, file:PATH or a plain path)", redact(dsn), m[1])
}

// redact drops a password from a URL-like DSN before it goes into an error.
func redact(dsn string) string {
	at := strings.LastIndexByte(dsn, '@')
	i := strings.Index(dsn, "://")
	if at < 0 || i < 0 || at < i {
		return dsn
	}
	creds := dsn[i+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return dsn[:i+3] + user + ":xxxxx" + dsn[at:]
	}
	return dsn
}
