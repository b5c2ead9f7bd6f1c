package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func attemptNotFound(id string) error { return errs.E(errs.NotFound, "attempt %q not found", id) }

func (q *querier) InsertAttempt(ctx context.Context, a store.Attempt) error {
	if a.ID == "" {
		return errs.E(errs.Invalid, "an attempt needs an id")
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = q.s.now()
	}
	exit, outputs, err := resultArgs(a.Exit, a.Outputs)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "attempt %q: %v", a.ID, err)
	}
	d := q.s.d
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO attempts (id, project, run_id, step, idx, number, phase, backend, reason, handle,
  last_seq, exit, outputs, owner, heartbeat_at, deadline, created_at, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Project, a.RunID, a.Step, a.Index, a.Number, string(a.Phase), a.Backend, a.Reason, rawArg(a.Handle),
			a.LastSeq, exit, outputs, a.Owner, d.timePtrArg(a.HeartbeatAt), d.timePtrArg(a.Deadline),
			d.timeArg(a.CreatedAt), d.timePtrArg(a.StartedAt), d.timePtrArg(a.FinishedAt))
		return q.s.wrap(err, "attempt %q", a.ID)
	})
}

const attemptCols = `id, project, run_id, step, idx, number, phase, backend, reason, handle, last_seq, exit, outputs, owner,
  heartbeat_at, deadline, created_at, started_at, finished_at`

func scanAttempt(sc interface{ Scan(...any) error }) (store.Attempt, error) {
	var a store.Attempt
	err := sc.Scan(&a.ID, &a.Project, &a.RunID, &a.Step, &a.Index, &a.Number, &a.Phase, &a.Backend, &a.Reason,
		jsonCol{&a.Handle}, &a.LastSeq, jsonCol{&a.Exit}, jsonCol{&a.Outputs}, &a.Owner,
		nullTimeCol{&a.HeartbeatAt}, nullTimeCol{&a.Deadline}, timeCol{&a.CreatedAt}, nullTimeCol{&a.StartedAt},
		nullTimeCol{&a.FinishedAt})
	return a, err
}

func (q *querier) GetAttempt(ctx context.Context, id string) (store.Attempt, error) {
	a, err := scanAttempt(q.queryRow(ctx, `SELECT `+attemptCols+` FROM attempts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, attemptNotFound(id)
	}
	return a, q.s.wrap(err, "attempt %q", id)
}

// attemptWhere is the WHERE clause of f (empty: every attempt).
func attemptWhere(f store.AttemptFilter) (string, []any) {
	var where []string
	var args []any
	if f.RunID != "" {
		where = append(where, "run_id = ?")
		args = append(args, f.RunID)
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN "+placeholders(len(f.IDs)))
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.Phases) > 0 {
		in := make([]string, len(f.Phases))
		for i, p := range f.Phases {
			in[i] = "?"
			args = append(args, string(p))
		}
		where = append(where, "phase IN ("+strings.Join(in, ", ")+")")
	}
	if len(where) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(where, " AND "), args
}

// ListAttempts returns attempts in creation order.
func (q *querier) ListAttempts(ctx context.Context, f store.AttemptFilter) ([]store.Attempt, error) {
	where, args := attemptWhere(f)
	query := `SELECT ` + attemptCols + ` FROM attempts` + where + ` ORDER BY created_at, id`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list attempts")
	}
	defer rows.Close()
	var out []store.Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list attempts")
		}
		out = append(out, a)
	}
	return out, q.s.wrap(rows.Err(), "list attempts")
}

func (q *querier) CountAttempts(ctx context.Context, f store.AttemptFilter) (int, error) {
	where, args := attemptWhere(f)
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM attempts`+where, args...).Scan(&n)
	return n, q.s.wrap(err, "count attempts")
}

// UpdateAttempt writes the attempt's mutable fields; with ifPhase set, only
// if the stored phase is ifPhase (false, nil when it is not).
func (q *querier) UpdateAttempt(ctx context.Context, a store.Attempt, ifPhase v1.Phase) (bool, error) {
	exit, outputs, err := resultArgs(a.Exit, a.Outputs)
	if err != nil {
		return false, errs.Wrap(errs.Invalid, err, "attempt %q: %v", a.ID, err)
	}
	d := q.s.d
	query := `UPDATE attempts SET phase = ?, handle = ?, last_seq = ?, exit = ?, outputs = ?, heartbeat_at = ?, deadline = ?,
  started_at = ?, finished_at = ?, owner = ? WHERE id = ?`
	args := []any{string(a.Phase), rawArg(a.Handle), a.LastSeq, exit, outputs, d.timePtrArg(a.HeartbeatAt),
		d.timePtrArg(a.Deadline), d.timePtrArg(a.StartedAt), d.timePtrArg(a.FinishedAt), a.Owner, a.ID}
	if ifPhase != "" {
		query += ` AND phase = ?`
		args = append(args, string(ifPhase))
	}
	updated := false
	err = q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, query, args...)
		if err != nil {
			return q.s.wrap(err, "attempt %q", a.ID)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return q.s.wrap(err, "attempt %q", a.ID)
		}
		if n > 0 {
			updated = true
			return nil
		}
		// Nothing written: a missing attempt, or (with ifPhase) another phase.
		var one int
		err = q.queryRow(ctx, `SELECT 1 FROM attempts WHERE id = ?`, a.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return attemptNotFound(a.ID)
		}
		return q.s.wrap(err, "attempt %q", a.ID)
	})
	return updated, err
}
