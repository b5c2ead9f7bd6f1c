package trigger

import (
	"context"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// startRound starts runs for the queued items of every trigger with room
// under its concurrency, and marks done the items whose runs ended. While
// items wait it looks again soon: finished runs free room without anyone
// poking the starter.
func (s *Service) startRound(ctx context.Context) (time.Duration, error) {
	refs, err := s.store.QueuedTriggers(ctx)
	if err != nil {
		return 0, err
	}
	waiting := false
	for _, ref := range refs {
		waiting = waiting || ref.Queued > 0
		for {
			started, full, err := s.startBatch(ctx, ref.TriggerRef)
			if err != nil {
				return 0, err
			}
			if !full || started == 0 {
				break
			}
		}
	}
	if waiting {
		return s.cfg.BacklogEvery, nil
	}
	return s.cfg.PollEvery, nil
}

// startBatch starts up to Batch runs of one trigger in one transaction:
// each run is created and its item marked started together, so a crash
// leaves either both or neither. full says the batch was limited by its
// size only (there may be more to start at once).
func (s *Service) startBatch(ctx context.Context, ref store.TriggerRef) (started int, full bool, err error) {
	var lags []time.Duration
	var failed int
	err = s.store.Tx(ctx, func(q store.Querier) error {
		started, full, failed, lags = 0, false, 0, lags[:0]
		t, err := q.LockTrigger(ctx, ref.Project, ref.Name, true)
		if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict) {
			return nil // deleted, or another replica is on it
		}
		if err != nil {
			return err
		}
		if t.Spec.Suspend {
			return nil
		}
		now := s.clock()
		inFlight, err := q.FinishTriggerItems(ctx, ref.Project, ref.Name, now)
		if err != nil {
			return err
		}
		n := min(Room(t.Spec.MaxConcurrency(), inFlight), s.cfg.Batch)
		if n <= 0 {
			return nil
		}
		items, err := q.NextTriggerItems(ctx, ref.Project, ref.Name, n)
		if err != nil {
			return err
		}
		full = len(items) == s.cfg.Batch
		lastErr := ""
		for _, it := range items {
			run, err := s.engine.SubmitIn(ctx, q, ref.Project, t.Spec.Workflow, it.Params)
			if code := errs.CodeOf(err); code == errs.Invalid || code == errs.NotFound {
				// The item can never start as it is (a param the
				// workflow refuses, no such workflow): it fails alone.
				lastErr = "item " + it.Key + ": " + errs.Public(err).Message
				failed++
				if err := q.FailTriggerItem(ctx, it.ID, errs.Public(err).Message, now); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := q.StartTriggerItem(ctx, it.ID, run.ID, now); err != nil {
				return err
			}
			started++
			lags = append(lags, now.Sub(it.EventAt))
		}
		if lastErr != "" {
			return q.SetTriggerError(ctx, ref.Project, ref.Name, lastErr, now)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if started > 0 {
		s.engine.Poke()
		s.metrics.runs.Add(float64(started))
		for _, l := range lags {
			s.metrics.lag.Observe(l.Seconds())
		}
	}
	s.metrics.failed.Add(float64(failed))
	return started, full, nil
}

// Room is how many more runs a trigger may start: its concurrency less
// its unfinished runs, never negative (a lowered concurrency waits for
// runs to finish).
func Room(concurrency, inFlight int) int {
	return max(concurrency-inFlight, 0)
}
