package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

const logCols = 8

// AppendLogs stores lines of attempt a; a line whose (attempt, seq) is
// already stored is ignored, so an agent may resend.
func (q *querier) AppendLogs(ctx context.Context, a store.Attempt, lines []v1.AgentLogLine) error {
	if len(lines) == 0 {
		return nil
	}
	d := q.s.d
	return q.atomic(ctx, func(q *querier) error {
		if d.LockLogs != "" {
			if _, err := q.exec(ctx, d.LockLogs, a.RunID); err != nil {
				return q.s.wrap(err, "logs of attempt %q", a.ID)
			}
		}
		rest := lines
		for len(rest) > 0 {
			n := min(len(rest), q.chunkRows(logCols))
			var b strings.Builder
			b.WriteString(`INSERT INTO logs (attempt_id, run_id, step, idx, seq, stream, logged_at, text) VALUES `)
			args := make([]any, 0, n*logCols)
			row := placeholders(logCols)
			for i, l := range rest[:n] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(row)
				args = append(args, a.ID, a.RunID, a.Step, a.Index, l.Seq, l.Stream, d.timeArg(l.Time), l.Text)
			}
			b.WriteString(` ON CONFLICT (attempt_id, seq) DO NOTHING`)
			if _, err := q.execOnce(ctx, b.String(), args...); err != nil {
				return q.s.wrap(err, "logs of attempt %q", a.ID)
			}
			rest = rest[n:]
		}
		return nil
	})
}

// ReadLogs returns lines in cursor order.
func (q *querier) ReadLogs(ctx context.Context, f store.LogFilter) ([]v1.LogLine, error) {
	if f.AttemptID != "" && (f.Step == "" || f.Index == nil) {
		// An attempt's lines are among its task's: narrowing to the task
		// lets the (run, step, index, cursor) index serve the query.
		var step string
		var index int
		err := q.queryRow(ctx, `SELECT step, idx FROM attempts WHERE id = ? AND run_id = ?`, f.AttemptID, f.RunID).Scan(&step, &index)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, q.s.wrap(err, "logs of attempt %q", f.AttemptID)
		}
		if (f.Step != "" && f.Step != step) || (f.Index != nil && *f.Index != index) {
			return nil, nil
		}
		f.Step, f.Index = step, &index
	}
	var b strings.Builder
	args := []any{f.RunID}
	b.WriteString(`SELECT id, attempt_id, step, idx, stream, logged_at, seq, text FROM logs WHERE run_id = ?`)
	if f.Step != "" {
		b.WriteString(` AND step = ?`)
		args = append(args, f.Step)
	}
	if f.Index != nil {
		b.WriteString(` AND idx = ?`)
		args = append(args, *f.Index)
	}
	if f.AttemptID != "" {
		b.WriteString(` AND attempt_id = ?`)
		args = append(args, f.AttemptID)
	}
	if f.AfterCursor > 0 {
		b.WriteString(` AND id > ?`)
		args = append(args, f.AfterCursor)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	b.WriteString(` ORDER BY id LIMIT ?`)
	args = append(args, limit)
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, q.s.wrap(err, "logs of run %q", f.RunID)
	}
	defer rows.Close()
	var out []v1.LogLine
	for rows.Next() {
		var l v1.LogLine
		if err := rows.Scan(&l.Cursor, &l.Attempt, &l.Step, &l.Index, &l.Stream, timeCol{&l.Time}, &l.Seq, &l.Text); err != nil {
			return nil, q.s.wrap(err, "logs of run %q", f.RunID)
		}
		out = append(out, l)
	}
	return out, q.s.wrap(rows.Err(), "logs of run %q", f.RunID)
}
