package engine

import (
	"context"
	"encoding/json"
	"slices"
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
//
// Calls that arrive while another's transaction is under way are applied
// together in the next one (group commit, see ingestQueue): under load,
// one commit and one pass over the touched pages serve many agents.
func (e *Engine) Ingest(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error) {
	sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	if err := checkEvents(events); err != nil {
		return v1.AgentEventAck{}, err
	}
	c := &ingestCall{attemptID: attemptID, events: events, wake: make(chan struct{}, 1)}
	// The batch may be another caller's too: one caller going away does
	// not abandon the others' events.
	e.ingests.join(c, func(batch []*ingestCall) { e.ingestBatch(context.WithoutCancel(ctx), batch) })
	return c.ack, c.err
}

// checkEvents refuses a batch with an event that could not be applied.
func checkEvents(events []v1.AgentEvent) error {
	for _, ev := range events {
		switch ev.Type {
		case v1.EventStarted, v1.EventHeartbeat:
		case v1.EventOutput:
			if ev.Output == nil || ev.Name == "" {
				return errs.E(errs.Invalid, "event %d: an output event needs name and output", ev.Seq)
			}
		case v1.EventExited:
			if ev.Exit == nil {
				return errs.E(errs.Invalid, "event %d: an exited event needs exit", ev.Seq)
			}
		default:
			return errs.E(errs.Invalid, "event %d: unknown type %q", ev.Seq, ev.Type)
		}
	}
	return nil
}

// ingestBatch applies calls in one transaction and sets each one's ack or
// error. If the transaction fails, each call is tried in one of its own,
// so that one call's trouble is not the others'.
func (e *Engine) ingestBatch(ctx context.Context, batch []*ingestCall) {
	now := e.clock()
	type applied struct {
		c        *ingestCall
		a        store.Attempt
		cancel   bool
		finished bool
		handle   json.RawMessage // recorded by this transaction (see recordLoop)
	}
	var done []applied
	err := e.store.Tx(ctx, func(q store.Querier) error {
		done = done[:0]
		q = &onceWoken{Querier: q, due: map[string]time.Time{}}
		runs := runsOnce{}
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.attemptID
		}
		attempts, err := e.lockAttempts(ctx, q, ids)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(batch))
		for _, c := range batch {
			c.err = nil
			a, ok := attempts[c.attemptID]
			if !ok {
				c.err = attemptNotFound(c.attemptID)
				continue
			}
			if seen[a.ID] { // again in this batch (an agent's resend): as the call before left it
				if a, err = q.GetAttempt(ctx, a.ID); err != nil {
					return err
				}
			}
			seen[a.ID] = true
			r := applied{c: c}
			if len(a.Handle) == 0 {
				r.handle = e.unrecordedHandle(a.ID)
			}
			run, err := runs.get(ctx, q, a.RunID)
			if err != nil {
				return err
			}
			if r.a, r.cancel, r.finished, err = e.apply(ctx, q, a, run, r.handle, c.events, now); err != nil {
				return err
			}
			done = append(done, r)
		}
		return nil
	})
	if err != nil {
		if len(batch) == 1 {
			batch[0].err = err
			return
		}
		for _, c := range batch {
			e.ingestBatch(ctx, []*ingestCall{c})
		}
		return
	}
	var recorded []startedAttempt
	for _, r := range done {
		if r.handle != nil {
			recorded = append(recorded, startedAttempt{attempt: r.a, handle: r.handle})
		}
		if r.finished {
			e.attemptDone(r.a)
		}
		e.notifier.Notify(r.a.RunID)
		r.c.ack = v1.AgentEventAck{Applied: r.a.LastSeq, Cancel: r.cancel || e.isStopping(r.a.ID)}
	}
	e.handlesRecorded(ctx, recorded)
}

// apply applies events to attempt a of run (both read under the run's
// lock), and records its handle if one is given (see recordLoop), and
// returns it as updated, whether its run was asked to cancel, and whether
// the events finished it.
func (e *Engine) apply(ctx context.Context, q store.Querier, a store.Attempt, run store.Run, handle json.RawMessage, events []v1.AgentEvent, now time.Time) (store.Attempt, bool, bool, error) {
	if handle != nil {
		a.Handle = handle
		if a.Phase == v1.Pending {
			if err := e.markStarted(ctx, q, &a, run, now); err != nil {
				return a, false, false, err
			}
		}
	}
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
			a.HeartbeatAt = ptr(now)
			if err := e.markStarted(ctx, q, &a, run, now); err != nil {
				return a, false, false, err
			}
		case v1.EventHeartbeat:
			a.HeartbeatAt = ptr(now)
		case v1.EventOutput:
			if a.Outputs == nil {
				a.Outputs = map[string]v1.Output{}
			}
			a.Outputs[ev.Name] = *ev.Output
		case v1.EventExited:
			exit = ev.Exit
		}
	}
	a.LastSeq = applied
	a.HeartbeatAt = ptr(now)
	if exit != nil && !a.Phase.Done() {
		err := e.finishAttempt(ctx, q, run, a, *exit, now)
		return a, run.CancelRequested, true, err
	}
	_, err := q.UpdateAttempt(ctx, a, "")
	return a, run.CancelRequested, false, err
}

