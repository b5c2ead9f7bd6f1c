package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func (q *querier) GetKeyset(ctx context.Context, project string) (store.Keyset, error) {
	k := store.Keyset{Project: project}
	err := q.queryRow(ctx, `SELECT version, kek, wrapped, updated_at FROM keysets WHERE project = ?`, project).
		Scan(&k.Version, &k.KEK, &k.Wrapped, timeCol{&k.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return k, errs.E(errs.NotFound, "project %q has no keys", project)
	}
	return k, q.s.wrap(err, "keys of project %q", project)
}

// PutKeyset is a compare-and-swap on the version: an insert when
// expectVersion is 0, else an update of the row still at expectVersion.
func (q *querier) PutKeyset(ctx context.Context, k store.Keyset, expectVersion int64) error {
	if k.Project == "" || len(k.Wrapped) == 0 {
		return errs.E(errs.Invalid, "a keyset needs a project and wrapped keys")
	}
	conflict := errs.E(errs.Conflict, "the keys of project %q changed meanwhile (expected version %d)", k.Project, expectVersion)
	now := q.s.d.timeArg(q.s.now())
	return q.write(ctx, func(q *querier) error {
		if expectVersion == 0 {
			_, err := q.exec(ctx, `INSERT INTO keysets (project, version, kek, wrapped, updated_at) VALUES (?, 1, ?, ?, ?)`,
				k.Project, k.KEK, k.Wrapped, now)
			if errs.Is(q.s.wrap(err, ""), errs.Conflict) {
				return conflict
			}
			return q.s.wrap(err, "keys of project %q", k.Project)
		}
		res, err := q.exec(ctx, `UPDATE keysets SET version = version + 1, kek = ?, wrapped = ?, updated_at = ?
WHERE project = ? AND version = ?`, k.KEK, k.Wrapped, now, k.Project, expectVersion)
		if err != nil {
			return q.s.wrap(err, "keys of project %q", k.Project)
		}
		return affected(res, func() error { return conflict })
	})
}
