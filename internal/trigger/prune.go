package trigger

import (
	"context"
	"time"
)

// pruneBatch is how many events, and items, one prune transaction
// deletes at most: short transactions, so that uploads and dispatching
// never wait long behind a large backlog of history.
const pruneBatch = 1000

// pruneRound deletes the dispatched data events and finished queue items
// older than the retention, a batch at a time; the outbox and the queue
// would otherwise grow with every upload forever.
func (s *Service) pruneRound(ctx context.Context) (time.Duration, error) {
	cutoff := s.clock().Add(-s.cfg.Retention)
	for {
		events, items, err := s.store.PruneTriggerHistory(ctx, cutoff, pruneBatch)
		if err != nil {
			return 0, err
		}
		s.metrics.pruned.WithLabelValues("data_event").Add(float64(events))
		s.metrics.pruned.WithLabelValues("queue_item").Add(float64(items))
		if events+items > 0 {
			s.log.Debug("pruned trigger history", "events", events, "items", items, "before", cutoff)
		}
		if events < pruneBatch && items < pruneBatch {
			return s.cfg.PruneEvery, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
}
