// Package postgres is koya's production store: PostgreSQL through pgx's
// database/sql driver. Transactions are READ COMMITTED; the engine
// serialises work on a run with LockRun (SELECT ... FOR NO KEY UPDATE) and
// replicas claim wake-ups with SKIP LOCKED.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key replicas take to migrate
// one at a time ("koya" in ASCII).
const migrationLock = 0x6b6f7961

// Dialect is PostgreSQL's.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:     "postgres",
		Numbered: true,
		// NO KEY UPDATE: exclusive among lockers (and UPDATE runs), but no
		// wait for inserts whose foreign keys check the run (KEY SHARE),
		// such as a wake-up from a transaction that does not hold the run.
		LockRun:      `SELECT 1 FROM runs WHERE id = ? FOR NO KEY UPDATE`,
		WritableCTEs: true,
		// Claiming locks a due run, then its wake-up, skipping what another
		// transaction holds: a claimer never waits for a run's lock while
		// holding wake-ups (which a transaction holding that run, waking it,
		// would wait for in turn), and two claimers never get one run.
		ClaimWakeups: `WITH held AS MATERIALIZED (
  SELECT r.id FROM runs r
  WHERE r.id IN (SELECT run_id FROM wakeups WHERE due_at <= ? ORDER BY due_at LIMIT ?)
  FOR NO KEY UPDATE OF r SKIP LOCKED),
due AS MATERIALIZED (
  SELECT w.run_id FROM wakeups w WHERE w.run_id IN (SELECT id FROM held)
  FOR UPDATE OF w SKIP LOCKED)
DELETE FROM wakeups WHERE run_id IN (SELECT run_id FROM due)
RETURNING run_id`,
		// Two-key advisory locks live apart from the one-key migration lock.
		LockLogs:  `SELECT pg_advisory_xact_lock(1, hashtext(?))`,
		MaxParams: 65535,
		Code:      code,
	}
}

// Open connects to the database at url (postgres://user:pass@host/db?...)
// and brings its schema up to date.
func Open(ctx context.Context, url string) (store.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "postgres: bad URL: %v", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "postgres: cannot connect: %v", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Internal, err, "postgres: migrate: %v", err)
	}
	s := sqlstore.New(db, Dialect())
	if err := s.BackfillMetaBits(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Internal, err, "postgres: index the datalake's metadata: %v", err)
	}
	return s, nil
}

// migrate applies the embedded migrations in one transaction under an
// advisory lock, so that replicas starting at once migrate one at a time
// (the later ones find nothing left to do).
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := sqlstore.Migrate(ctx, tx, Dialect(), sub); err != nil {
		return err
	}
	return tx.Commit()
}

// code classifies PostgreSQL's errors by SQLSTATE.
func code(err error) errs.Code {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			return errs.Conflict
		case "23503": // foreign_key_violation
			return errs.NotFound
		case "40001", "40P01", "55P03", "57014": // serialization, deadlock, lock not available, cancelled
			return errs.Unavailable
		}
		return ""
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return errs.Unavailable
	}
	return ""
}
