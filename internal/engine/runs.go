package engine

import (
	"context"
	"crypto/rand"
	"fmt"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Submit starts a run of a project's workflow. params may be typed (from
// JSON) or strings (from the CLI's -p k=v); both are coerced to the declared
// types, defaults applied, unknown and missing ones rejected.
func (e *Engine) Submit(ctx context.Context, project, workflow string, params map[string]any) (store.Run, error) {
	var run store.Run
	var err error
	for try := 0; ; try++ {
		err = e.store.Tx(ctx, func(q store.Querier) error {
			run, err = e.SubmitIn(ctx, q, project, workflow, params)
			return err
		})
		if !errs.Is(err, errs.Conflict) || try == 5 { // a conflict: the random run id was taken
			break
		}
	}
	if err != nil {
		return store.Run{}, err
	}
	e.Poke()
	return e.store.GetRun(ctx, run.ID)
}

// SubmitIn creates a run as Submit does, in the caller's transaction q (a
// trigger marks its queue item started in the same one). The run is
// planned once the transaction commits and Poke is called. A run id taken
// already is errs.Conflict: on PostgreSQL the transaction is then aborted.
func (e *Engine) SubmitIn(ctx context.Context, q store.Querier, project, workflow string, params map[string]any) (store.Run, error) {
	wf, err := q.GetWorkflow(ctx, project, workflow)
	if err != nil {
		return store.Run{}, err
	}
	given, typed := map[string]string{}, map[string]any{}
	for k, v := range params {
		if s, ok := v.(string); ok {
			given[k] = s
		} else {
			typed[k] = v
		}
	}
	resolved, err := v1.ResolveParams(wf.Spec, given, typed)
	if err != nil {
		return store.Run{}, err
	}
	now := e.clock()
	run := store.Run{
		ID:              newRunID(workflow),
		Project:         project,
		Workflow:        workflow,
		WorkflowVersion: wf.Metadata.Version,
		Spec:            wf.Spec,
		Params:          resolved,
		Phase:           v1.Pending,
		CreatedAt:       now,
	}
	steps := make([]store.Step, len(wf.Spec.Steps))
	for i, s := range wf.Spec.Steps {
		steps[i] = store.Step{RunID: run.ID, Name: s.Name, Position: i, Phase: v1.Pending}
	}
	if err := q.CreateRun(ctx, run, steps); err != nil {
		return store.Run{}, err
	}
	if err := q.Wake(ctx, run.ID, now); err != nil {
		return store.Run{}, err
	}
	e.metrics.runs.Inc()
	return run, nil
}

// Poke wakes the planner (after a transaction that created runs with
// SubmitIn committed).
func (e *Engine) Poke() { e.poke() }

// newRunID names a run after its workflow with a short random suffix, as
// people read and type run ids.
func newRunID(workflow string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	if len(workflow) > 50 {
		workflow = workflow[:50]
	}
	return fmt.Sprintf("%s-%s", workflow, b)
}

// Cancel asks a run to stop: pending work is dropped, running attempts are
// stopped, and the run ends Cancelled once they have reported.
func (e *Engine) Cancel(ctx context.Context, runID string) error {
	err := e.store.Tx(ctx, func(q store.Querier) error {
		if err := q.LockRun(ctx, runID); err != nil {
			return err
		}
		run, err := q.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		if run.Phase.Done() {
			return errs.E(errs.Conflict, "run %s already ended %s", runID, run.Phase)
		}
		run.CancelRequested = true
		if err := q.UpdateRun(ctx, run); err != nil {
			return err
		}
		return q.Wake(ctx, runID, e.clock())
	})
	if err == nil {
		e.poke()
	}
	return err
}

// Retry re-runs, in place, what did not succeed in an ended run: failed,
// lost and cancelled tasks go back to Pending (each with its retry policy
// afresh), steps that never ran are planned again, and succeeded tasks —
// including the succeeded items of a partly failed foreach — are kept.
func (e *Engine) Retry(ctx context.Context, runID string) (store.Run, error) {
	now := e.clock()
	err := e.store.Tx(ctx, func(q store.Querier) error {
		if err := q.LockRun(ctx, runID); err != nil {
			return err
		}
		run, err := q.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		if !run.Phase.Done() {
			return errs.E(errs.Conflict, "run %s is still %s; cancel it or wait for it to end", runID, run.Phase)
		}
		if run.Phase.Ok() {
			return errs.E(errs.Conflict, "run %s succeeded; there is nothing to retry", runID)
		}
		steps, err := q.ListSteps(ctx, runID)
		if err != nil {
			return err
		}
		for _, s := range steps {
			if s.Phase.Ok() {
				continue
			}
			if s.Expanded {
				if err := resetTasks(ctx, q, s); err != nil {
					return err
				}
			}
			s.Phase, s.Message, s.FinishedAt = v1.Pending, "", nil
			if s.Expanded {
				s.Phase = v1.Running
			}
			if err := q.UpdateStep(ctx, s); err != nil {
				return err
			}
		}
		run.Phase, run.Message, run.CancelRequested, run.FinishedAt = v1.Running, "retrying", false, nil
		if err := q.UpdateRun(ctx, run); err != nil {
			return err
		}
		return q.Wake(ctx, runID, now)
	})
	if err != nil {
		return store.Run{}, err
	}
	e.poke()
	return e.store.GetRun(ctx, runID)
}

// resetTasks puts a step's unsuccessful tasks back to Pending.
func resetTasks(ctx context.Context, q store.Querier, s store.Step) error {
	tasks, err := q.ListTasks(ctx, store.TaskFilter{RunID: s.RunID, Step: s.Name, Phases: []v1.Phase{v1.Failed, v1.Lost, v1.Cancelled}})
	if err != nil {
		return err
	}
	for _, t := range tasks {
		t.Phase, t.NextAt, t.FinishedAt, t.Message = v1.Pending, nil, nil, "retried"
		t.RetryBase = t.Attempts
		if err := q.UpdateTask(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// RunView is a run with its steps' statuses, as the API shows it.
func (e *Engine) RunView(ctx context.Context, runID string) (v1.Run, error) {
	run, err := e.store.GetRun(ctx, runID)
	if err != nil {
		return v1.Run{}, err
	}
	steps, err := e.store.ListSteps(ctx, runID)
	if err != nil {
		return v1.Run{}, err
	}
	counts, err := e.store.CountTasks(ctx, runID)
	if err != nil {
		return v1.Run{}, err
	}
	return RunResource(run, steps, counts), nil
}

// RunResource renders store rows as a v1.Run.
func RunResource(run store.Run, steps []store.Step, counts map[string]map[v1.Phase]int) v1.Run {
	out := v1.Run{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Run"},
		Metadata: v1.ObjectMeta{Name: run.ID, Project: run.Project, CreatedAt: run.CreatedAt},
		Spec:     v1.RunSpec{Workflow: run.Workflow, WorkflowVersion: run.WorkflowVersion, Params: run.Params, RetryOf: run.RetryOf},
		Status:   v1.RunStatus{Phase: run.Phase, Message: run.Message, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt},
	}
	if run.CancelRequested && !run.Phase.Done() {
		out.Status.Message = "cancelling"
	}
	for _, s := range steps {
		out.Status.Steps = append(out.Status.Steps, v1.StepStatus{
			Name: s.Name, Phase: s.Phase, Message: s.Message, Items: s.Items, Counts: counts[s.Name],
			Backend: s.Backend, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		})
	}
	return out
}
