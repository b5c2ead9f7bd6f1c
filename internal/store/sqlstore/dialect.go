// Package sqlstore is the one implementation of store.Store over
// database/sql. The SQLite and PostgreSQL packages open a database, apply
// their own migrations and hand it over with a Dialect: the few places where
// the two databases differ.
package sqlstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
)

// Dialect is what sqlstore needs to know about a database.
type Dialect struct {
	// Name is what Store.Dialect reports ("sqlite", "postgres").
	Name string
	// Numbered placeholders ($1, $2, ...) instead of ?. Queries are written
	// with ? and rebound.
	Numbered bool
	// TimeAsMicros stores times as integer microseconds since the Unix epoch
	// (SQLite has no time type); otherwise times are passed as time.Time to a
	// TIMESTAMPTZ column.
	TimeAsMicros bool
	// LockRun takes the row lock of the run whose id is its one argument and
	// returns a row if the run exists (SELECT ... FOR UPDATE on PostgreSQL; a
	// plain existence check where transactions are already exclusive).
	LockRun string
	// ClaimWakeups deletes and returns (RETURNING run_id) up to limit (its
	// second argument) wake-ups due at or before its first argument.
	ClaimWakeups string
	// LockLogs, if set, is run with a run id before appending its log lines,
	// so that within a run cursors are assigned in commit order and a reader
	// paging by cursor never skips a line committed late.
	LockLogs string
	// WritableCTEs: a statement may write in its WITH clause too
	// (PostgreSQL), so two updates that always go together cost one round
	// trip.
	WritableCTEs bool
	// SerialWrites makes the process run one write transaction at a time
	// (SQLite has one writer: queueing in Go hands the lock over at once
	// instead of sleeping in the busy handler). BusyTimeout bounds the wait.
	SerialWrites bool
	BusyTimeout  time.Duration
	// PrepareStatements caches prepared statements (the driver does not).
	PrepareStatements bool
	// MaxParams is the most bound parameters one statement may carry.
	MaxParams int
	// Code classifies a driver error: errs.Conflict for a unique violation,
	// errs.NotFound for a foreign-key violation, errs.Unavailable for a busy
	// database or a deadlock, "" for anything else.
	Code func(error) errs.Code
}

// rebind rewrites ? placeholders for the dialect.
func (d *Dialect) rebind(query string) string {
	if !d.Numbered || strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// timeArg is how the dialect stores t: UTC, microsecond precision.
func (d *Dialect) timeArg(t time.Time) any {
	if d.TimeAsMicros {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timePtrArg is timeArg for an optional time (NULL when nil).
func (d *Dialect) timePtrArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}
