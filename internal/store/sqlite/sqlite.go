// Package sqlite is koya's embedded store: one SQLite file through
// modernc.org/sqlite (pure Go, so the binary stays static).
//
// The database runs in WAL mode with synchronous=NORMAL; transactions take
// the write lock at BEGIN (BEGIN IMMEDIATE) so that concurrent writers queue
// rather than fail, and writers of one process queue in Go before that.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a writer waits for another process's write lock.
const busyTimeout = 10 * time.Second

// Dialect is SQLite's: ? placeholders, integer-microsecond times, writers
// serialised (LockRun only checks that the run exists).
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:         "sqlite",
		TimeAsMicros: true,
		LockRun:      `SELECT 1 FROM runs WHERE id = ?`,
		ClaimWakeups: `DELETE FROM wakeups WHERE run_id IN (
  SELECT run_id FROM wakeups WHERE due_at <= ? ORDER BY due_at LIMIT ?)
RETURNING run_id`,
		SerialWrites:      true,
		PrepareStatements: true,
		BusyTimeout:       busyTimeout,
		MaxParams:         32766,
		Code:              code,
	}
}

// Open opens (creating it and its directory if needed) the database file at
// path and brings its schema up to date.
func Open(ctx context.Context, path string) (store.Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.Contains(path, ":memory:") {
		return nil, errs.E(errs.Invalid, "sqlite: %q is not a usable database file (in tests, use a file under t.TempDir())", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sqlite: create the directory of %s: %v", path, err)
	}
	// The database is its owner's only (SQLite would make it 0644), and
	// SQLite gives its -wal and -shm files the database's mode: the data
	// directory may be traversable by task users (see backend/local).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = f.Chmod(0o600)
		f.Close()
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sqlite: create %s: %v", path, err)
	}
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_busy_timeout", strconv.Itoa(int(busyTimeout/time.Millisecond)))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	// No checkpoints on commit: a background goroutine runs them (below).
	q.Add("_pragma", "wal_autocheckpoint(0)")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sqlite: open %s: %v", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Internal, err, "sqlite: migrate %s: %v", path, err)
	}
	st := &Store{Store: sqlstore.New(db, Dialect()), stop: make(chan struct{}), done: make(chan struct{})}
	if err := st.Store.BackfillMetaBits(ctx, ""); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Internal, err, "sqlite: index the metadata of %s: %v", path, err)
	}
	go st.checkpoints()
	return st, nil
}

// Store is the SQLite store: sqlstore's, plus the WAL checkpointer.
type Store struct {
	*sqlstore.Store
	stop, done chan struct{}
	closeOnce  sync.Once
}

// checkpointEvery is how often the WAL is copied back into the database.
// Checkpointing here rather than in the commit that crosses SQLite's
// threshold keeps its writes and fsync off the one writer's critical path.
const checkpointEvery = 250 * time.Millisecond

func (s *Store) checkpoints() {
	defer close(s.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// PASSIVE: copies what no reader still needs, never blocks
			// writers or readers. Errors (a busy database) are retried
			// on the next tick.
			_, _ = s.DB().Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// Close stops the checkpointer and closes the database (SQLite checkpoints
// the rest and removes the WAL when the last connection closes).
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.Store.Close()
}

// migrate applies the embedded migrations in one immediate transaction, so
// that processes opening the file at once apply them one after the other.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := sqlstore.Migrate(ctx, tx, Dialect(), sub); err != nil {
		return err
	}
	return tx.Commit()
}

// code classifies SQLite's errors.
func code(err error) errs.Code {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return errs.Conflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return errs.NotFound
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return errs.Unavailable
	}
	return ""
}
