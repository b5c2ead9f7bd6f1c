package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// EnqueueTriggerItems inserts items, skipping those whose key the trigger
// already has (ON CONFLICT DO NOTHING): a replayed event inserts nothing.
func (q *querier) EnqueueTriggerItems(ctx context.Context, items []store.TriggerItem) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	const cols = 9
	n := 0
	err := q.atomic(ctx, func(q *querier) error {
		now := q.s.now()
		for start := 0; start < len(items); start += q.chunkRows(cols) {
			chunk := items[start:min(start+q.chunkRows(cols), len(items))]
			var b strings.Builder
			b.WriteString(`INSERT INTO trigger_queue (project, trigger_name, dedupe_key, params, event_at, state, run_id, message, enqueued_at) VALUES `)
			args := make([]any, 0, cols*len(chunk))
			for i, it := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(placeholders(cols))
				params, err := jsonNullArg(it.Params, it.Params == nil)
				if err != nil {
					return errs.Wrap(errs.Invalid, err, "trigger item %s: params: %v", it.Key, err)
				}
				state := store.ItemQueued
				if it.State == store.ItemFailed {
					state = store.ItemFailed
				}
				enq := it.EnqueuedAt
				if enq.IsZero() {
					enq = now
				}
				args = append(args, it.Project, it.Trigger, it.Key, params, q.s.d.timeArg(it.EventAt), state, "", it.Message, q.s.d.timeArg(enq))
			}
			b.WriteString(` ON CONFLICT (project, trigger_name, dedupe_key) DO NOTHING`)
			res, err := q.execOnce(ctx, b.String(), args...)
			if err != nil {
				return q.s.wrap(err, "enqueue trigger items")
			}
			k, err := res.RowsAffected()
			if err != nil {
				return q.s.wrap(err, "enqueue trigger items")
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}

func (q *querier) QueuedTriggers(ctx context.Context) ([]store.TriggerBacklog, error) {
	rows, err := q.query(ctx, `SELECT project, trigger_name, SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) FROM trigger_queue
WHERE state IN ('queued', 'started') GROUP BY project, trigger_name ORDER BY project, trigger_name`)
	if err != nil {
		return nil, q.s.wrap(err, "queued triggers")
	}
	defer rows.Close()
	var out []store.TriggerBacklog
	for rows.Next() {
		var r store.TriggerBacklog
		if err := rows.Scan(&r.Project, &r.Name, &r.Queued); err != nil {
			return nil, q.s.wrap(err, "queued triggers")
		}
		out = append(out, r)
	}
	return out, q.s.wrap(rows.Err(), "queued triggers")
}

const itemSelect = `SELECT id, project, trigger_name, dedupe_key, params, event_at, state, run_id, message, enqueued_at, started_at, finished_at FROM trigger_queue`

func scanItem(sc interface{ Scan(...any) error }) (store.TriggerItem, error) {
	var it store.TriggerItem
	err := sc.Scan(&it.ID, &it.Project, &it.Trigger, &it.Key, jsonCol{&it.Params}, timeCol{&it.EventAt}, &it.State,
		&it.RunID, &it.Message, timeCol{&it.EnqueuedAt}, nullTimeCol{&it.StartedAt}, nullTimeCol{&it.FinishedAt})
	return it, err
}

func (q *querier) listItems(ctx context.Context, query string, args ...any) ([]store.TriggerItem, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.s.wrap(err, "trigger items")
	}
	defer rows.Close()
	var out []store.TriggerItem
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, q.s.wrap(err, "trigger items")
		}
		out = append(out, it)
	}
	return out, q.s.wrap(rows.Err(), "trigger items")
}

func (q *querier) NextTriggerItems(ctx context.Context, project, trigger string, limit int) ([]store.TriggerItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	return q.listItems(ctx, itemSelect+` WHERE project = ? AND trigger_name = ? AND state = 'queued' ORDER BY id LIMIT ?`, project, trigger, limit)
}

