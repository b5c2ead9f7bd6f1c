package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlite"
	"github.com/koya-dev/koya/internal/store/sqlstore"
	"github.com/koya-dev/koya/internal/store/storetest"
)

func open(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestReopen: migrations are recorded, so opening an existing file again
// applies nothing and keeps the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "koya.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Wake(ctx, "nope", time.Now()); err == nil {
		t.Fatal("Wake of a missing run: foreign keys are not enforced")
	}
	if err := s.CreateToken(ctx, store.Token{ID: "t", Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s, err = sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTokenByHash(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// TestAuditAppendOnly: the database itself refuses to change or remove
// audit entries.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	seq, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "alice", Project: "p", Action: "member.add", Outcome: store.AuditOK})
	if err != nil {
		t.Fatal(err)
	}
	db := s.(interface{ DB() *sql.DB }).DB()
	for _, stmt := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE seq = 1`,
		`INSERT OR REPLACE INTO audit (seq, time, actor, project, action, object, outcome, detail)
  VALUES (1, 0, 'mallory', 'p', 'member.add', '', 'ok', '')`,
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
	path := filepath.Join(t.TempDir(), "koya.db")
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, tx, sqlite.Dialect(), fstest.MapFS{"0001_init.sql": {Data: init}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, hash, subject, admin, project, attempt_id, expires_at, revoked, created_at)
VALUES ('t1', 'h1', 'alice', 0, '', '', NULL, 0, 3), ('t2', 'h2', 'alice', 1, 'p', '', NULL, 1, 2),
  ('t3', 'h3', 'bob', 0, '', '', NULL, 0, 5), ('a1', 'h4', 'attempt:a1', 1, 'p', 'a1', NULL, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.ListPrincipals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Principal{
		{Name: "alice", Kind: store.KindUser, Admin: true, CreatedAt: time.UnixMicro(2).UTC()},
		{Name: "bob", Kind: store.KindUser, CreatedAt: time.UnixMicro(5).UTC()},
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

// The database and its WAL files are readable by their owner only.
func TestFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koya.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// TestDatalakeAcrossChunks runs the datalake query suites on files whose
// internal ids straddle a bitmap chunk (a placeholder file takes the id
// before the first).
func TestDatalakeAcrossChunks(t *testing.T) {
	s := open(t)
	storetest.DatalakeAcrossChunks(t, s, func(t *testing.T, fid int64) {
		ctx := context.Background()
		if _, err := s.PutChannel(ctx, store.Channel{Project: "placeholder", Name: "p"}); err != nil {
			t.Fatal(err)
		}
		_, err := s.(interface{ DB() *sql.DB }).DB().ExecContext(ctx, `INSERT INTO files (fid, id, cid, project, channel, path, content_type, size, digest, ref, meta, version, created_at, updated_at)
SELECT ?, 'f-placeholder', cid, project, name, 'p', '', 0, '', '', '{}', 1, 0, 0 FROM channels WHERE project = 'placeholder'`, fid-1)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestBackfillMetaBits: a database whose files were written before the
// metadata bitmaps existed (none, and migration 0009's mark) gets them
// when opened.
func TestBackfillMetaBits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koya.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutChannel(ctx, store.Channel{Project: "p", Name: "c"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		meta := fmt.Sprintf(`{"label": "l%d", "n": %d}`, i%3, i)
		if _, _, err := s.PutFile(ctx, store.File{Project: "p", Channel: "c", Path: fmt.Sprintf("f%d", i), Meta: []byte(meta)}); err != nil {
			t.Fatal(err)
		}
	}
	db := s.(interface{ DB() *sql.DB }).DB()
	if _, err := db.ExecContext(ctx, `DELETE FROM meta_bits; INSERT INTO meta_bits_pending VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	v := s.(interface{ VerifyMetaBits(context.Context) error })
	if err := v.VerifyMetaBits(ctx); err == nil {
		t.Fatal("VerifyMetaBits found nothing wrong with the bitmaps deleted")
	}
	s.Close()
	if s, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.(interface{ VerifyMetaBits(context.Context) error }).VerifyMetaBits(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := query.Parse(`label = "l1" and n >= 10`)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.FindFiles(ctx, store.FileQuery{Project: "p", Channel: "c", Where: e})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range page.Files {
		got = append(got, f.Path)
	}
	if strings.Join(got, " ") != "f10 f13 f16 f19" {
		t.Fatalf("after the backfill, label = l1 and n >= 10 = %v", got)
	}
}
