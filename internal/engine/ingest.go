package engine

import (
	"context"
	"sort"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Ingest applies an agent's events to its attempt, each (attempt, seq) at
// most once and in order: a batch that resends applied events is harmless,
// and one with a gap is applied up to the gap (the ack tells the agent where
// to resume). The final event finishes the attempt and moves its task and
// run on in the same transaction.
func (e *Engine) Ingest(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error) {
	sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	var (
		a        store.Attempt
		cancel   bool
		finished bool
	)
	now := e.clock()
	err := e.store.Tx(ctx, func(q store.Querier) error {
		var err error
		if a, err = e.lockAttempt(ctx, q, attemptID); err != nil {
			return err
		}
		run, err := q.GetRun(ctx, a.RunID)
		if err != nil {
			return err
		}
		cancel = run.CancelRequested
		var exit *v1.Exit
		applied := a.LastSeq
		for _, ev := range events {
			if ev.Seq <= applied {
				continue
			}
			if ev.Seq != applied+1 {
				break
			}
			applied = ev.Seq
			if a.Phase.Done() {
				continue // the engine already gave up on it; keep the sequence moving
			}
			switch ev.Type {
			case v1.EventStarted:
				if a.Phase == v1.Pending {
					a.Phase = v1.Running
				}
				if a.StartedAt == nil {
					a.StartedAt = ptr(now)
				}
				a.HeartbeatAt = ptr(now)
				if err := e.setDeadline(ctx, q, &a, run, now); err != nil {
					return err
				}
			case v1.EventHeartbeat:
				a.HeartbeatAt = ptr(now)
			case v1.EventOutput:
				if ev.Output == nil || ev.Name == "" {
					return errs.E(errs.Invalid, "event %d: an output event needs name and output", ev.Seq)
				}
				if a.Outputs == nil {
					a.Outputs = map[string]v1.Output{}
				}
				a.Outputs[ev.Name] = *ev.Output
			case v1.EventExited:
				if ev.Exit == nil {
					return errs.E(errs.Invalid, "event %d: an exited event needs exit", ev.Seq)
				}
				exit = ev.Exit
			default:
				return errs.E(errs.Invalid, "event %d: unknown type %q", ev.Seq, ev.Type)
			}
		}
		a.LastSeq = applied
		a.HeartbeatAt = ptr(now)
		if exit != nil && !a.Phase.Done() {
			finished = true
			return e.finishAttempt(ctx, q, run, a, *exit, now)
		}
		_, err = q.UpdateAttempt(ctx, a, "")
		return err
	})
	if err != nil {
		return v1.AgentEventAck{}, err
	}
	if finished {
		e.attemptDone(a)
	}
	e.notifier.Notify(a.RunID)
	return v1.AgentEventAck{Applied: a.LastSeq, Cancel: cancel || e.isStopping(a.ID)}, nil
}

// lockAttempt reads an attempt with its run locked for the rest of the
// transaction, so that ingestion, dispatch and planning of one run never
// interleave.
func (e *Engine) lockAttempt(ctx context.Context, q store.Querier, id string) (store.Attempt, error) {
	a, err := q.GetAttempt(ctx, id)
	if err != nil {
		return a, err
	}
	if err := q.LockRun(ctx, a.RunID); err != nil {
		return a, err
	}
	if e.locksRows {
		return q.GetAttempt(ctx, id) // read before the lock: may be stale
	}
	return a, nil
}

// setDeadline fixes when the engine gives up on a silent attempt: the
// step's timeout from the start, plus a grace for the agent to report it.
// The run is woken then, in the caller's transaction.
func (e *Engine) setDeadline(ctx context.Context, q store.Querier, a *store.Attempt, run store.Run, now time.Time) error {
	def := stepDef(run.Spec, a.Step)
	if def == nil || def.Timeout.Duration <= 0 || a.Deadline != nil {
		return nil
	}
	start := now
	if a.StartedAt != nil {
		start = *a.StartedAt
	}
	a.Deadline = ptr(start.Add(def.Timeout.Duration + e.cfg.DeadlineGrace))
	return q.Wake(ctx, run.ID, *a.Deadline)
}

// Report lets in-process backends (the mock) deliver events as an agent
// would over HTTP.
func (e *Engine) Report(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error) {
	return e.Ingest(ctx, attemptID, events)
}
