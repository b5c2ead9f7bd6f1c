package sqlstore

import (
	"context"
	"time"
)

// Wake queues runID for planning at `at`, keeping an earlier due time.
func (q *querier) Wake(ctx context.Context, runID string, at time.Time) error {
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO wakeups (run_id, due_at) VALUES (?, ?)
ON CONFLICT (run_id) DO UPDATE SET due_at = excluded.due_at WHERE excluded.due_at < wakeups.due_at`,
			runID, q.s.d.timeArg(at))
		return q.s.wrap(err, "wake-up of run %q", runID)
	})
}

// ClaimWakeups removes and returns up to limit runs due at or before now,
// the earliest due first. Where transactions run concurrently (PostgreSQL)
// it never waits: wake-ups and runs another transaction holds are skipped,
// and a claimed run is row-locked as by LockRun.
func (q *querier) ClaimWakeups(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ids []string
	err := q.write(ctx, func(q *querier) error {
		rows, err := q.query(ctx, q.s.d.ClaimWakeups, q.s.d.timeArg(now), limit)
		if err != nil {
			return q.s.wrap(err, "claim wake-ups")
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return q.s.wrap(err, "claim wake-ups")
			}
			ids = append(ids, id)
		}
		return q.s.wrap(rows.Err(), "claim wake-ups")
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
