package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
	_ "modernc.org/sqlite"
)

// TestSerialWritesShareOneConnection: with SerialWrites, every write
// transaction runs on the same connection, whatever the pool hands to
// readers in between (a temporary table, which only its connection sees,
// made by the first is there in the next).
func TestSerialWritesShareOneConnection(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db")+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s := New(db, Dialect{Name: "sqlite", SerialWrites: true, BusyTimeout: 5 * time.Second, MaxParams: 999,
		Code: func(error) errs.Code { return "" }})
	defer s.Close()
	if err := s.tx(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `CREATE TEMP TABLE mark (n INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// A reader holds the connection the pool would hand out next.
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.tx(ctx, func(q *querier) error {
			_, err := q.exec(ctx, `INSERT INTO temp.mark VALUES (?)`, i)
			return err
		}); err != nil {
			t.Fatalf("write %d ran on another connection: %v", i, err)
		}
		defer c.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
