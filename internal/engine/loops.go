package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"runtime"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
)

func numCPU() int { return runtime.NumCPU() }

// planBatch is how many runs one planning transaction takes on.
const planBatch = 16

// planLoop plans runs whose wake-up is due: on a poke (an event arrived, a
// run was submitted) or every second for timers and other replicas' wakes.
func (e *Engine) planLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		last := time.Now()
		for {
			n, err := e.planOnce(ctx)
			if err != nil && ctx.Err() == nil {
				e.log.Error("planning failed", "err", err)
				break
			}
			if n < planBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wakeup:
			// Completions come in bursts: passes at least planDebounce
			// apart let one pass take in many of them instead of
			// re-reading the run for each, while a wake-up after a quiet
			// spell is planned at once.
			if d := planDebounce - time.Since(last); d > 0 {
				time.Sleep(d)
			}
		case <-tick.C:
		}
	}
}

// planDebounce is the least time between the starts of planning passes
// after a wake-up. A pass costs about the same whether it takes in one
// completion or several (claiming wake-ups, counting what runs, reading
// the run, committing): at 15 ms rather than 5, a run of 1,000 × `true`
// on two cores cost the control plane 2.5-2.9 ms of CPU per step instead
// of 3.1-3.3. Only completions that come within 15 ms of a pass wait for
// the next one; a step after a quiet spell is planned at once.
const planDebounce = 15 * time.Millisecond

// planOnce claims due runs and plans each in one transaction; the attempts
// it created are dispatched after the commit.
func (e *Engine) planOnce(ctx context.Context) (int, error) {
	start := time.Now()
	now := e.clock()
	var (
		results []applyResult
		runs    []string
		steps   []cachedSteps // each run's step rows once the plan committed
	)
	err := e.store.Tx(ctx, func(q store.Querier) error {
		results, runs, steps = results[:0], runs[:0], steps[:0]
		ids, err := q.ClaimWakeups(ctx, now, planBatch)
		if err != nil {
			return err
		}
		active, err := q.CountAttempts(ctx, store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}})
		if err != nil {
			return err
		}
		capacity := e.cfg.MaxRunning - active
		backends := map[string]bool{}
		for _, n := range e.cfg.Backends.Names() {
			backends[n] = true
		}
		// Projects with a quota: what their unfinished attempts ask for,
		// kept up to date with the starts planned in this pass.
		uses := map[string]Use{}
		var activeList []store.Attempt
		projects := map[string]v1.Project{} // each read once a pass
		if err := lockRuns(ctx, q, ids); err != nil {
			return err
		}
		for _, id := range ids { // planned in the order they came due
			snap, err := loadSnapshot(ctx, q, e.steps, e.cfg.Unseal, id, capacity, now)
			if errs.Is(err, errs.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			proj, ok := projects[snap.Run.Project]
			if !ok {
				proj, _ = q.GetProject(ctx, snap.Run.Project) // gone: engine defaults
				projects[snap.Run.Project] = proj
			}
			snap.DefaultBackend = cmp.Or(proj.Spec.DefaultBackend, e.cfg.DefaultBackend)
			snap.BackendPolicy, snap.Backends = proj.Spec.BackendPolicy, backends
			if snap.Quota = proj.Spec.Quota; snap.Quota != nil && !snap.Run.Phase.Done() {
				u, ok := uses[snap.Run.Project]
				if !ok {
					if activeList == nil {
						if activeList, err = q.ListAttempts(ctx, store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}}); err != nil {
							return err
						}
					}
					if u, err = projectUse(ctx, q, snap.Run.Project, activeList); err != nil {
						return err
					}
				}
				snap.ProjectUse = u
			}
			snap.StaleAfter = e.cfg.StaleAfter
			snap.Stopping = e.stoppingSet()
			plan := MakePlan(snap, now)
			res, err := e.applyPlan(ctx, q, snap, plan, now)
			if err != nil {
				return err
			}
			capacity -= len(res.jobs)
			if snap.Quota != nil {
				uses[snap.Run.Project] = plan.Use
			}
			results = append(results, res)
			runs = append(runs, id)
			steps = append(steps, cachedSteps{version: snap.Run.StepsVersion + int64(len(plan.Steps)), steps: applied(snap.Steps, plan.Steps)})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, id := range runs {
		if len(steps[i].steps) > 0 {
			e.steps.put(id, steps[i].version, steps[i].steps)
		}
	}
	e.metrics.planSeconds.Observe(time.Since(start).Seconds())
	for i, res := range results {
		e.mu.Lock()
		if res.starved {
			e.starved[runs[i]] = true
		}
		for _, a := range res.stops {
			e.stopping[a.ID] = true
		}
		e.mu.Unlock()
		for _, a := range res.stops {
			go e.stopAttempt(ctx, a)
		}
		for _, j := range res.jobs {
			e.enqueue(ctx, j)
		}
		if res.changed {
			e.notifier.Notify(runs[i])
		}
	}
	return len(runs), nil
}

