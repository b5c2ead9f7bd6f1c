package engine

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
)

func (e *Engine) reconcileLoop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.ReconcileEvery)
	defer tick.Stop()
	ended := e.ended.signal()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			for _, id := range e.ended.take() {
				e.taskEnded(ctx, id)
			}
		case <-tick.C:
			if err := e.reconcile(ctx, false); err != nil && ctx.Err() == nil {
				e.log.Error("reconciling attempts", "err", err)
			}
		}
	}
}

// reconcile brings unfinished attempts in line with their backends. At
// startup (after a crash or a kill -9) every one is checked: running tasks
// are re-attached and keep running, attempts that were created but maybe
// never started are started (backends make that idempotent), and tasks that
// vanished are recorded as lost so that their retry policy applies. Later
// passes look only at attempts whose agent went quiet.
func (e *Engine) reconcile(ctx context.Context, startup bool) error {
	active, err := e.store.ListAttempts(ctx, store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}})
	if err != nil {
		return err
	}
	now := e.clock()
	for _, a := range active {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case a.Phase == v1.Pending && len(a.Handle) == 0:
			if startup || now.Sub(a.CreatedAt) > e.cfg.StaleAfter {
				e.redispatch(ctx, a)
			}
		case startup || a.HeartbeatAt == nil || now.Sub(*a.HeartbeatAt) > e.cfg.StaleAfter:
			e.checkAttempt(ctx, a, startup)
		}
	}
	// Wake-ups claimed by a process that died were rolled back with its
	// transaction; a poke plans them now rather than at the next tick.
	if startup {
		e.poke()
	}
	return nil
}

// redispatch starts an attempt that was created but whose start was never
// recorded. Its token's secret died with the old process, so a new one is
// minted.
func (e *Engine) redispatch(ctx context.Context, a store.Attempt) {
	e.mu.Lock()
	busy := e.inflight[a.ID]
	e.mu.Unlock()
	if busy {
		return
	}
	var j job
	err := e.store.Tx(ctx, func(q store.Querier) error {
		t, err := q.GetTask(ctx, a.RunID, a.Step, a.Index)
		if err != nil {
			return err
		}
		j, err = e.newJob(ctx, q, a, t.Manifest)
		return err
	})
	if err != nil {
		e.log.Error("re-dispatching an attempt", "attempt", a.ID, "err", err)
		return
	}
	e.enqueue(ctx, j)
}

// handleOf is an attempt's backend and handle; why says what is wrong
// when there is none.
func (e *Engine) handleOf(a store.Attempt) (b *backend.Backend, h backend.Handle, why string) {
	b, err := e.cfg.Backends.Get(a.Backend)
	if err != nil {
		return nil, h, "backend " + a.Backend + " is not configured"
	}
	if len(a.Handle) > 0 {
		if err := json.Unmarshal(a.Handle, &h); err != nil {
			return nil, h, "unreadable backend handle"
		}
	} else {
		h = backend.Handle{Version: backend.HandleVersion, Driver: a.Backend, AttemptID: a.ID}
	}
	return b, h, ""
}

// silentSince is when an attempt's agent last said anything: its last
// heartbeat, else the recorded start, else the attempt's creation.
func silentSince(a store.Attempt) time.Time {
	switch {
	case a.HeartbeatAt != nil:
		return *a.HeartbeatAt
	case a.StartedAt != nil:
		return *a.StartedAt
	}
	return a.CreatedAt
}

// checkAttempt asks the backend about an attempt whose agent is silent.
func (e *Engine) checkAttempt(ctx context.Context, a store.Attempt, recover bool) {
	b, h, why := e.handleOf(a)
	if b == nil {
		e.lose(ctx, a, why)
		return
	}
	if recover {
		if err := b.Recover(ctx, h); errs.Is(err, errs.NotFound) {
			e.lose(ctx, a, "")
			return
		} else if err != nil {
			e.log.Warn("recovering an attempt", "attempt", a.ID, "err", err)
			return
		}
	}
	st, err := b.Status(ctx, h)
	if err != nil {
		e.log.Warn("attempt status", "attempt", a.ID, "err", err)
		return
	}
	switch {
	case st.Phase == v1.Lost:
		e.lose(ctx, a, "")
	case st.Phase.Done() && st.Exit != nil && !recover && e.clock().Sub(silentSince(a)) > 10*e.cfg.StaleAfter:
		// The agent wrote its result but has been silent far longer than a
		// delivery backoff (or never said anything): it died while
		// delivering. Take the result from the backend (outputs it had not
		// reported are then missing).
		if err := e.finish(ctx, a.ID, *st.Exit); err != nil {
			e.log.Error("finishing a quiet attempt", "attempt", a.ID, "err", err)
		}
	}
}

