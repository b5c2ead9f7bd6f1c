package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func channelNotFound(project, name string) error {
	return errs.E(errs.NotFound, "channel %q not found in project %q", name, project)
}

const channelCols = `project, name, description, files, bytes, created_at`

func scanChannel(sc interface{ Scan(...any) error }, c *store.Channel) error {
	return sc.Scan(&c.Project, &c.Name, &c.Description, &c.Files, &c.Bytes, timeCol{&c.CreatedAt})
}

func (q *querier) PutChannel(ctx context.Context, c store.Channel) (store.Channel, error) {
	if c.Project == "" || c.Name == "" {
		return store.Channel{}, errs.E(errs.Invalid, "a channel needs a project and a name")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = q.s.now()
	}
	var out store.Channel
	err := q.write(ctx, func(q *querier) error {
		err := scanChannel(q.queryRow(ctx, `INSERT INTO channels (project, name, description, files, bytes, created_at)
VALUES (?, ?, ?, 0, 0, ?)
ON CONFLICT (project, name) DO UPDATE SET description = excluded.description
RETURNING `+channelCols, c.Project, c.Name, c.Description, q.s.d.timeArg(c.CreatedAt)), &out)
		return q.s.wrap(err, "channel %q of project %q", c.Name, c.Project)
	})
	return out, err
}

func (q *querier) GetChannel(ctx context.Context, project, name string) (store.Channel, error) {
	var c store.Channel
	err := scanChannel(q.queryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE project = ? AND name = ?`, project, name), &c)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Channel{}, channelNotFound(project, name)
	}
	return c, q.s.wrap(err, "channel %q of project %q", name, project)
}

func (q *querier) ListChannels(ctx context.Context, project string) ([]store.Channel, error) {
	rows, err := q.query(ctx, `SELECT `+channelCols+` FROM channels WHERE project = ? ORDER BY name`, project)
	if err != nil {
		return nil, q.s.wrap(err, "list channels of project %q", project)
	}
	defer rows.Close()
	var out []store.Channel
	for rows.Next() {
		var c store.Channel
		if err := scanChannel(rows, &c); err != nil {
			return nil, q.s.wrap(err, "list channels of project %q", project)
		}
		out = append(out, c)
	}
	return out, q.s.wrap(rows.Err(), "list channels of project %q", project)
}

// DeleteChannel deletes the channel only while its maintained file count
// is zero, in one statement, so a concurrent PutFile cannot slip a file in.
func (q *querier) DeleteChannel(ctx context.Context, project, name string) error {
	return q.atomic(ctx, func(q *querier) error {
		cid, err := q.lockChannel(ctx, project, name)
		if err != nil {
			return err
		}
		res, err := q.exec(ctx, `DELETE FROM channels WHERE cid = ? AND files = 0`, cid)
		if err != nil {
			return q.s.wrap(err, "channel %q of project %q", name, project)
		}
		if err := affected(res, func() error {
			return errs.E(errs.Conflict, "channel %q of project %q still holds files; delete them first", name, project)
		}); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM meta_keys WHERE cid = ?`, cid)
		return q.s.wrap(err, "channel %q of project %q", name, project)
	})
}

// lockChannel returns the channel's internal id, row-locked where
// transactions run concurrently: every file write of a channel takes it
// first, which serialises them (its counts, and the check-then-insert of
// a path, stay exact) without waiting on other channels. NO KEY UPDATE
// does not block the foreign-key checks of files referencing the row.
func (q *querier) lockChannel(ctx context.Context, project, name string) (int64, error) {
	query := `SELECT cid FROM channels WHERE project = ? AND name = ?`
	if !q.s.d.SerialWrites {
		query += ` FOR NO KEY UPDATE`
	}
	var cid int64
	err := q.queryRow(ctx, query, project, name).Scan(&cid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, channelNotFound(project, name)
	}
	return cid, q.s.wrap(err, "channel %q of project %q", name, project)
}

// channelIDs resolves the channels a query reads: the one named, or all
// of the project's.
func (q *querier) channelIDs(ctx context.Context, project, name string) ([]int64, error) {
	if name != "" {
		var cid int64
		err := q.queryRow(ctx, `SELECT cid FROM channels WHERE project = ? AND name = ?`, project, name).Scan(&cid)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, channelNotFound(project, name)
		}
		if err != nil {
			return nil, q.s.wrap(err, "channel %q of project %q", name, project)
		}
		return []int64{cid}, nil
	}
	rows, err := q.query(ctx, `SELECT cid FROM channels WHERE project = ? ORDER BY cid`, project)
	if err != nil {
		return nil, q.s.wrap(err, "channels of project %q", project)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var cid int64
		if err := rows.Scan(&cid); err != nil {
			return nil, q.s.wrap(err, "channels of project %q", project)
		}
		out = append(out, cid)
	}
	return out, q.s.wrap(rows.Err(), "channels of project %q", project)
}
