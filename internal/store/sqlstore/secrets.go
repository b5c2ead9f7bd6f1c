package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func secretNotFound(project, name string) error {
	return errs.E(errs.NotFound, "secret %q not found in project %q", name, project)
}

// PutSecret is one upsert: the version is bumped in the same statement,
// so concurrent writers of a name each get their own.
func (q *querier) PutSecret(ctx context.Context, s store.Secret) (store.Secret, error) {
	if s.Project == "" || s.Name == "" || len(s.Value) == 0 {
		return store.Secret{}, errs.E(errs.Invalid, "a secret needs a project, a name and a value")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = q.s.now()
	}
	d := q.s.d
	out := store.Secret{Project: s.Project, Name: s.Name, CreatedBy: s.CreatedBy}
	err := q.write(ctx, func(q *querier) error {
		err := q.queryRow(ctx, `INSERT INTO secrets (project, name, version, value, deleted, created_at, created_by)
VALUES (?, ?, 1, ?, ?, ?, ?)
ON CONFLICT (project, name) DO UPDATE SET version = secrets.version + 1, value = excluded.value,
  deleted = excluded.deleted, created_at = excluded.created_at, created_by = excluded.created_by
RETURNING version, created_at`, s.Project, s.Name, s.Value, false, d.timeArg(s.CreatedAt), s.CreatedBy).Scan(&out.Version, timeCol{&out.CreatedAt})
		return q.s.wrap(err, "secret %q of project %q", s.Name, s.Project)
	})
	return out, err
}

func (q *querier) GetSecret(ctx context.Context, project, name string) (store.Secret, error) {
	s := store.Secret{Project: project, Name: name}
	err := q.queryRow(ctx, `SELECT version, value, created_at, created_by FROM secrets
WHERE project = ? AND name = ? AND NOT deleted`, project, name).
		Scan(&s.Version, &s.Value, timeCol{&s.CreatedAt}, &s.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Secret{}, secretNotFound(project, name)
	}
	return s, q.s.wrap(err, "secret %q of project %q", name, project)
}

func (q *querier) ListSecrets(ctx context.Context, project string) ([]store.Secret, error) {
	rows, err := q.query(ctx, `SELECT name, version, created_at, created_by FROM secrets
WHERE project = ? AND NOT deleted ORDER BY name`, project)
	if err != nil {
		return nil, q.s.wrap(err, "list secrets of project %q", project)
	}
	defer rows.Close()
	var out []store.Secret
	for rows.Next() {
		s := store.Secret{Project: project}
		if err := rows.Scan(&s.Name, &s.Version, timeCol{&s.CreatedAt}, &s.CreatedBy); err != nil {
			return nil, q.s.wrap(err, "list secrets of project %q", project)
		}
		out = append(out, s)
	}
	return out, q.s.wrap(rows.Err(), "list secrets of project %q", project)
}

// DeleteSecret leaves a tombstone that keeps the version count (see
// store.Secret) and no value.
func (q *querier) DeleteSecret(ctx context.Context, project, name string) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE secrets SET deleted = ?, value = NULL WHERE project = ? AND name = ? AND NOT deleted`,
			true, project, name)
		if err != nil {
			return q.s.wrap(err, "secret %q of project %q", name, project)
		}
		return affected(res, func() error { return secretNotFound(project, name) })
	})
}

func (q *querier) ResealSecret(ctx context.Context, s store.Secret) error {
	if len(s.Value) == 0 {
		return errs.E(errs.Invalid, "resealing secret %q needs a value", s.Name)
	}
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE secrets SET value = ? WHERE project = ? AND name = ? AND version = ? AND NOT deleted`,
			s.Value, s.Project, s.Name, s.Version)
		if err != nil {
			return q.s.wrap(err, "secret %q of project %q", s.Name, s.Project)
		}
		return affected(res, func() error {
			return errs.E(errs.Conflict, "secret %q of project %q is no longer at version %d", s.Name, s.Project, s.Version)
		})
	})
}
