package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// Workflows keep every version in workflow_versions; workflows points at
// the current one. Deleting a workflow removes the pointer only, so a
// re-created workflow continues the numbering and a run's WorkflowVersion
// never names two different specs.

// PutWorkflow stores a new version when the spec or the labels differ from
// the current version's (compared in canonical JSON).
func (q *querier) PutWorkflow(ctx context.Context, w v1.Workflow) (v1.Workflow, bool, error) {
	project, name := w.Metadata.Project, w.Metadata.Name
	if project == "" || name == "" {
		return v1.Workflow{}, false, errs.At(errs.Invalid, "metadata", "a workflow needs metadata.project and metadata.name")
	}
	if len(w.Metadata.Labels) == 0 {
		w.Metadata.Labels = nil // no labels, however written
	}
	spec, err := canonical(w.Spec, &v1.WorkflowSpec{})
	if err != nil {
		return v1.Workflow{}, false, errs.Wrap(errs.Invalid, err, "workflow %s/%s: spec: %v", project, name, err)
	}
	labels, err := canonical(w.Metadata.Labels, &map[string]string{})
	if err != nil {
		return v1.Workflow{}, false, errs.Wrap(errs.Invalid, err, "workflow %s/%s: labels: %v", project, name, err)
	}
	sum := sha256.Sum256([]byte(spec + "\x00" + labels))
	digest := hex.EncodeToString(sum[:])

	var stored v1.Workflow
	changed := false
	err = q.atomic(ctx, func(q *querier) error {
		cur, err := q.getWorkflow(ctx, project, name)
		switch {
		case err == nil && cur.digest == digest:
			stored = cur.Workflow
			return nil
		case err != nil && !errs.Is(err, errs.NotFound):
			return err
		}
		var version int64
		if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM workflow_versions WHERE project = ? AND name = ?`,
			project, name).Scan(&version); err != nil {
			return q.s.wrap(err, "workflow %s/%s", project, name)
		}
		version++
		now := q.s.now()
		if _, err := q.exec(ctx, `INSERT INTO workflow_versions (project, name, version, spec, labels, digest, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, project, name, version, spec, labels, digest, q.s.d.timeArg(now)); err != nil {
			return q.s.wrap(err, "workflow %s/%s version %d", project, name, version)
		}
		if _, err := q.exec(ctx, `INSERT INTO workflows (project, name, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (project, name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
			project, name, version, q.s.d.timeArg(now), q.s.d.timeArg(now)); err != nil {
			return q.s.wrap(err, "workflow %s/%s", project, name)
		}
		cur, err = q.getWorkflow(ctx, project, name)
		stored, changed = cur.Workflow, true
		return err
	})
	if err != nil {
		return v1.Workflow{}, false, err
	}
	return stored, changed, nil
}

// canonical is v's JSON after a round trip through fresh (so that equal
// documents compare equal whatever Go types they were built from).
func canonical[T any](v T, fresh *T) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, fresh); err != nil {
		return "", err
	}
	b, err = json.Marshal(*fresh)
	return string(b), err
}

type storedWorkflow struct {
	v1.Workflow
	digest string
}

const workflowSelect = `SELECT w.project, w.name, w.version, w.created_at, v.created_at, v.spec, v.labels, v.digest
FROM workflows w JOIN workflow_versions v ON v.project = w.project AND v.name = w.name AND v.version = w.version`

func scanWorkflow(sc interface{ Scan(...any) error }) (storedWorkflow, error) {
	w := storedWorkflow{Workflow: v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}}}
	m := &w.Metadata
	err := sc.Scan(&m.Project, &m.Name, &m.Version, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt},
		jsonCol{&w.Spec}, jsonCol{&m.Labels}, &w.digest)
	return w, err
}

func (q *querier) getWorkflow(ctx context.Context, project, name string) (storedWorkflow, error) {
	w, err := scanWorkflow(q.queryRow(ctx, workflowSelect+` WHERE w.project = ? AND w.name = ?`, project, name))
	if errors.Is(err, sql.ErrNoRows) {
		return w, errs.E(errs.NotFound, "workflow %q not found in project %q", name, project)
	}
	return w, q.s.wrap(err, "workflow %s/%s", project, name)
}

func (q *querier) GetWorkflow(ctx context.Context, project, name string) (v1.Workflow, error) {
	w, err := q.getWorkflow(ctx, project, name)
	return w.Workflow, err
}

func (q *querier) ListWorkflows(ctx context.Context, project string) ([]v1.Workflow, error) {
	rows, err := q.query(ctx, workflowSelect+` WHERE w.project = ? ORDER BY w.name`, project)
	if err != nil {
		return nil, q.s.wrap(err, "list workflows of %q", project)
	}
	defer rows.Close()
	var out []v1.Workflow
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list workflows of %q", project)
		}
		out = append(out, w.Workflow)
	}
	return out, q.s.wrap(rows.Err(), "list workflows of %q", project)
}

func (q *querier) DeleteWorkflow(ctx context.Context, project, name string) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `DELETE FROM workflows WHERE project = ? AND name = ?`, project, name)
		if err != nil {
			return q.s.wrap(err, "workflow %s/%s", project, name)
		}
		return affected(res, func() error {
			return errs.E(errs.NotFound, "workflow %q not found in project %q", name, project)
		})
	})
}
