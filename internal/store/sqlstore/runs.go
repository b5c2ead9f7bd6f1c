package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func runNotFound(id string) error { return errs.E(errs.NotFound, "run %q not found", id) }

// CreateRun inserts the run (its Seq assigned here) and its steps.
func (q *querier) CreateRun(ctx context.Context, r store.Run, steps []store.Step) error {
	if r.ID == "" || r.Project == "" {
		return errs.E(errs.Invalid, "a run needs an id and a project")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = q.s.now()
	}
	params, err := jsonNullArg(r.Params, r.Params == nil)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "run %q: params: %v", r.ID, err)
	}
	d := q.s.d
	return q.atomic(ctx, func(q *querier) error {
		spec, err := q.putSpec(ctx, r.Spec)
		if err != nil {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO runs (id, project, workflow, workflow_version, spec_digest, params, phase, message,
  cancel_requested, retry_of, created_at, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Project, r.Workflow, r.WorkflowVersion, spec, params, string(r.Phase), r.Message,
			r.CancelRequested, r.RetryOf, d.timeArg(r.CreatedAt), d.timePtrArg(r.StartedAt), d.timePtrArg(r.FinishedAt)); err != nil {
			return q.s.wrap(err, "run %q", r.ID)
		}
		return q.insertSteps(ctx, r.ID, steps)
	})
}

const stepCols = 10

func (q *querier) insertSteps(ctx context.Context, runID string, steps []store.Step) error {
	d := q.s.d
	for len(steps) > 0 {
		n := min(len(steps), q.chunkRows(stepCols))
		var b strings.Builder
		b.WriteString(`INSERT INTO steps (run_id, name, position, phase, expanded, items, message, backend, started_at, finished_at) VALUES `)
		args := make([]any, 0, n*stepCols)
		row := placeholders(stepCols)
		for i, s := range steps[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, runID, s.Name, s.Position, string(s.Phase), s.Expanded, s.Items, s.Message, s.Backend,
				d.timePtrArg(s.StartedAt), d.timePtrArg(s.FinishedAt))
		}
		if _, err := q.execOnce(ctx, b.String(), args...); err != nil {
			return q.s.wrap(err, "a step of run %q", runID)
		}
		steps = steps[n:]
	}
	return nil
}

const runCols = `seq, id, project, workflow, workflow_version, spec_digest, params, phase, message, cancel_requested, retry_of,
  created_at, started_at, finished_at, steps_version`

// scanRun scans a row of runCols; the spec is resolved from its digest
// afterwards.
func scanRun(sc interface{ Scan(...any) error }) (store.Run, string, error) {
	var r store.Run
	var digest string
	err := sc.Scan(&r.Seq, &r.ID, &r.Project, &r.Workflow, &r.WorkflowVersion, &digest, jsonCol{&r.Params},
		&r.Phase, &r.Message, &r.CancelRequested, &r.RetryOf,
		timeCol{&r.CreatedAt}, nullTimeCol{&r.StartedAt}, nullTimeCol{&r.FinishedAt}, &r.StepsVersion)
	return r, digest, err
}

func (q *querier) GetRun(ctx context.Context, id string) (store.Run, error) {
	r, digest, err := scanRun(q.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, runNotFound(id)
	}
	if err != nil {
		return r, q.s.wrap(err, "run %q", id)
	}
	specs, err := q.specs(ctx, digest)
	if err != nil {
		return r, err
	}
	r.Spec = specs[digest]
	return r, nil
}

// ListRuns returns runs newest first (by Seq).
func (q *querier) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	if f.Project == "" && !f.AllProjects {
		return nil, errs.E(errs.Invalid, "listing runs needs a project")
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Project != "" {
		add("project = ?", f.Project)
	}
	if f.Workflow != "" {
		add("workflow = ?", f.Workflow)
	}
	if f.Phase != "" {
		add("phase = ?", string(f.Phase))
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + runCols + ` FROM runs`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list runs")
	}
	defer rows.Close()
	var out []store.Run
	var digests []string
	for rows.Next() {
		r, digest, err := scanRun(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list runs")
		}
		out = append(out, r)
		digests = append(digests, digest)
	}
	if err := rows.Err(); err != nil {
		return nil, q.s.wrap(err, "list runs")
	}
	rows.Close() // before the next query: a transaction has one connection
	if len(out) == 0 {
		return out, nil
	}
	specs, err := q.specs(ctx, digests...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Spec = specs[digests[i]]
	}
	return out, nil
}

func (q *querier) UpdateRun(ctx context.Context, r store.Run) error {
	d := q.s.d
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE runs SET phase = ?, message = ?, cancel_requested = ?, started_at = ?, finished_at = ?
WHERE id = ?`, string(r.Phase), r.Message, r.CancelRequested, d.timePtrArg(r.StartedAt), d.timePtrArg(r.FinishedAt), r.ID)
		if err != nil {
			return q.s.wrap(err, "run %q", r.ID)
		}
		return affected(res, func() error { return runNotFound(r.ID) })
	})
}

func (q *querier) LockRun(ctx context.Context, id string) error {
	var one int
	err := q.queryRow(ctx, q.s.d.LockRun, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return runNotFound(id)
	}
	return q.s.wrap(err, "lock run %q", id)
}
