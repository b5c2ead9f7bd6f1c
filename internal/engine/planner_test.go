package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// world is a small, readable way to write a run's state for planner tests.
type world struct {
	spec     v1.WorkflowSpec
	params   map[string]any
	phase    v1.Phase
	cancel   bool
	steps    map[string]store.Step // by name; defaults to Pending, unexpanded
	counts   map[string]map[v1.Phase]int
	ready    map[string][]store.Task
	outputs  map[string][]map[string]v1.Output
	active   []store.Attempt
	nextDue  *time.Time
	capacity int
	quota    *v1.Quota
	use      Use
}

func (w world) snapshot() Snapshot {
	run := store.Run{ID: "r1", Project: "p", Workflow: "wf", Spec: w.spec, Params: w.params, Phase: w.phase, CancelRequested: w.cancel}
	if run.Phase == "" {
		run.Phase = v1.Running
	}
	var steps []store.Step
	for i, s := range w.spec.Steps {
		row, ok := w.steps[s.Name]
		if !ok {
			row = store.Step{Phase: v1.Pending}
		}
		row.RunID, row.Name, row.Position = "r1", s.Name, i
		steps = append(steps, row)
	}
	capacity := w.capacity
	if capacity == 0 {
		capacity = 100
	}
	return Snapshot{Run: run, Steps: steps, Counts: w.counts, Ready: w.ready, Outputs: w.outputs,
		Active: w.active, NextDue: w.nextDue, Capacity: capacity, DefaultBackend: "local", StaleAfter: time.Minute,
		Quota: w.quota, ProjectUse: w.use}
}

// asking is n Pending tasks of a step asking for r.
func asking(stepName string, n int, r v1.Resources) []store.Task {
	ts := pending(stepName, n)
	for i := range ts {
		ts[i].Manifest.Resources = r
	}
	return ts
}

func step(name string, needs ...string) v1.Step {
	return v1.Step{Name: name, Command: []string{"echo", name}, Needs: needs}
}

func pending(stepName string, n int) []store.Task {
	var ts []store.Task
	for i := range n {
		ts = append(ts, store.Task{RunID: "r1", Step: stepName, Index: i, Phase: v1.Pending})
	}
	return ts
}

// summary renders a plan as sorted lines, so that table tests read like a
// description of what the engine will do.
func summary(p Plan) []string {
	var out []string
	if p.Run != nil {
		out = append(out, fmt.Sprintf("run %s %s", p.Run.Phase, p.Run.Message))
	}
	for _, s := range p.Steps {
		line := fmt.Sprintf("step %s %s", s.Name, s.Phase)
		if s.Expanded {
			line += fmt.Sprintf(" items=%d", s.Items)
		}
		if s.Message != "" {
			line += " (" + s.Message + ")"
		}
		out = append(out, line)
	}
	for _, t := range p.NewTasks {
		out = append(out, fmt.Sprintf("task %s[%d] %s", t.Step, t.Index, strings.Join(t.Manifest.Command, " ")))
	}
	for _, st := range p.Starts {
		out = append(out, fmt.Sprintf("start %s[%d] #%d on %s", st.Task.Step, st.Task.Index, st.Number, st.Backend))
	}
	for _, t := range p.Cancel {
		out = append(out, fmt.Sprintf("cancel %s[%d]", t.Step, t.Index))
	}
	for _, a := range p.Stops {
		out = append(out, "stop "+a.ID)
	}
	for _, a := range p.Expire {
		out = append(out, "expire "+a.ID)
	}
	if p.WakeAt != nil {
		out = append(out, "wake +"+p.WakeAt.Sub(t0).String())
	}
	if p.Starved {
		out = append(out, "starved")
	}
	sort.Strings(out)
	return out
}

