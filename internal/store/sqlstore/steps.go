package sqlstore

import (
	"context"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// ListSteps returns a run's steps by Position. A run without steps (or no
// run) gives an empty list.
func (q *querier) ListSteps(ctx context.Context, runID string) ([]store.Step, error) {
	rows, err := q.query(ctx, `SELECT run_id, name, position, phase, expanded, items, message, backend, started_at, finished_at
FROM steps WHERE run_id = ? ORDER BY position`, runID)
	if err != nil {
		return nil, q.s.wrap(err, "steps of run %q", runID)
	}
	defer rows.Close()
	var out []store.Step
	for rows.Next() {
		var s store.Step
		if err := rows.Scan(&s.RunID, &s.Name, &s.Position, &s.Phase, &s.Expanded, &s.Items, &s.Message, &s.Backend,
			nullTimeCol{&s.StartedAt}, nullTimeCol{&s.FinishedAt}); err != nil {
			return nil, q.s.wrap(err, "steps of run %q", runID)
		}
		out = append(out, s)
	}
	return out, q.s.wrap(rows.Err(), "steps of run %q", runID)
}

func (q *querier) UpdateStep(ctx context.Context, s store.Step) error {
	d := q.s.d
	const bump = `UPDATE runs SET steps_version = steps_version + 1 WHERE id = ?`
	const update = `UPDATE steps SET phase = ?, expanded = ?, items = ?, message = ?, backend = ?, started_at = ?, finished_at = ?
WHERE run_id = ? AND name = ?`
	args := []any{string(s.Phase), s.Expanded, s.Items, s.Message, s.Backend,
		d.timePtrArg(s.StartedAt), d.timePtrArg(s.FinishedAt), s.RunID, s.Name}
	return q.write(ctx, func(q *querier) error {
		// The run's steps version first: if the two were ever apart, a
		// reader would reload step rows it need not, never keep stale ones.
		// Where one statement can do both, it does (one round trip).
		query, all := update, args
		if d.WritableCTEs {
			query, all = `WITH bump AS (`+bump+` RETURNING 1) `+update, append([]any{s.RunID}, args...)
		} else if _, err := q.exec(ctx, bump, s.RunID); err != nil {
			return q.s.wrap(err, "run %q", s.RunID)
		}
		res, err := q.exec(ctx, query, all...)
		if err != nil {
			return q.s.wrap(err, "step %q of run %q", s.Name, s.RunID)
		}
		return affected(res, func() error { return errs.E(errs.NotFound, "step %q of run %q not found", s.Name, s.RunID) })
	})
}
