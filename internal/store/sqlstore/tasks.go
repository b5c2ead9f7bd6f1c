package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func taskNotFound(runID, step string, index int) error {
	return errs.E(errs.NotFound, "task %d of step %q of run %q not found", index, step, runID)
}

const taskInsertCols = 16

// InsertTasks inserts tasks with multi-row INSERTs, chunked to stay under
// the database's parameter limit, all in one transaction.
func (q *querier) InsertTasks(ctx context.Context, ts []store.Task) error {
	if len(ts) == 0 {
		return nil
	}
	d := q.s.d
	return q.atomic(ctx, func(q *querier) error {
		rows := q.chunkRows(taskInsertCols)
		for len(ts) > 0 {
			n := min(len(ts), rows)
			var b strings.Builder
			b.Grow(200 + n*(taskInsertCols*3+4))
			b.WriteString(`INSERT INTO tasks (run_id, step, idx, item, phase, manifest, cache_key, attempts, retry_base, next_at,
  exit, outputs, message, backend, started_at, finished_at) VALUES `)
			args := make([]any, 0, n*taskInsertCols)
			row := placeholders(taskInsertCols)
			for i := range ts[:n] {
				t := &ts[i]
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(row)
				manifest, err := jsonArg(t.Manifest)
				if err != nil {
					return errs.Wrap(errs.Invalid, err, "task %d of step %q: manifest: %v", t.Index, t.Step, err)
				}
				exit, outputs, err := resultArgs(t.Exit, t.Outputs)
				if err != nil {
					return errs.Wrap(errs.Invalid, err, "task %d of step %q: %v", t.Index, t.Step, err)
				}
				args = append(args, t.RunID, t.Step, t.Index, rawArg(t.Item), string(t.Phase), manifest, t.CacheKey,
					t.Attempts, t.RetryBase, d.timePtrArg(t.NextAt), exit, outputs, t.Message, t.Backend,
					d.timePtrArg(t.StartedAt), d.timePtrArg(t.FinishedAt))
			}
			if _, err := q.execOnce(ctx, b.String(), args...); err != nil {
				return q.s.wrap(err, "a task of run %q", ts[0].RunID)
			}
			ts = ts[n:]
		}
		return nil
	})
}

// resultArgs encodes an exit and outputs (NULL when absent).
func resultArgs(exit *v1.Exit, outputs map[string]v1.Output) (any, any, error) {
	e, err := jsonNullArg(exit, exit == nil)
	if err != nil {
		return nil, nil, err
	}
	o, err := jsonNullArg(outputs, outputs == nil)
	return e, o, err
}

const taskCols = `t.run_id, t.step, t.idx, t.item, t.phase, t.manifest, t.cache_key, t.attempts, t.retry_base, t.next_at,
  t.exit, t.outputs, t.message, t.backend, t.started_at, t.finished_at`

func scanTask(sc interface{ Scan(...any) error }) (store.Task, error) {
	var t store.Task
	err := sc.Scan(&t.RunID, &t.Step, &t.Index, jsonCol{&t.Item}, &t.Phase, jsonCol{&t.Manifest}, &t.CacheKey,
		&t.Attempts, &t.RetryBase, nullTimeCol{&t.NextAt}, jsonCol{&t.Exit}, jsonCol{&t.Outputs}, &t.Message, &t.Backend,
		nullTimeCol{&t.StartedAt}, nullTimeCol{&t.FinishedAt})
	return t, err
}

func (q *querier) GetTask(ctx context.Context, runID, step string, index int) (store.Task, error) {
	t, err := scanTask(q.queryRow(ctx, `SELECT `+taskCols+` FROM tasks t WHERE t.run_id = ? AND t.step = ? AND t.idx = ?`,
		runID, step, index))
	if errors.Is(err, sql.ErrNoRows) {
		return t, taskNotFound(runID, step, index)
	}
	return t, q.s.wrap(err, "task %d of step %q of run %q", index, step, runID)
}

