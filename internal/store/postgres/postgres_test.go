package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/sqlstore"
	"github.com/koya-dev/koya/internal/store/storetest"
)

// TestConformance runs the suite against KOYA_TEST_POSTGRES, each subtest
// in a database of its own (skipped without a server, failed in CI).
func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.Fresh(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConcurrentMigrations: replicas opening one empty database at once all
// succeed (the advisory lock makes them migrate one after the other).
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.Fresh(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestAuditAppendOnly: the database itself refuses to change or remove
// audit entries.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seq, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "alice", Project: "p", Action: "member.add", Outcome: store.AuditOK})
	if err != nil {
		t.Fatal(err)
	}
	db := s.(interface{ DB() *sql.DB }).DB()
	for _, stmt := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE seq = 1`,
		`TRUNCATE audit`,
	} {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "audit log is append-only") {
			t.Fatalf("%s: error %v, want the audit log refusing", stmt, err)
		}
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Seq != seq || list[0].Actor != "alice" {
		t.Fatalf("audit log after refused changes = %+v", list)
	}
}

// TestIdentityMigration: a database of the first schema gets a principal
// for every subject of its user tokens, an admin if any token was.
func TestIdentityMigration(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Fresh(t)
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, tx, postgres.Dialect(), fstest.MapFS{"0001_init.sql": {Data: init}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, hash, subject, admin, project, attempt_id, expires_at, revoked, created_at)
VALUES ('t1', 'h1', 'alice', false, '', '', NULL, false, '2026-01-01T00:00:03Z'),
  ('t2', 'h2', 'alice', true, 'p', '', NULL, true, '2026-01-01T00:00:02Z'),
  ('t3', 'h3', 'bob', false, '', '', NULL, false, '2026-01-01T00:00:05Z'),
  ('a1', 'h4', 'attempt:a1', true, 'p', 'a1', NULL, false, '2026-01-01T00:00:01Z')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.ListPrincipals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC) }
	want := []store.Principal{
		{Name: "alice", Kind: store.KindUser, Admin: true, CreatedAt: at(2)},
		{Name: "bob", Kind: store.KindUser, CreatedAt: at(5)},
	}
	if len(list) != len(want) || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("principals after migration = %+v, want %+v", list, want)
	}
	tok, err := s.GetToken(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Description != "" || tok.Subject != "alice" {
		t.Fatalf("token after migration = %+v", tok)
	}
}

// TestDatalakeAcrossChunks runs the datalake query suites on files whose
// internal ids straddle a bitmap chunk (the id sequence moved ahead).
func TestDatalakeAcrossChunks(t *testing.T) {
	pgtest.URL(t)
	s, err := postgres.Open(context.Background(), pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.DatalakeAcrossChunks(t, s, func(t *testing.T, fid int64) {
		_, err := s.(interface{ DB() *sql.DB }).DB().ExecContext(context.Background(),
			`SELECT setval(pg_get_serial_sequence('files', 'fid'), $1)`, fid-1)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkPutFile: files/s of PutFile with datalake-like metadata.
func BenchmarkPutFile(b *testing.B) {
	s, err := postgres.Open(context.Background(), pgtest.Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchPutFile(b, s)
}
