package sqlstore

import (
	"context"
	"fmt"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Log lines are stored encrypted by the server (the text column holds
// base64 ciphertext whose first bytes name the key). These methods let the
// key-rotation job count and move them without the store knowing keys.

// ProjectLogs returns the log lines of project's runs with a cursor after
// after, in cursor order, at most limit (default 1000).
func (q *querier) ProjectLogs(ctx context.Context, project string, after int64, limit int) ([]v1.LogLine, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.query(ctx, `SELECT l.id, l.attempt_id, l.step, l.idx, l.stream, l.logged_at, l.seq, l.text
FROM logs l JOIN runs r ON r.id = l.run_id WHERE r.project = ? AND l.id > ? ORDER BY l.id LIMIT ?`, project, after, limit)
	if err != nil {
		return nil, q.s.wrap(err, "logs of project %q", project)
	}
	defer rows.Close()
	var out []v1.LogLine
	for rows.Next() {
		var l v1.LogLine
		if err := rows.Scan(&l.Cursor, &l.Attempt, &l.Step, &l.Index, &l.Stream, timeCol{&l.Time}, &l.Seq, &l.Text); err != nil {
			return nil, q.s.wrap(err, "logs of project %q", project)
		}
		out = append(out, l)
	}
	return out, q.s.wrap(rows.Err(), "logs of project %q", project)
}

// ReplaceLogText sets the text of the line at cursor to text if it still is
// old, and says whether it did: a compare-and-set, so that a rewrite never
// undoes a concurrent one.
func (q *querier) ReplaceLogText(ctx context.Context, cursor int64, old, text string) (bool, error) {
	var changed bool
	err := q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `UPDATE logs SET text = ? WHERE id = ? AND text = ?`, text, cursor, old)
		if err != nil {
			return q.s.wrap(err, "log line %d", cursor)
		}
		n, err := res.RowsAffected()
		changed = n > 0
		return q.s.wrap(err, "log line %d", cursor)
	})
	return changed, err
}

// CountLogPrefixes counts the log lines of project's runs by the first n
// characters of their text, in the database: for counting lines per key
// without reading them.
func (q *querier) CountLogPrefixes(ctx context.Context, project string, n int) (map[string]int64, error) {
	// n is in the text, not a parameter: PostgreSQL would not see two
	// parameters as the same GROUP BY expression.
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT substr(l.text, 1, %d), count(*) FROM logs l JOIN runs r ON r.id = l.run_id
WHERE r.project = ? GROUP BY 1`, n), project)
	if err != nil {
		return nil, q.s.wrap(err, "logs of project %q", project)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var c int64
		if err := rows.Scan(&p, &c); err != nil {
			return nil, q.s.wrap(err, "logs of project %q", project)
		}
		out[p] += c
	}
	return out, q.s.wrap(rows.Err(), "logs of project %q", project)
}
