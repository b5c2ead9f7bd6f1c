package storeopen_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite://" + filepath.Join(dir, "url.db"),
		"file:" + filepath.Join(dir, "file.db"),
		"file://" + filepath.Join(dir, "file2.db"),
	} {
		s, err := storeopen.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if s.Dialect() != "sqlite" {
			t.Fatalf("%s: dialect %s", dsn, s.Dialect())
		}
		s.Close()
	}
}

func TestPostgres(t *testing.T) {
	url := pgtest.Fresh(t)
	for _, u := range []string{url, strings.Replace(url, "postgres://", "postgresql://", 1)} {
		s, err := storeopen.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() != "postgres" {
			t.Fatalf("%s: dialect %s", u, s.Dialect())
		}
		s.Close()
	}
}

func TestBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://u:secret@host/db", "sqlite://", "redis:x"} {
		_, err := storeopen.Open(context.Background(), dsn)
		if !errs.Is(err, errs.Invalid) {
			t.Fatalf("%q: %v, want an invalid error", dsn, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("%q: the error shows the password: %v", dsn, err)
		}
	}
}
