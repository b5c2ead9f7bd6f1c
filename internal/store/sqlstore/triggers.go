package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Triggers: one row per trigger (spec as canonical JSON); the queue and
// the schedules' slots are in triggers_queue.go.

func triggerNotFound(project, name string) error {
	return errs.E(errs.NotFound, "trigger %q not found in project %q", name, project)
}

// PutTrigger creates a trigger or replaces its spec and labels, keeping
// the version when neither changed.
func (q *querier) PutTrigger(ctx context.Context, t v1.Trigger) (v1.Trigger, bool, error) {
	project, name := t.Metadata.Project, t.Metadata.Name
	if project == "" || name == "" {
		return v1.Trigger{}, false, errs.At(errs.Invalid, "metadata", "a trigger needs metadata.project and metadata.name")
	}
	if len(t.Metadata.Labels) == 0 {
		t.Metadata.Labels = nil
	}
	spec, err := canonical(t.Spec, &v1.TriggerSpec{})
	if err != nil {
		return v1.Trigger{}, false, errs.Wrap(errs.Invalid, err, "trigger %s/%s: spec: %v", project, name, err)
	}
	labels, err := canonical(t.Metadata.Labels, &map[string]string{})
	if err != nil {
		return v1.Trigger{}, false, errs.Wrap(errs.Invalid, err, "trigger %s/%s: labels: %v", project, name, err)
	}
	var stored v1.Trigger
	changed := false
	err = q.atomic(ctx, func(q *querier) error {
		cur, err := q.GetTrigger(ctx, project, name)
		now := q.s.d.timeArg(q.s.now())
		switch {
		case errs.Is(err, errs.NotFound):
			_, err = q.exec(ctx, `INSERT INTO triggers (project, name, spec, labels, version, secret_hash, last_error, created_at, updated_at)
VALUES (?, ?, ?, ?, 1, '', '', ?, ?)`, project, name, spec, labels, now, now)
		case err != nil:
			return err
		default:
			oldSpec, _ := canonical(cur.Spec, &v1.TriggerSpec{})
			oldLabels, _ := canonical(cur.Metadata.Labels, &map[string]string{})
			if oldSpec == spec && oldLabels == labels {
				stored = cur.Trigger
				return nil
			}
			_, err = q.exec(ctx, `UPDATE triggers SET spec = ?, labels = ?, version = version + 1, updated_at = ? WHERE project = ? AND name = ?`,
				spec, labels, now, project, name)
		}
		if err != nil {
			return q.s.wrap(err, "trigger %s/%s", project, name)
		}
		cur, err = q.GetTrigger(ctx, project, name)
		stored, changed = cur.Trigger, true
		return err
	})
	if err != nil {
		return v1.Trigger{}, false, err
	}
	return stored, changed, nil
}

const triggerSelect = `SELECT project, name, spec, labels, version, secret_hash, last_error, last_error_at, created_at, updated_at FROM triggers`

func scanTrigger(sc interface{ Scan(...any) error }) (store.Trigger, error) {
	t := store.Trigger{Trigger: v1.Trigger{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Trigger"}}}
	m := &t.Metadata
	err := sc.Scan(&m.Project, &m.Name, jsonCol{&t.Spec}, jsonCol{&m.Labels}, &m.Version, &t.SecretHash,
		&t.LastError, nullTimeCol{&t.LastErrorAt}, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt})
	return t, err
}

func (q *querier) GetTrigger(ctx context.Context, project, name string) (store.Trigger, error) {
	t, err := scanTrigger(q.queryRow(ctx, triggerSelect+` WHERE project = ? AND name = ?`, project, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, triggerNotFound(project, name)
	}
	return t, q.s.wrap(err, "trigger %s/%s", project, name)
}

// LockTrigger reads the trigger FOR UPDATE where transactions run
// concurrently; SQLite's write transactions are exclusive already.
func (q *querier) LockTrigger(ctx context.Context, project, name string, skipLocked bool) (store.Trigger, error) {
	query := triggerSelect + ` WHERE project = ? AND name = ?`
	if !q.s.d.SerialWrites {
		query += " FOR UPDATE"
		if skipLocked {
			query += " SKIP LOCKED"
		}
	}
	t, err := scanTrigger(q.queryRow(ctx, query, project, name))
	if errors.Is(err, sql.ErrNoRows) {
		if skipLocked && !q.s.d.SerialWrites {
			if _, gerr := q.GetTrigger(ctx, project, name); gerr == nil {
				return t, errs.E(errs.Conflict, "trigger %s/%s is being worked on by another transaction", project, name)
			}
		}
		return t, triggerNotFound(project, name)
	}
	return t, q.s.wrap(err, "lock trigger %s/%s", project, name)
}

func (q *querier) ListTriggers(ctx context.Context, project string) ([]store.Trigger, error) {
	query, args := triggerSelect+` ORDER BY project, name`, []any{}
	if project != "" {
		query, args = triggerSelect+` WHERE project = ? ORDER BY name`, []any{project}
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "list triggers")
	}
	defer rows.Close()
	var out []store.Trigger
	for rows.Next() {
		t, err := scanTrigger(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list triggers")
		}
		out = append(out, t)
	}
	return out, q.s.wrap(rows.Err(), "list triggers")
}

func (q *querier) DeleteTrigger(ctx context.Context, project, name string) error {
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `DELETE FROM triggers WHERE project = ? AND name = ?`, project, name)
		if err != nil {
			return q.s.wrap(err, "trigger %s/%s", project, name)
		}
		if err := affected(res, func() error { return triggerNotFound(project, name) }); err != nil {
			return err
		}
		for _, table := range []string{"trigger_queue", "trigger_slots"} {
			if _, err := q.exec(ctx, `DELETE FROM `+table+` WHERE project = ? AND trigger_name = ?`, project, name); err != nil {
				return q.s.wrap(err, "trigger %s/%s", project, name)
			}
		}
		return nil
	})
}

func (q *querier) SetTriggerSecret(ctx context.Context, project, name, hash string) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE triggers SET secret_hash = ? WHERE project = ? AND name = ?`, hash, project, name)
		if err != nil {
			return q.s.wrap(err, "trigger %s/%s", project, name)
		}
		return affected(res, func() error { return triggerNotFound(project, name) })
	})
}

func (q *querier) SetTriggerError(ctx context.Context, project, name, msg string, at time.Time) error {
	return q.write(ctx, func(q *querier) error {
		var when any
		if msg != "" {
			when = q.s.d.timeArg(at)
		}
		res, err := q.exec(ctx, `UPDATE triggers SET last_error = ?, last_error_at = ? WHERE project = ? AND name = ?`, msg, when, project, name)
		if err != nil {
			return q.s.wrap(err, "trigger %s/%s", project, name)
		}
		return affected(res, func() error { return triggerNotFound(project, name) })
	})
}
