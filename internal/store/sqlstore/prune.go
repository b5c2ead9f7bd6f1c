package sqlstore

import (
	"context"
	"time"
)

// PruneTriggerHistory deletes dispatched data events and finished queue
// items from before `before`, oldest first (by their primary keys, which
// grow with time), at most limit of each.
func (q *querier) PruneTriggerHistory(ctx context.Context, before time.Time, limit int) (events, items int64, err error) {
	at := q.s.d.timeArg(before)
	err = q.atomic(ctx, func(q *querier) error {
		res, err := q.exec(ctx, `DELETE FROM data_events WHERE seq IN
(SELECT seq FROM data_events WHERE dispatched AND at < ? ORDER BY seq LIMIT ?)`, at, limit)
		if err != nil {
			return q.s.wrap(err, "prune data events")
		}
		if events, err = res.RowsAffected(); err != nil {
			return q.s.wrap(err, "prune data events")
		}
		res, err = q.exec(ctx, `DELETE FROM trigger_queue WHERE id IN
(SELECT id FROM trigger_queue WHERE state IN ('done', 'failed') AND COALESCE(finished_at, enqueued_at) < ? ORDER BY id LIMIT ?)`, at, limit)
		if err != nil {
			return q.s.wrap(err, "prune trigger items")
		}
		items, err = res.RowsAffected()
		return q.s.wrap(err, "prune trigger items")
	})
	return events, items, err
}
