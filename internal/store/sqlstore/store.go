package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Store is a store.Store over a database/sql handle.
type Store struct {
	querier
	db *sql.DB
	d  *Dialect
	// wlock holds the one write slot when the dialect serialises writes.
	wlock chan struct{}
	// writer is the connection the write slot's transactions run on
	// (SerialWrites), held by whoever holds wlock; nil until first used
	// and after it broke.
	writer *sql.Conn
	now    func() time.Time
	// stmts caches prepared statements by query text when the dialect asks
	// for it (parsing costs SQLite more than running a small statement).
	stmts  sync.Map // string -> *sql.Stmt
	nstmts atomic.Int32
	specs  specCache
}

// maxStmts bounds the statement cache (queries built from filters vary).
const maxStmts = 500

var _ store.Store = (*Store)(nil)

// New wraps db, already migrated, as a Store. Close closes db.
func New(db *sql.DB, d Dialect) *Store {
	s := &Store{db: db, d: &d, wlock: make(chan struct{}, 1), now: time.Now}
	s.querier = querier{s: s, x: db}
	return s
}

// SetClock replaces the clock that stamps creation times left empty by
// callers (tests use it for deterministic times).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) Dialect() string { return s.d.Name }

func (s *Store) Close() error {
	// Back to the pool, to be closed with it, once no transaction runs on
	// it (after BusyTimeout, db.Close closes it when the last one ends).
	if s.d.SerialWrites && s.acquire(context.Background()) == nil {
		if s.writer != nil {
			_ = s.writer.Close()
			s.writer = nil
		}
		<-s.wlock
	}
	s.stmts.Range(func(_, v any) bool {
		_ = v.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// DB is the underlying handle (for tests and tools).
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) Tx(ctx context.Context, fn func(q store.Querier) error) error {
	return s.tx(ctx, func(q *querier) error { return fn(q) })
}

// tx runs fn in one transaction, committed if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(q *querier) error) (err error) {
	if s.d.SerialWrites {
		if err := s.acquire(ctx); err != nil {
			return err
		}
		defer func() { <-s.wlock }()
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return s.wrap(err, "begin transaction")
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // fn failed or panicked
		}
	}()
	if err := fn(&querier{s: s, x: tx, tx: tx}); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return s.wrap(err, "commit transaction")
	}
	return nil
}

// begin starts a transaction. Serialised writes all run on one connection:
// SQLite drops a connection's page cache whenever another connection has
// written since its last transaction, so that transactions handed out
// round the pool re-read (and re-parse) every page they touch; on the one
// writer's connection the pages its last transaction left stay valid.
// Called with the write slot held, when writes are serialised.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	if !s.d.SerialWrites {
		return s.db.BeginTx(ctx, nil)
	}
	if s.writer == nil {
		// Not cancelled with ctx: the connection outlives this call.
		c, err := s.db.Conn(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		s.writer = c
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		// Broken: the next transaction takes another connection.
		_ = s.writer.Close()
		s.writer = nil
	}
	return tx, err
}

// acquire takes the process's write slot, waiting at most BusyTimeout (a
// write issued on the Store while the same goroutine holds a transaction
// would otherwise wait forever).
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.wlock <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(s.d.BusyTimeout)
	defer timer.Stop()
	select {
	case s.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "waiting for the database: %v", ctx.Err())
	case <-timer.C:
		return errs.E(errs.Unavailable, "the database is busy (no write slot within %s); try again", s.d.BusyTimeout)
	}
}

// wrap turns a driver error into koya's vocabulary; what names the object
// or operation ("run \"x\"").
func (s *Store) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	what := fmt.Sprintf(format, args...)
	switch s.d.Code(err) {
	case errs.Conflict:
		return errs.Wrap(errs.Conflict, err, "%s already exists", what)
	case errs.NotFound:
		return errs.Wrap(errs.NotFound, err, "%s refers to something that does not exist", what)
	case errs.Unavailable:
		return errs.Wrap(errs.Unavailable, err, "%s: the database is busy; try again", what)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, "%s: %v", what, err)
	}
	return errs.Wrap(errs.Internal, err, "%s: database error", what)
}

// conn is what *sql.DB and *sql.Tx share.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs store.Querier's methods on the database (autocommit) or in a
// transaction (tx set).
type querier struct {
	s  *Store
	x  conn
	tx *sql.Tx
}

var _ store.Querier = (*querier)(nil)

// stmt is the cached prepared statement for query (nil: run it unprepared).
func (q *querier) stmt(ctx context.Context, query string) *sql.Stmt {
	s := q.s
	if !s.d.PrepareStatements {
		return nil
	}
	v, ok := s.stmts.Load(query)
	if !ok {
		if s.nstmts.Load() >= maxStmts {
			return nil
		}
		st, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil // the unprepared path reports the error
		}
		if v, ok = s.stmts.LoadOrStore(query, st); ok {
			st.Close()
		} else {
			v = st
			s.nstmts.Add(1)
		}
	}
	st := v.(*sql.Stmt)
	if q.tx != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return st
}

func (q *querier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = q.s.d.rebind(query)
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.x.ExecContext(ctx, query, args...)
}

// execOnce runs a statement not worth caching (a multi-row INSERT).
func (q *querier) execOnce(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.x.ExecContext(ctx, q.s.d.rebind(query), args...)
}

func (q *querier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = q.s.d.rebind(query)
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.x.QueryContext(ctx, query, args...)
}

func (q *querier) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = q.s.d.rebind(query)
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.x.QueryRowContext(ctx, query, args...)
}

// atomic runs fn, made of several statements, as one unit: in the current
// transaction, or in a new one.
func (q *querier) atomic(ctx context.Context, fn func(q *querier) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.s.tx(ctx, fn)
}

// write runs fn, one writing statement: directly, unless writes outside a
// transaction must take the process's write slot too.
func (q *querier) write(ctx context.Context, fn func(q *querier) error) error {
	if q.tx != nil || !q.s.d.SerialWrites {
		return fn(q)
	}
	return q.s.tx(ctx, fn)
}

// affected reports whether res changed a row; a missing row is notFound.
func affected(res sql.Result, notFound func() error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

// placeholders is "(?, ?, ?)" for n columns.
func placeholders(n int) string {
	b := make([]byte, 0, 3*n+1)
	b = append(b, '(')
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '?')
	}
	return string(append(b, ')'))
}

// chunkRows is how many rows of cols columns one INSERT may carry.
func (q *querier) chunkRows(cols int) int {
	n := q.s.d.MaxParams / cols
	if n > 500 {
		n = 500
	}
	if n < 1 {
		n = 1
	}
	return n
}