// runsOnce reads each run once in a transaction that locked it and changes
// no run's row (ingestion, recording starts): round trips are what
// PostgreSQL's time goes to.
type runsOnce map[string]store.Run

func (r runsOnce) get(ctx context.Context, q store.Querier, id string) (store.Run, error) {
	if run, ok := r[id]; ok {
		return run, nil
	}
	run, err := q.GetRun(ctx, id)
	if err == nil {
		r[id] = run
	}
	return run, err
}

// onceWoken passes on a transaction's wake-ups except those an earlier one
// of the same transaction covers: a wake-up keeps the earliest time asked
// for (see store.Querier.Wake), so a run already woken at or before t needs
// no second row write. A group commit finishing many attempts of one run
// wakes it once.
type onceWoken struct {
	store.Querier
	due map[string]time.Time // run -> earliest wake-up asked for in this transaction
}

func (q *onceWoken) Wake(ctx context.Context, runID string, at time.Time) error {
	if d, ok := q.due[runID]; ok && !at.Before(d) {
		return nil
	}
	if err := q.Querier.Wake(ctx, runID, at); err != nil {
		return err
	}
	q.due[runID] = at
	return nil
}

// lockAttempts reads attempts (ids, repeats allowed) with their runs
// locked for the rest of the transaction (see lockRuns), so that
// ingestion, dispatch and planning of one run never interleave. An
// attempt that does not exist is left out. The attempts are read in one
// query (two where rows can change before the lock): a round trip each
// was most of a group commit's statements on PostgreSQL.
func (e *Engine) lockAttempts(ctx context.Context, q store.Querier, ids []string) (map[string]store.Attempt, error) {
	if len(ids) == 0 {
		return map[string]store.Attempt{}, nil // an empty filter would read every attempt
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	attempts, err := readAttempts(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	runs := make([]string, 0, len(attempts))
	for _, a := range attempts {
		runs = append(runs, a.RunID)
	}
	if err := lockRuns(ctx, q, runs); err != nil {
		return nil, err
	}
	if e.locksRows { // read before the lock: may be stale
		return readAttempts(ctx, q, ids)
	}
	return attempts, nil
}

// readAttempts reads attempts by id (ids not empty) in one query; those
// that do not exist are left out.
func readAttempts(ctx context.Context, q store.Querier, ids []string) (map[string]store.Attempt, error) {
	list, err := q.ListAttempts(ctx, store.AttemptFilter{IDs: ids})
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Attempt, len(list))
	for _, a := range list {
		out[a.ID] = a
	}
	return out, nil
}

// lockRuns locks runs (ids, in any order, repeats allowed) for the rest of
// the transaction, in the order of their ids: every transaction that
// locks several runs takes them in that order, so that two never wait
// for each other (PostgreSQL would break the cycle after a second, by
// failing one of them).
func lockRuns(ctx context.Context, q store.Querier, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if err := q.LockRun(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// lockAttempt reads an attempt with its run locked for the rest of the
// transaction, so that ingestion, dispatch and planning of one run never
// interleave.
func (e *Engine) lockAttempt(ctx context.Context, q store.Querier, id string) (store.Attempt, error) {
	attempts, err := e.lockAttempts(ctx, q, []string{id})
	if err != nil {
		return store.Attempt{}, err
	}
	a, ok := attempts[id]
	if !ok {
		return a, attemptNotFound(id)
	}
	return a, nil
}

// attemptNotFound is the error for an attempt that does not exist (the
// store's own words).
func attemptNotFound(id string) error { return errs.E(errs.NotFound, "attempt %q not found", id) }

// markStarted records that attempt a (Pending or Running) started: it is
// Running, since its start time (now, if none yet), until its deadline.
func (e *Engine) markStarted(ctx context.Context, q store.Querier, a *store.Attempt, run store.Run, now time.Time) error {
	a.Phase = v1.Running
	if a.StartedAt == nil {
		a.StartedAt = ptr(now)
	}
	return e.setDeadline(ctx, q, a, run, now)
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
