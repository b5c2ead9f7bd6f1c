package engine

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// job is an attempt to start on a backend once its transaction committed.
type job struct {
	attempt  store.Attempt
	manifest v1.TaskManifest
	token    store.Token // the agent's, minted with the job (its secret is in manifest)
}

// applyResult is what a committed plan leaves for the engine to do outside
// the transaction.
type applyResult struct {
	jobs    []job
	stops   []store.Attempt
	starved bool
	changed bool
}

// applyPlan writes a plan in the caller's transaction: step and run rows,
// new tasks (served from the cache when their key is known), new attempts
// with their agent tokens, and the run's next wake-up.
func (e *Engine) applyPlan(ctx context.Context, q store.Querier, snap Snapshot, p Plan, now time.Time) (applyResult, error) {
	res := applyResult{stops: p.Stops, starved: p.Starved, changed: !p.Empty()}
	run := snap.Run
	if p.Run != nil {
		run = *p.Run
		if err := q.UpdateRun(ctx, run); err != nil {
			return res, err
		}
	}
	for _, s := range p.Steps {
		if err := q.UpdateStep(ctx, s); err != nil {
			return res, err
		}
	}
	cached, err := e.insertTasks(ctx, q, p.NewTasks, now)
	if err != nil {
		return res, err
	}
	for _, t := range p.Cancel {
		t.Phase, t.Message, t.FinishedAt = v1.Cancelled, "run cancelled", ptr(now)
		if err := q.UpdateTask(ctx, t); err != nil {
			return res, err
		}
	}
	for _, st := range p.Starts {
		if cached[taskKey(st.Task)] {
			continue
		}
		j, err := e.createAttempt(ctx, q, run, st, now)
		if err != nil {
			return res, err
		}
		res.jobs = append(res.jobs, j)
	}
	for _, a := range p.Expire {
		exit := v1.Exit{Code: -1, TimedOut: true, Error: "no exit reported by the agent within the step's timeout"}
		if err := e.finishAttempt(ctx, q, run, a, exit, now); err != nil {
			return res, err
		}
		res.stops = append(res.stops, a)
	}
	wake := p.WakeAt
	if len(cached) > 0 || len(p.Expire) > 0 {
		wake = ptr(now) // cached tasks finished steps the plan did not see finish
	}
	if wake != nil && !run.Phase.Done() {
		if err := q.Wake(ctx, run.ID, *wake); err != nil {
			return res, err
		}
	}
	return res, nil
}

func taskKey(t store.Task) string { return t.Step + "\x00" + itoa(t.Index) }

// insertTasks stores a step's new tasks; those whose cache key has recorded
// outputs are stored as Cached and reported so that they are not started.
func (e *Engine) insertTasks(ctx context.Context, q store.Querier, tasks []store.Task, now time.Time) (map[string]bool, error) {
	cached := map[string]bool{}
	pins := pinnedFiles{}
	for i := range tasks {
		t := &tasks[i]
		if err := pinInputs(ctx, q, pins, t); err != nil {
			var f inputFailure
			if !errors.As(err, &f) {
				return nil, err
			}
			// Not started, like a cached task; the next pass sees it failed.
			t.Phase, t.Message = v1.Failed, f.msg
			t.StartedAt, t.FinishedAt = ptr(now), ptr(now)
			cached[taskKey(*t)] = true
			continue
		}
		if t.CacheKey == "" {
			continue
		}
		outs, err := q.GetCache(ctx, t.Manifest.Project, t.CacheKey)
		if err != nil {
			continue // a miss (NotFound) or an unreadable entry: run it
		}
		t.Phase, t.Outputs, t.Message = v1.Cached, outs, "outputs from cache"
		t.StartedAt, t.FinishedAt = ptr(now), ptr(now)
		cached[taskKey(*t)] = true
	}
	if len(tasks) == 0 {
		return cached, nil
	}
	return cached, q.InsertTasks(ctx, tasks)
}

// createAttempt records a new attempt of a task and mints the token its
// agent authenticates with (valid for this attempt only).
func (e *Engine) createAttempt(ctx context.Context, q store.Querier, run store.Run, st Start, now time.Time) (job, error) {
	a := store.Attempt{
		ID:        uuid.NewString(),
		Project:   run.Project,
		RunID:     run.ID,
		Step:      st.Task.Step,
		Index:     st.Task.Index,
		Number:    st.Number,
		Phase:     v1.Pending,
		Backend:   st.Backend,
		Reason:    st.Reason,
		Owner:     e.owner,
		CreatedAt: now,
	}
	if err := q.InsertAttempt(ctx, a); err != nil {
		return job{}, err
	}
	t := st.Task
	t.Phase, t.Attempts, t.Backend, t.NextAt, t.Message = v1.Running, st.Number, st.Backend, nil, ""
	if t.StartedAt == nil {
		t.StartedAt = ptr(now)
	}
	if err := q.UpdateTask(ctx, t); err != nil {
		return job{}, err
	}
	return e.newJob(ctx, q, a, t.Manifest)
}

// newJob mints a fresh agent token for a and fills in the attempt's part of
// the manifest. A re-dispatch after a crash mints another token: the first
// one's secret died with the process that made it.
func (e *Engine) newJob(ctx context.Context, q store.Querier, a store.Attempt, m v1.TaskManifest) (job, error) {
	secret, hash := store.NewSecret("koya_att_")
	tok := store.Token{ID: uuid.NewString(), Hash: hash, Subject: "attempt:" + a.ID, Project: a.Project, AttemptID: a.ID, CreatedAt: time.Now().UTC()}
	if err := q.CreateToken(ctx, tok); err != nil {
		return job{}, err
	}
	m.AttemptID, m.Number, m.Index, m.Server, m.Token = a.ID, a.Number, a.Index, e.cfg.ServerURL, secret
	return job{attempt: a, manifest: m, token: tok}, nil
}