func (e *Engine) stoppingSet() map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]bool, len(e.stopping))
	for id := range e.stopping {
		m[id] = true
	}
	return m
}

func (e *Engine) enqueue(ctx context.Context, j job) {
	e.mu.Lock()
	e.inflight[j.attempt.ID] = true
	e.mu.Unlock()
	select {
	case e.jobs <- j:
	case <-ctx.Done():
	}
}

func (e *Engine) dispatchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.jobs:
			e.dispatch(ctx, j)
			e.mu.Lock()
			delete(e.inflight, j.attempt.ID)
			e.mu.Unlock()
		}
	}
}

// dispatch starts one attempt on its backend and records the handle. A
// backend that refuses the attempt fails it (and the retry policy decides);
// one that is unavailable leaves it Pending for the reconciler to try again.
func (e *Engine) dispatch(ctx context.Context, j job) {
	if fn := e.minted.Load(); fn != nil {
		(*fn)(j.token, j.attempt) // before its agent can present it
	}
	b, err := e.cfg.Backends.Get(j.attempt.Backend)
	var h backend.Handle
	if err == nil {
		h, err = b.Start(ctx, &j.manifest)
	}
	if err != nil {
		if errs.Is(err, errs.Unavailable) || ctx.Err() != nil {
			e.log.Warn("backend unavailable; will retry the start", "attempt", j.attempt.ID, "backend", j.attempt.Backend, "err", err)
			return
		}
		e.failStart(ctx, j.attempt, err)
		return
	}
	e.metrics.started.WithLabelValues(j.attempt.Backend).Inc()
	raw, _ := json.Marshal(h)
	e.mu.Lock()
	e.unrecorded[j.attempt.ID] = raw
	e.mu.Unlock()
	select {
	case e.started <- startedAttempt{attempt: j.attempt, handle: raw}:
	case <-ctx.Done():
	}
}

// startedAttempt is a handle to record for an attempt a backend started.
type startedAttempt struct {
	attempt store.Attempt
	handle  json.RawMessage
}

// recordLoop records started attempts' handles, many per transaction: one
// writer committing a batch is far cheaper than a transaction per start.
//
// A handle is recorded recordAfter after its start, not at once: the
// report of a short task comes first, and its transaction records the
// handle with the exit (see ingestBatch). A run of short steps then
// costs two transactions per step instead of three. Until then the handle
// is in e.unrecorded; should this process die meanwhile, the attempt is
// Pending without a handle, which startup reconciliation starts again
// (backends make that idempotent), as before.
func (e *Engine) recordLoop(ctx context.Context) {
	for {
		var batch []startedAttempt
		select {
		case <-ctx.Done():
			return
		case s := <-e.started:
			batch = append(batch, s)
		}
		due := time.NewTimer(recordAfter)
	gather:
		for len(batch) < 256 {
			select {
			case s := <-e.started:
				batch = append(batch, s)
			case <-due.C:
				break gather
			case <-ctx.Done():
				due.Stop()
				return
			}
		}
		due.Stop()
		if batch = e.takeHandles(batch); len(batch) == 0 {
			continue
		}
		if err := e.recordStarted(ctx, batch); err != nil {
			if ctx.Err() == nil {
				e.log.Error("recording started attempts", "count", len(batch), "err", err)
			}
			continue
		}
		e.handlesRecorded(ctx, batch)
	}
}

// recordAfter is how long a started attempt's handle waits for its
// attempt's first report to record it.
const recordAfter = 100 * time.Millisecond

// takeHandles keeps the started attempts whose handles are still to be
// recorded, and forgets them: the caller records them.
func (e *Engine) takeHandles(batch []startedAttempt) []startedAttempt {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := batch[:0]
	for _, s := range batch {
		if _, ok := e.unrecorded[s.attempt.ID]; ok {
			delete(e.unrecorded, s.attempt.ID)
			out = append(out, s)
		}
	}
	return out
}

