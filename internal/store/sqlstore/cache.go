package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// GetCache returns the outputs memoised under a project's key.
func (q *querier) GetCache(ctx context.Context, project, key string) (map[string]v1.Output, error) {
	var outs map[string]v1.Output
	err := q.queryRow(ctx, `SELECT outputs FROM step_cache WHERE project = ? AND cache_key = ?`, project, key).Scan(jsonCol{&outs})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.E(errs.NotFound, "no cached outputs for key %q in project %q", key, project)
	}
	if err != nil {
		return nil, q.s.wrap(err, "cache of project %q", project)
	}
	if outs == nil {
		outs = map[string]v1.Output{}
	}
	return outs, nil
}

// PutCache memoises outputs under a project's key, replacing earlier ones.
func (q *querier) PutCache(ctx context.Context, project, key string, outputs map[string]v1.Output) error {
	if outputs == nil {
		outputs = map[string]v1.Output{}
	}
	outs, err := jsonArg(outputs)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "cache %q: outputs: %v", key, err)
	}
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO step_cache (project, cache_key, outputs, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (project, cache_key) DO UPDATE SET outputs = excluded.outputs, created_at = excluded.created_at`,
			project, key, outs, q.s.d.timeArg(q.s.now()))
		return q.s.wrap(err, "cache %q of project %q", key, project)
	})
}