func (e *Engine) lose(ctx context.Context, a store.Attempt, why string) {
	exit := v1.Exit{Code: -1, Error: ErrLost}
	e.log.Warn("attempt lost", "attempt", a.ID, "run", a.RunID, "step", a.Step, "why", why)
	if err := e.finish(ctx, a.ID, exit); err != nil {
		e.log.Error("recording a lost attempt", "attempt", a.ID, "err", err)
	}
}

// TaskEnded is how a driver that watches its tasks (kubernetes) tells the
// engine, promptly, that an attempt's task ended and that no agent runs
// for it any more: what the agent did not deliver, it never will. The
// engine then (on its reconcile goroutine) takes the backend's terminal
// status as the attempt's outcome when the agent reported none — a pod
// that ran no agent (kwok), or whose agent was killed with it (OOM
// killer, eviction, deletion) — and cleans the task up once the outcome
// is recorded, whoever reported it. An agent that reported its exit keeps
// the outcome it reported: the backend's is only read when there is none.
// Safe from any goroutine, before Start too; it never blocks.
func (e *Engine) TaskEnded(attemptID string) { e.ended.add(attemptID, 0) }

// endedPendingTries bounds how long an ended task whose start is not yet
// recorded (the dispatcher commits handles in batches) is looked at again.
const (
	endedPendingTries = 50
	endedPendingEvery = 100 * time.Millisecond
)

// taskEnded applies one TaskEnded.
func (e *Engine) taskEnded(ctx context.Context, id string) {
	a, err := e.store.GetAttempt(ctx, id)
	if errs.Is(err, errs.NotFound) {
		return // not this engine's (another control plane's, or deleted)
	}
	if err != nil {
		e.log.Warn("reading an ended attempt", "attempt", id, "err", err)
		return
	}
	if a.Phase == v1.Pending {
		// Started a moment ago; its handle is being recorded. Look again.
		if tries := e.ended.tries(id); tries < endedPendingTries {
			time.AfterFunc(endedPendingEvery, func() { e.ended.add(id, tries+1) })
		}
		return
	}
	b, h, why := e.handleOf(a)
	if b == nil {
		if !a.Phase.Done() {
			e.lose(ctx, a, why)
		}
		return
	}
	if !a.Phase.Done() {
		st, err := b.Status(ctx, h)
		if err != nil {
			e.log.Warn("status of an ended attempt", "attempt", id, "err", err)
			return
		}
		switch {
		case st.Phase.Done() && st.Exit != nil:
			if err := e.finish(ctx, a.ID, *st.Exit); err != nil {
				e.log.Error("finishing an attempt from its backend's status", "attempt", a.ID, "err", err)
				return
			}
		case st.Phase == v1.Lost:
			e.lose(ctx, a, "its task ended without a result")
		default:
			return // still running after all: a later event or tick decides
		}
	}
	if err := b.Cleanup(ctx, h); err != nil && ctx.Err() == nil {
		e.log.Warn("cleaning up an ended attempt", "attempt", id, "err", err)
	}
}

// endedQueue is a set of attempt ids waiting for taskEnded, with a signal
// for the reconcile loop. Its zero value is ready to use.
type endedQueue struct {
	mu   sync.Mutex
	ids  map[string]int // attempt id -> times it was looked at already
	last map[string]int // the ids of the last take
	ch   chan struct{}
}

func (q *endedQueue) init() {
	if q.ch == nil {
		q.ch = make(chan struct{}, 1)
		q.ids = map[string]int{}
	}
}

func (q *endedQueue) signal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	return q.ch
}

func (q *endedQueue) add(id string, tries int) {
	q.mu.Lock()
	q.init()
	q.ids[id] = max(q.ids[id], tries)
	q.mu.Unlock()
	select {
	case q.ch <- struct{}{}:
	default:
	}
}

// take empties the set; tries answers for the ids taken until the next take.
func (q *endedQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	ids := make([]string, 0, len(q.ids))
	for id := range q.ids {
		ids = append(ids, id)
	}
	q.last, q.ids = q.ids, map[string]int{}
	return ids
}

func (q *endedQueue) tries(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.last[id]
}
