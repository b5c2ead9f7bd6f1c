// Package pgtest gives tests a fresh PostgreSQL database of their own on the
// server named by KOYA_TEST_POSTGRES (scripts/postgres.sh starts one).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// URL returns the server's URL, or skips the test when there is none — and
// fails it in CI, where the test command always starts a server.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KOYA_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KOYA_TEST_POSTGRES must be set in CI (scripts/test.sh sets it)")
		}
		t.Skip("KOYA_TEST_POSTGRES is not set; run scripts/postgres.sh")
	}
	return u
}

// Fresh creates an empty database for this test, drops it when the test
// ends, and returns its URL.
func Fresh(t testing.TB) string {
	t.Helper()
	admin := URL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "koya_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