func TestMakePlan(t *testing.T) {
	three := v1.WorkflowSpec{Steps: []v1.Step{step("a"), step("b", "a"), step("c", "b")}}
	fan := v1.WorkflowSpec{Steps: []v1.Step{{Name: "train", Command: []string{"train", "--c", "{{ item.C }}"},
		Foreach: []any{map[string]any{"C": 0.1}, map[string]any{"C": 1}, map[string]any{"C": 10}}}}}
	deadline := t0.Add(-time.Second)
	tests := []struct {
		name string
		w    world
		want []string
	}{{
		name: "a new run starts its first step only",
		w:    world{spec: three, phase: v1.Pending},
		want: []string{"run Running ", "start a[0] #1 on local", "step a Running items=1", "task a[0] echo a"},
	}, {
		name: "a finished need releases the next step",
		w: world{spec: three,
			steps:  map[string]store.Step{"a": {Phase: v1.Succeeded, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Succeeded: 1}}},
		want: []string{"start b[0] #1 on local", "step b Running items=1", "task b[0] echo b"},
	}, {
		name: "a step's last task releases the dependent step in the same pass",
		w: world{spec: three,
			steps:  map[string]store.Step{"a": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Succeeded: 1}}},
		want: []string{"start b[0] #1 on local", "step a Succeeded items=1", "step b Running items=1", "task b[0] echo b"},
	}, {
		name: "a failed need skips its dependents and fails the run",
		w: world{spec: three,
			steps:  map[string]store.Step{"a": {Phase: v1.Failed, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Failed: 1}}},
		want: []string{"run Failed failed steps: a", `step b Skipped (not run: need "a" failed)`, `step c Skipped (not run: need "b" skipped)`},
	}, {
		name: "the last task's success finishes the step and the run",
		w: world{spec: three,
			steps: map[string]store.Step{"a": {Phase: v1.Succeeded, Expanded: true, Items: 1},
				"b": {Phase: v1.Succeeded, Expanded: true, Items: 1}, "c": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Succeeded: 1}, "b": {v1.Succeeded: 1}, "c": {v1.Cached: 1}}},
		want: []string{"run Succeeded ", "step c Succeeded items=1"},
	}, {
		name: "foreach renders one task per item, within capacity",
		w:    world{spec: fan, capacity: 2},
		want: []string{"start train[0] #1 on local", "start train[1] #1 on local", "starved", "step train Running items=3",
			"task train[0] train --c 0.1", "task train[1] train --c 1", "task train[2] train --c 10"},
	}, {
		name: "a full engine starts nothing and asks to be woken",
		w: world{spec: fan, capacity: -1,
			steps:  map[string]store.Step{"train": {Phase: v1.Running, Expanded: true, Items: 3}},
			counts: map[string]map[v1.Phase]int{"train": {v1.Pending: 3}}},
		want: []string{"starved"},
	}, {
		name: "a project's task quota, counting its other runs' tasks, holds tasks back and asks to be woken",
		w: world{spec: fan, quota: &v1.Quota{MaxRunning: 2}, use: Use{Tasks: 1},
			steps:  map[string]store.Step{"train": {Phase: v1.Running, Expanded: true, Items: 3}},
			counts: map[string]map[v1.Phase]int{"train": {v1.Pending: 3}},
			ready:  map[string][]store.Task{"train": pending("train", 3)}},
		want: []string{"start train[0] #1 on local", "starved"},
	}, {
		name: "a project at its cpu quota starts nothing and the step says why",
		w: world{spec: fan, quota: &v1.Quota{CPU: 4}, use: Use{Tasks: 2, CPU: 3},
			steps:  map[string]store.Step{"train": {Phase: v1.Pending, Expanded: true, Items: 3}},
			counts: map[string]map[v1.Phase]int{"train": {v1.Pending: 3}},
			ready:  map[string][]store.Task{"train": asking("train", 3, v1.Resources{CPU: 2})}},
		want: []string{"starved", "step train Pending items=3 (waiting for the project's quota: cpu: 3 of 4 cores in use, the task asks for 2)"},
	}, {
		name: "a memory quota lets in what fits",
		w: world{spec: fan, quota: &v1.Quota{Memory: "10Gi"}, use: Use{Tasks: 1, Memory: 4 << 30},
			steps:  map[string]store.Step{"train": {Phase: v1.Running, Expanded: true, Items: 3}},
			counts: map[string]map[v1.Phase]int{"train": {v1.Pending: 3}},
			ready:  map[string][]store.Task{"train": asking("train", 3, v1.Resources{Memory: "3Gi"})}},
		want: []string{"start train[0] #1 on local", "start train[1] #1 on local", "starved"},
	}, {
		name: "independent steps are expanded only as far as their tasks can start",
		w:    world{spec: v1.WorkflowSpec{Steps: []v1.Step{step("a"), step("b"), step("c"), step("d")}}, capacity: 2},
		want: []string{"start a[0] #1 on local", "start b[0] #1 on local", "starved",
			"step a Running items=1", "step b Running items=1", "task a[0] echo a", "task b[0] echo b"},
	}, {
		name: "a held-back step is expanded once tasks waiting leave room",
		w: world{spec: v1.WorkflowSpec{Steps: []v1.Step{step("a"), step("b"), step("c")}}, capacity: 2,
			steps:  map[string]store.Step{"a": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Pending: 1}},
			ready:  map[string][]store.Task{"a": pending("a", 1)}},
		want: []string{"start a[0] #1 on local", "start b[0] #1 on local", "starved",
			"step b Running items=1", "task b[0] echo b"},
	}, {
		name: "step parallelism counts the step's running attempts",
		w: world{spec: v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: []string{"x"}, Parallelism: 2, Foreach: []any{1, 2, 3, 4}}}},
			steps:  map[string]store.Step{"s": {Phase: v1.Running, Expanded: true, Items: 4}},
			counts: map[string]map[v1.Phase]int{"s": {v1.Pending: 3, v1.Running: 1}},
			ready:  map[string][]store.Task{"s": pending("s", 3)},
			active: []store.Attempt{{ID: "x", Step: "s"}}},
		want: []string{"start s[0] #1 on local"},
	}, {
		name: "a retry in backoff is not started before its time and sets the wake-up",
		w: world{spec: three,
			steps:   map[string]store.Step{"a": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts:  map[string]map[v1.Phase]int{"a": {v1.Pending: 1}},
			nextDue: ptr(t0.Add(10 * time.Second))},
		want: []string{"wake +10s"},
	}, {
		name: "a false guard skips the step and its dependents",
		w: world{spec: v1.WorkflowSpec{Params: map[string]v1.ParamSpec{"deploy": {Type: "boolean"}},
			Steps: []v1.Step{{Name: "ship", Command: []string{"x"}, When: "params.deploy"}, step("notify", "ship")}},
			params: map[string]any{"deploy": false}},
		want: []string{"run Succeeded ", "step notify Skipped (not run: need \"ship\" skipped)", "step ship Skipped (when is false: params.deploy)"},
	}, {
		name: "cancel drops pending tasks and stops running attempts; the run waits for them",
		w: world{spec: fan, cancel: true,
			steps:  map[string]store.Step{"train": {Phase: v1.Running, Expanded: true, Items: 3}},
			counts: map[string]map[v1.Phase]int{"train": {v1.Pending: 2, v1.Running: 1}},
			ready:  map[string][]store.Task{"train": pending("train", 2)},
			active: []store.Attempt{{ID: "att-0", Step: "train"}}},
		want: []string{"cancel train[0]", "cancel train[1]", "stop att-0"},
	}, {
		name: "cancel ends the run once nothing runs",
		w: world{spec: three, cancel: true,
			steps:  map[string]store.Step{"a": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Cancelled: 1}}},
		want: []string{"run Cancelled cancelled", "step a Cancelled items=1 (run cancelled)", "step b Cancelled (run cancelled)", "step c Cancelled (run cancelled)"},
	}, {
		name: "a silent attempt past its deadline expires",
		w: world{spec: three,
			steps:  map[string]store.Step{"a": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"a": {v1.Running: 1}},
			active: []store.Attempt{{ID: "late", Step: "a", Deadline: &deadline}, {ID: "talking", Step: "a", Deadline: &deadline, HeartbeatAt: ptr(t0)}}},
		want: []string{"expire late", "wake +0s"},
	}, {
		name: "foreach over an earlier step's JSON output",
		w: world{spec: v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "grid", Command: []string{"x"}, Outputs: map[string]string{"params": "p.json"}},
			{Name: "fit", Needs: []string{"grid"}, Command: []string{"fit", "{{ item }}"}, Foreach: "{{ steps.grid.outputs.params }}"}}},
			steps:   map[string]store.Step{"grid": {Phase: v1.Succeeded, Expanded: true, Items: 1}},
			counts:  map[string]map[v1.Phase]int{"grid": {v1.Succeeded: 1}},
			outputs: map[string][]map[string]v1.Output{"grid": {{"params": {Ref: "r", Value: json.RawMessage(`[3, 5]`)}}}}},
		want: []string{"start fit[0] #1 on local", "start fit[1] #1 on local", "step fit Running items=2", "task fit[0] fit 3", "task fit[1] fit 5"},
	}, {
		name: "a step whose need finished in this pass waits for its outputs to be loaded",
		w: world{spec: v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "grid", Command: []string{"x"}, Outputs: map[string]string{"params": "p.json"}},
			{Name: "fit", Needs: []string{"grid"}, Command: []string{"fit", "{{ item }}"}, Foreach: "{{ steps.grid.outputs.params }}"}}},
			steps:  map[string]store.Step{"grid": {Phase: v1.Running, Expanded: true, Items: 1}},
			counts: map[string]map[v1.Phase]int{"grid": {v1.Succeeded: 1}}},
		want: []string{"step grid Succeeded items=1", "wake +0s"},
	}, {
		name: "a template error fails the step with the reason",
		w: world{spec: v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: []string{"{{ params.missing.x }}"}}}},
			params: map[string]any{}},
		want: nil, // checked below: the step fails with a message naming command[0]
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(MakePlan(tt.w.snapshot(), t0))
			if tt.want == nil {
				if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "command[0]") {
					t.Fatalf("want a failed step naming command[0], got:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan:\n  got  %q\n  want %q", got, tt.want)
			}
		})
	}
}

func TestMakePlanIsDeterministic(t *testing.T) {
	w := world{spec: v1.WorkflowSpec{Steps: []v1.Step{step("a"), step("b"), step("c", "a", "b")}}}
	first := summary(MakePlan(w.snapshot(), t0))
	for range 20 {
		if got := summary(MakePlan(w.snapshot(), t0)); !reflect.DeepEqual(got, first) {
			t.Fatalf("same snapshot, different plans:\n%q\n%q", first, got)
		}
	}
}

func TestMakePlanLeavesFinishedRunsAlone(t *testing.T) {
	w := world{spec: v1.WorkflowSpec{Steps: []v1.Step{step("a")}}, phase: v1.Succeeded}
	if p := MakePlan(w.snapshot(), t0); !p.Empty() {
		t.Fatalf("plan for a finished run: %q", summary(p))
	}
}
