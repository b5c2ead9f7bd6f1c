package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// PutProject inserts or updates a project. Putting what is already stored
// changes nothing (not even the version or the update time).
func (q *querier) PutProject(ctx context.Context, p v1.Project) error {
	name := p.Metadata.Name
	if name == "" {
		return errs.At(errs.Invalid, "metadata.name", "a project needs a name")
	}
	spec, err := jsonArg(p.Spec)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "project %q: spec: %v", name, err)
	}
	if len(p.Metadata.Labels) == 0 {
		p.Metadata.Labels = nil // no labels, however written
	}
	labels, err := jsonArg(p.Metadata.Labels)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "project %q: labels: %v", name, err)
	}
	now := q.s.d.timeArg(q.s.now())
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO projects (name, spec, labels, version, created_at, updated_at)
VALUES (?, ?, ?, 1, ?, ?)
ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, labels = excluded.labels,
  version = projects.version + 1, updated_at = excluded.updated_at
WHERE projects.spec <> excluded.spec OR projects.labels <> excluded.labels`,
			name, spec, labels, now, now)
		return q.s.wrap(err, "project %q", name)
	})
}

const projectCols = `name, spec, labels, version, created_at, updated_at`

func scanProject(sc interface{ Scan(...any) error }) (v1.Project, error) {
	p := v1.Project{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}}
	m := &p.Metadata
	err := sc.Scan(&m.Name, jsonCol{&p.Spec}, jsonCol{&m.Labels}, &m.Version, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt})
	return p, err
}

func (q *querier) GetProject(ctx context.Context, name string) (v1.Project, error) {
	p, err := scanProject(q.queryRow(ctx, `SELECT `+projectCols+` FROM projects WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, errs.E(errs.NotFound, "project %q not found", name)
	}
	return p, q.s.wrap(err, "project %q", name)
}

func (q *querier) ListProjects(ctx context.Context) ([]v1.Project, error) {
	rows, err := q.query(ctx, `SELECT `+projectCols+` FROM projects ORDER BY name`)
	if err != nil {
		return nil, q.s.wrap(err, "list projects")
	}
	defer rows.Close()
	var out []v1.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, q.s.wrap(err, "list projects")
		}
		out = append(out, p)
	}
	return out, q.s.wrap(rows.Err(), "list projects")
}
