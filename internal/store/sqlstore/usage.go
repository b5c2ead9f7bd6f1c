package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
)

func (q *querier) AddStorage(ctx context.Context, project string, n int64) (int64, error) {
	if project == "" {
		return 0, errs.E(errs.Invalid, "storage use needs a project")
	}
	var total int64
	err := q.write(ctx, func(q *querier) error {
		return q.s.wrap(q.queryRow(ctx, `INSERT INTO project_usage (project, storage_bytes) VALUES (?, ?)
ON CONFLICT (project) DO UPDATE SET storage_bytes = project_usage.storage_bytes + excluded.storage_bytes
RETURNING storage_bytes`, project, n).Scan(&total), "storage use of project %q", project)
	})
	return total, err
}

func (q *querier) StorageUsed(ctx context.Context, project string) (int64, error) {
	var n int64
	err := q.queryRow(ctx, `SELECT storage_bytes FROM project_usage WHERE project = ?`, project).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, q.s.wrap(err, "storage use of project %q", project)
}
