package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// loadSnapshot reads what MakePlan needs about one run: step rows, task
// counts, the due tasks that could start, active attempts and, for steps
// about to expand, the outputs of the steps they refer to. It never reads
// every task of a large fan-out unless the run is being cancelled.
func loadSnapshot(ctx context.Context, q store.Querier, cache *stepCache, unseal Unsealer, runID string, capacity int, now time.Time) (Snapshot, error) {
	run, err := q.GetRun(ctx, runID)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Run: run, Capacity: capacity}
	if run.Phase.Done() {
		return snap, nil
	}
	var ok bool
	if snap.Steps, ok = cache.get(runID, run.StepsVersion); !ok {
		if snap.Steps, err = q.ListSteps(ctx, runID); err != nil {
			return snap, err
		}
		cache.put(runID, run.StepsVersion, append([]store.Step(nil), snap.Steps...))
	}
	// Counts of the steps under way only: those the planner looks at.
	var open []string
	for _, s := range snap.Steps {
		if s.Expanded && !s.Phase.Done() {
			open = append(open, s.Name)
		}
	}
	snap.Counts = map[string]map[v1.Phase]int{}
	if len(open) > 0 {
		if snap.Counts, err = q.CountTasks(ctx, runID, open...); err != nil {
			return snap, err
		}
	}
	// Attempts are of expanded steps' tasks: a run without one (just
	// submitted) has none to read.
	expanded := false
	for _, s := range snap.Steps {
		expanded = expanded || s.Expanded
	}
	if expanded {
		if snap.Active, err = q.ListAttempts(ctx, store.AttemptFilter{RunID: runID, Phases: []v1.Phase{v1.Pending, v1.Running}}); err != nil {
			return snap, err
		}
	}
	// A task waiting out a backoff is Pending: without one, no query.
	pending := false
	for _, name := range open {
		pending = pending || snap.Counts[name][v1.Pending] > 0
	}
	if pending {
		if snap.NextDue, err = q.EarliestRetry(ctx, runID, now); err != nil {
			return snap, err
		}
	}
	snap.Ready = map[string][]store.Task{}
	snap.Outputs = map[string][]map[string]v1.Output{}
	done := make(map[string]bool, len(snap.Steps))
	for _, s := range snap.Steps {
		done[s.Name] = s.Phase.Done()
	}
	needs := make(map[string][]string, len(run.Spec.Steps))
	for _, s := range run.Spec.Steps {
		needs[s.Name] = s.Needs
	}
	for _, s := range snap.Steps {
		switch {
		case s.Expanded && !s.Phase.Done() && snap.Counts[s.Name][v1.Pending] > 0:
			f := store.TaskFilter{RunID: runID, Step: s.Name, Phases: []v1.Phase{v1.Pending}}
			if !run.CancelRequested {
				if capacity <= 0 {
					continue
				}
				f.DueBy, f.Limit = &now, capacity
			}
			if snap.Ready[s.Name], err = q.ListTasks(ctx, f); err != nil {
				return snap, err
			}
		case !s.Expanded && !s.Phase.Done() && !run.CancelRequested:
			if err := loadNeededOutputs(ctx, q, unseal, run, s.Name, needs, done, snap.Outputs); err != nil {
				return snap, err
			}
			if s.Position >= len(run.Spec.Steps) {
				continue // the planner fails a step missing from its spec
			}
			if err := loadForeachFiles(ctx, q, &snap, &run.Spec.Steps[s.Position], needs, done); err != nil {
				return snap, err
			}
		}
	}
	return snap, nil
}

// loadForeachFiles looks up the files of a datalake foreach once the
// step's needs are done (when it may expand). A reference that does not
// resolve is kept with its reason: the step fails with it.
func loadForeachFiles(ctx context.Context, q store.Querier, snap *Snapshot, def *v1.Step, needs map[string][]string, done map[string]bool) error {
	if f, ok := def.Foreach.(string); !ok || !strings.HasPrefix(strings.TrimSpace(f), v1.DatalakeScheme) {
		return nil
	}
	for _, n := range needs[def.Name] {
		if !done[n] {
			return nil
		}
	}
	phases := make(map[string]v1.Phase, len(snap.Steps))
	for _, s := range snap.Steps {
		phases[s.Name] = s.Phase
	}
	ref, err := datalakeForeach(def, expandVars(snap.Run, snap.Outputs, phases))
	if err != nil || ref == "" {
		return nil // expandStep reports the template's error
	}
	if snap.Files == nil {
		snap.Files = map[string]FileSet{}
	}
	if _, ok := snap.Files[ref]; ok {
		return nil
	}
	set, err := loadFiles(ctx, q, snap.Run.Project, ref)
	if err != nil {
		return err
	}
	snap.Files[ref] = set
	return nil
}

// loadNeededOutputs loads the outputs of every step that step depends on,
// directly or not, once its direct needs are done (the only time expansion
// can use them).
func loadNeededOutputs(ctx context.Context, q store.Querier, unseal Unsealer, run store.Run, step string, needs map[string][]string, done map[string]bool, into map[string][]map[string]v1.Output) error {
	for _, n := range needs[step] {
		if !done[n] {
			return nil
		}
	}
	for _, n := range upstream(needs, step) {
		if _, ok := into[n]; ok {
			continue
		}
		tasks, err := q.ListTasks(ctx, store.TaskFilter{RunID: run.ID, Step: n})
		if err != nil {
			return err
		}
		outs := make([]map[string]v1.Output, len(tasks))
		for i, t := range tasks {
			if err := unsealAll(ctx, unseal, run.Project, t.Outputs); err != nil {
				return err
			}
			outs[i] = t.Outputs
		}
		into[n] = outs
	}
	return nil
}

// upstream lists every step that step depends on, directly or transitively.
func upstream(needs map[string][]string, step string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(string)
	walk = func(s string) {
		for _, n := range needs[s] {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
				walk(n)
			}
		}
	}
	walk(step)
	return out
}

// Unsealer decrypts an output's sealed value (Config.Unseal).
type Unsealer func(ctx context.Context, project string, o v1.Output) (json.RawMessage, error)

// unsealAll gives the outputs that have a sealed value their Value.
func unsealAll(ctx context.Context, unseal Unsealer, project string, outs map[string]v1.Output) error {
	if unseal == nil {
		return nil
	}
	for name, o := range outs {
		if len(o.Sealed) == 0 {
			continue
		}
		v, err := unseal(ctx, project, o)
		if err != nil {
			return err
		}
		o.Value, o.Sealed = v, nil
		outs[name] = o
	}
	return nil
}
