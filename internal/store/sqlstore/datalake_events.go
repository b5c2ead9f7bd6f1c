package sqlstore

import (
	"context"
	"strings"

	"github.com/koya-dev/koya/internal/store"
)

const eventCols = `seq, type, project, channel, file_id, path, version, size, digest, content_type, meta, at, dispatched`

// addDataEvent writes the outbox row of a change to f, in the change's
// transaction.
func (q *querier) addDataEvent(ctx context.Context, typ string, f store.File) error {
	_, err := q.exec(ctx, `INSERT INTO data_events (type, project, channel, file_id, path, version, size, digest, content_type, meta, at, dispatched)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, typ, f.Project, f.Channel, f.ID, f.Path, f.Version, f.Size, f.Digest, f.ContentType,
		string(f.Meta), q.s.d.timeArg(q.s.now()), false)
	return q.s.wrap(err, "data event of file %q", f.Path)
}

func (q *querier) scanEvents(ctx context.Context, what, query string, args ...any) ([]store.DataEvent, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "%s", what)
	}
	defer rows.Close()
	var out []store.DataEvent
	for rows.Next() {
		var e store.DataEvent
		if err := rows.Scan(&e.Seq, &e.Type, &e.Project, &e.Channel, &e.FileID, &e.Path, &e.Version, &e.Size, &e.Digest,
			&e.ContentType, jsonCol{&e.Meta}, timeCol{&e.At}, &e.Dispatched); err != nil {
			return nil, q.s.wrap(err, "%s", what)
		}
		out = append(out, e)
	}
	return out, q.s.wrap(rows.Err(), "%s", what)
}

// ClaimDataEvents reads the undispatched events by the partial index. Where
// transactions run concurrently (PostgreSQL) it locks them and skips those
// another dispatcher holds; where writers are serialised (SQLite) the
// transaction itself is exclusive.
func (q *querier) ClaimDataEvents(ctx context.Context, limit int) ([]store.DataEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	query := `SELECT ` + eventCols + ` FROM data_events WHERE NOT dispatched ORDER BY seq LIMIT ?`
	if !q.s.d.SerialWrites {
		query += ` FOR UPDATE SKIP LOCKED`
	}
	return q.scanEvents(ctx, "claim data events", query, limit)
}

func (q *querier) MarkDataEventsDispatched(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	return q.write(ctx, func(q *querier) error {
		chunk := q.chunkRows(1)
		for len(seqs) > 0 {
			n := min(len(seqs), chunk)
			args := make([]any, 0, n+1)
			args = append(args, true)
			for _, s := range seqs[:n] {
				args = append(args, s)
			}
			if _, err := q.execOnce(ctx, `UPDATE data_events SET dispatched = ? WHERE seq IN `+placeholders(n), args...); err != nil {
				return q.s.wrap(err, "mark data events dispatched")
			}
			seqs = seqs[n:]
		}
		return nil
	})
}

func (q *querier) ListDataEvents(ctx context.Context, project, channel string, before int64, limit int) ([]store.DataEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var where strings.Builder
	args := []any{project}
	where.WriteString(`project = ?`)
	if channel != "" {
		where.WriteString(` AND channel = ?`)
		args = append(args, channel)
	}
	if before > 0 {
		where.WriteString(` AND seq < ?`)
		args = append(args, before)
	}
	args = append(args, limit)
	return q.scanEvents(ctx, "list data events", `SELECT `+eventCols+` FROM data_events WHERE `+where.String()+` ORDER BY seq DESC LIMIT ?`, args...)
}
