package trigger

import (
	"context"
	"time"

	"github.com/koya-dev/koya/internal/store"
)

// dispatchRound claims a batch of data events, queues the items they fire
// and marks them dispatched, in one transaction: a crash before the commit
// leaves the events undispatched, and a replay after it inserts nothing
// (items are keyed by the event's seq). It asks to run again at once while
// batches come back full.
func (s *Service) dispatchRound(ctx context.Context) (time.Duration, error) {
	var claimed, queued int
	err := s.store.Tx(ctx, func(q store.Querier) error {
		claimed, queued = 0, 0
		evs, err := q.ClaimDataEvents(ctx, s.cfg.Batch)
		if err != nil || len(evs) == 0 {
			return err
		}
		claimed = len(evs)
		triggers, err := s.datalakeTriggers(ctx, q, evs)
		if err != nil {
			return err
		}
		items := PlanEvents(evs, triggers)
		if queued, err = q.EnqueueTriggerItems(ctx, items); err != nil {
			return err
		}
		seqs := make([]int64, len(evs))
		for i, ev := range evs {
			seqs[i] = ev.Seq
		}
		return q.MarkDataEventsDispatched(ctx, seqs)
	})
	if err != nil {
		return 0, err
	}
	s.metrics.events.Add(float64(claimed))
	s.metrics.items.Add(float64(queued))
	if queued > 0 {
		wake(s.startWake)
	}
	if claimed == s.cfg.Batch {
		return 0, nil
	}
	return s.cfg.PollEvery, nil
}

// datalakeTriggers are the compiled datalake triggers of the events'
// projects, compiled once per trigger version.
func (s *Service) datalakeTriggers(ctx context.Context, q store.Querier, evs []store.DataEvent) ([]Compiled, error) {
	seen := map[string]bool{}
	var out []Compiled
	for _, ev := range evs {
		if seen[ev.Project] {
			continue
		}
		seen[ev.Project] = true
		ts, err := q.ListTriggers(ctx, ev.Project)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Spec.Datalake == nil {
				continue
			}
			key := compiledKey{t.Metadata.Project, t.Metadata.Name}
			s.mu.Lock()
			e, ok := s.compiled[key]
			s.mu.Unlock()
			if !ok || e.version != t.Metadata.Version {
				e.c, e.ok, e.err = Compile(t.Trigger)
				e.version = t.Metadata.Version
				s.mu.Lock()
				s.compiled[key] = e
				s.mu.Unlock()
				if e.err != nil {
					s.log.Warn("trigger cannot match events", "project", key.project, "trigger", key.name, "err", e.err)
				}
			}
			if e.ok && e.err == nil {
				out = append(out, e.c)
			}
		}
	}
	return out, nil
}