// unrecordedHandle is the handle of a started attempt still to be
// recorded (nil: none). A report's transaction that records it leaves it
// there until handlesRecorded (the transaction may fail and be retried).
func (e *Engine) unrecordedHandle(id string) json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.unrecorded[id]
}

// handlesRecorded follows up on handles a transaction recorded. A stop
// planned (a cancel, a timeout) while an attempt was being started found
// no handle to stop it by; now there is one. An agent would learn of the
// stop at its next report, but a task that reports nothing more (a hung
// one) would run on.
func (e *Engine) handlesRecorded(ctx context.Context, batch []startedAttempt) {
	e.mu.Lock()
	for _, s := range batch {
		delete(e.unrecorded, s.attempt.ID)
	}
	e.mu.Unlock()
	for _, s := range batch {
		if e.isStopping(s.attempt.ID) {
			a := s.attempt
			a.Handle = s.handle
			go e.stopAttempt(ctx, a)
		}
	}
}

func (e *Engine) recordStarted(ctx context.Context, batch []startedAttempt) error {
	now := e.clock()
	return e.store.Tx(ctx, func(q store.Querier) error {
		runs := make([]string, len(batch))
		for i, s := range batch {
			runs[i] = s.attempt.RunID
		}
		if err := lockRuns(ctx, q, runs); err != nil {
			return err
		}
		// Under their runs' locks: current. One query for all, and each
		// run read once: round trips are what PostgreSQL's time goes to.
		ids := make([]string, len(batch))
		for i, s := range batch {
			ids[i] = s.attempt.ID
		}
		current, err := readAttempts(ctx, q, ids)
		if err != nil {
			return err
		}
		read := runsOnce{}
		for _, s := range batch {
			a, ok := current[s.attempt.ID]
			if !ok {
				return attemptNotFound(s.attempt.ID)
			}
			a.Handle = s.handle
			if a.Phase == v1.Pending {
				run, err := read.get(ctx, q, a.RunID)
				if err != nil {
					return err
				}
				if err := e.markStarted(ctx, q, &a, run, now); err != nil {
					return err
				}
			}
			if _, err := q.UpdateAttempt(ctx, a, ""); err != nil {
				return err
			}
			current[a.ID] = a
		}
		return nil
	})
}

// failStart records a start the backend refused as a failed attempt.
func (e *Engine) failStart(ctx context.Context, a store.Attempt, cause error) {
	exit := v1.Exit{Code: -1, Error: "start on backend " + a.Backend + ": " + errs.Public(cause).Message}
	err := e.finish(ctx, a.ID, exit)
	if err != nil && ctx.Err() == nil {
		e.log.Error("recording a failed start", "attempt", a.ID, "err", err)
	}
}

// finish ends an attempt with exit outside any agent report (a refused
// start, a lost process).
func (e *Engine) finish(ctx context.Context, attemptID string, exit v1.Exit) error {
	var a store.Attempt
	err := e.store.Tx(ctx, func(q store.Querier) error {
		var err error
		if a, err = e.lockAttempt(ctx, q, attemptID); err != nil {
			return err
		}
		run, err := q.GetRun(ctx, a.RunID)
		if err != nil {
			return err
		}
		return e.finishAttempt(ctx, q, run, a, exit, e.clock())
	})
	if err != nil {
		return err
	}
	e.attemptDone(a)
	e.notifier.Notify(a.RunID)
	return nil
}

// stopAttempt asks the backend to stop an attempt; its agent then reports
// a cancelled exit (and is told so in every ack meanwhile).
func (e *Engine) stopAttempt(ctx context.Context, a store.Attempt) {
	if len(a.Handle) == 0 {
		a.Handle = e.unrecordedHandle(a.ID) // started, its handle not yet recorded
	}
	if len(a.Handle) == 0 {
		fresh, err := e.store.GetAttempt(ctx, a.ID)
		if err != nil || len(fresh.Handle) == 0 {
			return // not started yet: the dispatcher's agent learns of the cancel from its first ack
		}
		a = fresh
	}
	var h backend.Handle
	if err := json.Unmarshal(a.Handle, &h); err != nil {
		return
	}
	b, err := e.cfg.Backends.Get(a.Backend)
	if err != nil {
		return
	}
	if err := b.Stop(ctx, h); err != nil && ctx.Err() == nil {
		e.log.Warn("stopping an attempt", "attempt", a.ID, "err", err)
	}
}
