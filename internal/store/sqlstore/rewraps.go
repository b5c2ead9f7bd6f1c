package sqlstore

import (
	"context"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func (q *querier) PutRewrap(ctx context.Context, r store.Rewrap) error {
	if r.Project == "" {
		return errs.E(errs.Invalid, "a rewrap needs a project")
	}
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO rewraps (project, key_id, since) VALUES (?, ?, ?)
ON CONFLICT (project) DO UPDATE SET key_id = excluded.key_id, since = excluded.since`,
			r.Project, int64(r.Key), q.s.d.timeArg(r.Since))
		return q.s.wrap(err, "rewrap of project %q", r.Project)
	})
}

func (q *querier) DeleteRewrap(ctx context.Context, project string, key uint32) error {
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `DELETE FROM rewraps WHERE project = ? AND key_id = ?`, project, int64(key))
		return q.s.wrap(err, "rewrap of project %q", project)
	})
}

func (q *querier) ListRewraps(ctx context.Context) ([]store.Rewrap, error) {
	rows, err := q.query(ctx, `SELECT project, key_id, since FROM rewraps ORDER BY project`)
	if err != nil {
		return nil, q.s.wrap(err, "list rewraps")
	}
	defer rows.Close()
	var out []store.Rewrap
	for rows.Next() {
		var r store.Rewrap
		var key int64
		if err := rows.Scan(&r.Project, &key, timeCol{&r.Since}); err != nil {
			return nil, q.s.wrap(err, "list rewraps")
		}
		r.Key = uint32(key)
		out = append(out, r)
	}
	return out, q.s.wrap(rows.Err(), "list rewraps")
}