// ListTasks returns tasks ordered by (step position, index).
func (q *querier) ListTasks(ctx context.Context, f store.TaskFilter) ([]store.Task, error) {
	var b strings.Builder
	args := []any{f.RunID}
	b.WriteString(`SELECT ` + taskCols + ` FROM tasks t`)
	if f.Step == "" {
		b.WriteString(` JOIN steps s ON s.run_id = t.run_id AND s.name = t.step`)
	}
	b.WriteString(` WHERE t.run_id = ?`)
	if f.Step != "" {
		b.WriteString(` AND t.step = ?`)
		args = append(args, f.Step)
	}
	if len(f.Phases) > 0 {
		b.WriteString(` AND t.phase IN (`)
		for i, p := range f.Phases {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			args = append(args, string(p))
		}
		b.WriteByte(')')
	}
	if f.DueBy != nil {
		b.WriteString(` AND (t.phase <> ? OR t.next_at IS NULL OR t.next_at <= ?)`)
		args = append(args, string(v1.Pending), q.s.d.timeArg(*f.DueBy))
	}
	if f.FromIndex > 0 {
		b.WriteString(` AND t.idx >= ?`)
		args = append(args, f.FromIndex)
	}
	if f.Step == "" {
		b.WriteString(` ORDER BY s.position, t.idx`)
	} else {
		b.WriteString(` ORDER BY t.idx`)
	}
	if f.Limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, q.s.wrap(err, "tasks of run %q", f.RunID)
	}
	defer rows.Close()
	var out []store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, q.s.wrap(err, "tasks of run %q", f.RunID)
		}
		out = append(out, t)
	}
	return out, q.s.wrap(rows.Err(), "tasks of run %q", f.RunID)
}

func (q *querier) UpdateTask(ctx context.Context, t store.Task) error {
	d := q.s.d
	exit, outputs, err := resultArgs(t.Exit, t.Outputs)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "task %d of step %q: %v", t.Index, t.Step, err)
	}
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE tasks SET phase = ?, attempts = ?, retry_base = ?, next_at = ?, exit = ?, outputs = ?,
  message = ?, backend = ?, started_at = ?, finished_at = ?
WHERE run_id = ? AND step = ? AND idx = ?`,
			string(t.Phase), t.Attempts, t.RetryBase, d.timePtrArg(t.NextAt), exit, outputs, t.Message, t.Backend,
			d.timePtrArg(t.StartedAt), d.timePtrArg(t.FinishedAt), t.RunID, t.Step, t.Index)
		if err != nil {
			return q.s.wrap(err, "task %d of step %q of run %q", t.Index, t.Step, t.RunID)
		}
		return affected(res, func() error { return taskNotFound(t.RunID, t.Step, t.Index) })
	})
}

func (q *querier) EarliestRetry(ctx context.Context, runID string, after time.Time) (*time.Time, error) {
	var next *time.Time
	err := q.queryRow(ctx, `SELECT MIN(next_at) FROM tasks WHERE run_id = ? AND phase = ? AND next_at > ?`,
		runID, string(v1.Pending), q.s.d.timeArg(after)).Scan(nullTimeCol{&next})
	return next, q.s.wrap(err, "retries of run %q", runID)
}

// CountTasks reads the counts the database keeps as tasks change.
func (q *querier) CountTasks(ctx context.Context, runID string, steps ...string) (map[string]map[v1.Phase]int, error) {
	query, args := `SELECT step, phase, n FROM task_counts WHERE run_id = ? AND n > 0`, []any{runID}
	if len(steps) > 0 {
		query += ` AND step IN ` + placeholders(len(steps))
		for _, s := range steps {
			args = append(args, s)
		}
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "count tasks of run %q", runID)
	}
	defer rows.Close()
	out := map[string]map[v1.Phase]int{}
	for rows.Next() {
		var step, phase string
		var n int
		if err := rows.Scan(&step, &phase, &n); err != nil {
			return nil, q.s.wrap(err, "count tasks of run %q", runID)
		}
		if out[step] == nil {
			out[step] = map[v1.Phase]int{}
		}
		out[step][v1.Phase(phase)] = n
	}
	return out, q.s.wrap(rows.Err(), "count tasks of run %q", runID)
}
