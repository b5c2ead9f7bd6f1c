package trigger

import (
	"context"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// Status is a trigger's queue as people read it: backlog (queued items),
// in flight (runs started and not ended), lag (how long the oldest queued
// item has waited), runs started, items failed, last error, next slot.
func Status(ctx context.Context, q store.Querier, t store.Trigger, now time.Time) (v1.TriggerStatus, error) {
	st, err := q.TriggerQueueStats(ctx, t.Metadata.Project, t.Metadata.Name)
	if err != nil {
		return v1.TriggerStatus{}, err
	}
	out := v1.TriggerStatus{
		Backlog: int(st.Queued), InFlight: int(st.InFlight), Started: st.Started + st.Done, Failed: st.Failed,
		OldestQueued: st.OldestQueued, LastError: t.LastError, LastErrorAt: t.LastErrorAt, HasSecret: t.SecretHash != "",
	}
	if st.OldestQueued != nil {
		out.Lag = v1.Duration{Duration: max(now.Sub(*st.OldestQueued), 0).Round(time.Millisecond)}
	}
	if sc := t.Spec.Schedule; sc != nil {
		if sched, loc, err := v1.ParseSchedule(*sc); err == nil {
			last, err := q.GetTriggerSlot(ctx, t.Metadata.Project, t.Metadata.Name)
			if err != nil {
				return out, err
			}
			base := now
			if t.Metadata.CreatedAt.After(base) {
				base = t.Metadata.CreatedAt
			}
			if last != nil && last.After(base) {
				base = *last
			}
			next := sched.Next(base.In(loc)).UTC()
			if !next.IsZero() {
				out.NextFire = &next
			}
		}
	}
	return out, nil
}