func (q *querier) ListTriggerItems(ctx context.Context, f store.TriggerItemFilter) ([]store.TriggerItem, error) {
	query := itemSelect + ` WHERE project = ? AND trigger_name = ? AND id > ?`
	args := []any{f.Project, f.Trigger, f.AfterID}
	if f.State != "" {
		query += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	return q.listItems(ctx, query+` ORDER BY id LIMIT ?`, append(args, f.Limit)...)
}

func (q *querier) GetTriggerItemByRun(ctx context.Context, runID string) (store.TriggerItem, error) {
	it, err := scanItem(q.queryRow(ctx, itemSelect+` WHERE run_id = ?`, runID))
	if errors.Is(err, sql.ErrNoRows) {
		return it, errs.E(errs.NotFound, "no trigger started run %q", runID)
	}
	return it, q.s.wrap(err, "trigger item of run %q", runID)
}

// moveItem changes a queued item's state.
func (q *querier) moveItem(ctx context.Context, id int64, query string, args ...any) error {
	return q.write(ctx, func(q *querier) error {
		res, err := q.exec(ctx, query, append(args, id)...)
		if err != nil {
			return q.s.wrap(err, "trigger item %d", id)
		}
		return affected(res, func() error {
			return errs.E(errs.Conflict, "trigger item %d is not queued (it started or failed already, or is gone)", id)
		})
	})
}

func (q *querier) StartTriggerItem(ctx context.Context, id int64, runID string, at time.Time) error {
	return q.moveItem(ctx, id, `UPDATE trigger_queue SET state = 'started', run_id = ?, started_at = ? WHERE state = 'queued' AND id = ?`,
		runID, q.s.d.timeArg(at))
}

func (q *querier) FailTriggerItem(ctx context.Context, id int64, msg string, at time.Time) error {
	return q.moveItem(ctx, id, `UPDATE trigger_queue SET state = 'failed', message = ?, finished_at = ? WHERE state = 'queued' AND id = ?`,
		msg, q.s.d.timeArg(at))
}

// doneList is the final run phases, as SQL.
var doneList = func() string {
	var ps []string
	for _, p := range []v1.Phase{v1.Succeeded, v1.Failed, v1.Skipped, v1.Cancelled, v1.Cached, v1.Lost} {
		ps = append(ps, "'"+string(p)+"'")
	}
	return strings.Join(ps, ", ")
}()

func (q *querier) FinishTriggerItems(ctx context.Context, project, trigger string, at time.Time) (int, error) {
	var left int
	err := q.atomic(ctx, func(q *querier) error {
		if _, err := q.exec(ctx, `UPDATE trigger_queue SET state = 'done', finished_at = ?
WHERE project = ? AND trigger_name = ? AND state = 'started'
  AND EXISTS (SELECT 1 FROM runs r WHERE r.id = trigger_queue.run_id AND r.phase IN (`+doneList+`))`,
			q.s.d.timeArg(at), project, trigger); err != nil {
			return q.s.wrap(err, "finish items of trigger %s/%s", project, trigger)
		}
		return q.s.wrap(q.queryRow(ctx, `SELECT COUNT(*) FROM trigger_queue WHERE project = ? AND trigger_name = ? AND state = 'started'`,
			project, trigger).Scan(&left), "count items of trigger %s/%s", project, trigger)
	})
	return left, err
}

func (q *querier) TriggerQueueStats(ctx context.Context, project, trigger string) (store.TriggerQueueStats, error) {
	var st store.TriggerQueueStats
	rows, err := q.query(ctx, `SELECT state, COUNT(*) FROM trigger_queue WHERE project = ? AND trigger_name = ? GROUP BY state`, project, trigger)
	if err != nil {
		return st, q.s.wrap(err, "stats of trigger %s/%s", project, trigger)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return st, q.s.wrap(err, "stats of trigger %s/%s", project, trigger)
		}
		switch state {
		case store.ItemQueued:
			st.Queued = n
		case store.ItemStarted:
			st.Started = n
		case store.ItemDone:
			st.Done = n
		case store.ItemFailed:
			st.Failed = n
		}
	}
	if err := rows.Err(); err != nil {
		return st, q.s.wrap(err, "stats of trigger %s/%s", project, trigger)
	}
	rows.Close()
	if st.Started > 0 {
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM trigger_queue t JOIN runs r ON r.id = t.run_id
WHERE t.project = ? AND t.trigger_name = ? AND t.state = 'started' AND r.phase NOT IN (`+doneList+`)`,
			project, trigger).Scan(&st.InFlight); err != nil {
			return st, q.s.wrap(err, "stats of trigger %s/%s", project, trigger)
		}
	}
	if st.Queued > 0 {
		var oldest time.Time
		err := q.queryRow(ctx, `SELECT enqueued_at FROM trigger_queue WHERE project = ? AND trigger_name = ? AND state = 'queued' ORDER BY id LIMIT 1`,
			project, trigger).Scan(timeCol{&oldest})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return st, q.s.wrap(err, "stats of trigger %s/%s", project, trigger)
		}
		if err == nil {
			st.OldestQueued = &oldest
		}
	}
	return st, nil
}

func (q *querier) GetTriggerSlot(ctx context.Context, project, trigger string) (*time.Time, error) {
	var slot time.Time
	err := q.queryRow(ctx, `SELECT last_slot FROM trigger_slots WHERE project = ? AND trigger_name = ?`, project, trigger).Scan(timeCol{&slot})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, q.s.wrap(err, "slot of trigger %s/%s", project, trigger)
	}
	return &slot, nil
}

func (q *querier) SetTriggerSlot(ctx context.Context, project, trigger string, slot time.Time) error {
	return q.write(ctx, func(q *querier) error {
		_, err := q.exec(ctx, `INSERT INTO trigger_slots (project, trigger_name, last_slot) VALUES (?, ?, ?)
ON CONFLICT (project, trigger_name) DO UPDATE SET last_slot = excluded.last_slot`, project, trigger, q.s.d.timeArg(slot))
		return q.s.wrap(err, "slot of trigger %s/%s", project, trigger)
	})
}
