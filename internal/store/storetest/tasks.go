package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testTasks(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a", "b")
	full := newTask("r", "a", 0)
	full.Item = json.RawMessage(`{"b": 1, "a": [1, 2.50]}`) // kept byte for byte
	full.CacheKey = "ck"
	full.Manifest.Env = map[string]string{"K": "V"}
	full.Manifest.Inputs = []v1.InputSpec{{Name: "d", Path: "in", Artifacts: []v1.Output{{Ref: "x", Value: json.RawMessage(`{"z":1,"y":2}`)}}}}
	full.Manifest.Timeout = v1.Duration{Duration: time.Hour}
	full.Attempts, full.RetryBase = 2, 1
	full.NextAt = ptr(at(30))
	full.Exit = &v1.Exit{Code: 137, OOMKilled: true, Duration: 1.5}
	full.Outputs = map[string]v1.Output{"m": {Ref: "o/1", Digest: "d", Size: 3, Value: json.RawMessage(`[3,1]`)}}
	full.Message, full.Backend = "msg", "local"
	full.StartedAt, full.FinishedAt = ptr(at(1)), ptr(at(2))
	must(t, s.InsertTasks(ctx, []store.Task{full, newTask("r", "b", 0)}))

	got, err := s.GetTask(ctx, "r", "a", 0)
	must(t, err)
	want := full
	want.NextAt, want.StartedAt, want.FinishedAt = ptr(stored(*full.NextAt)), ptr(stored(at(1))), ptr(stored(at(2)))
	same(t, "GetTask", got, want)
	if string(got.Item) != string(full.Item) {
		t.Fatalf("Item = %s, want %s byte for byte", got.Item, full.Item)
	}
	if string(got.Outputs["m"].Value) != `[3,1]` || string(got.Manifest.Inputs[0].Artifacts[0].Value) != `{"z":1,"y":2}` {
		t.Fatalf("output values changed: %s, %s", got.Outputs["m"].Value, got.Manifest.Inputs[0].Artifacts[0].Value)
	}
	utc(t, "task times", got.NextAt, got.StartedAt, got.FinishedAt)
	plain, err := s.GetTask(ctx, "r", "b", 0)
	must(t, err)
	if plain.Exit != nil || plain.Outputs != nil || plain.NextAt != nil || plain.StartedAt != nil {
		t.Fatalf("a fresh task has results: %+v", plain)
	}

	_, err = s.GetTask(ctx, "r", "a", 1)
	wantCode(t, err, errs.NotFound, "GetTask of a missing task")
	wantCode(t, s.InsertTasks(ctx, []store.Task{newTask("r", "a", 0)}), errs.Conflict, "InsertTasks of an existing task")

	// UpdateTask writes the lifecycle fields, not the item or the manifest.
	up := got
	up.Phase, up.Attempts, up.RetryBase, up.NextAt = v1.Succeeded, 3, 2, nil
	up.Exit, up.Outputs = &v1.Exit{Code: 0}, map[string]v1.Output{"n": {Ref: "o/2"}}
	up.Message, up.Backend, up.StartedAt, up.FinishedAt = "", "container", ptr(at(7)), ptr(at(8))
	up.Item, up.Manifest.Command, up.CacheKey = json.RawMessage(`1`), []string{"changed"}, "other"
	must(t, s.UpdateTask(ctx, up))
	got, err = s.GetTask(ctx, "r", "a", 0)
	must(t, err)
	want = up
	want.Item, want.Manifest, want.CacheKey = full.Item, full.Manifest, full.CacheKey
	want.StartedAt, want.FinishedAt = ptr(stored(at(7))), ptr(stored(at(8)))
	same(t, "after UpdateTask", got, want)
	counts, err := s.CountTasks(ctx, "r")
	must(t, err)
	same(t, "CountTasks after a phase change", counts, map[string]map[v1.Phase]int{
		"a": {v1.Succeeded: 1}, "b": {v1.Pending: 1},
	})
	up.Exit, up.Outputs = nil, nil
	must(t, s.UpdateTask(ctx, up))
	if got, _ := s.GetTask(ctx, "r", "a", 0); got.Exit != nil || got.Outputs != nil {
		t.Fatalf("Exit and Outputs not cleared: %+v", got)
	}
	wantCode(t, s.UpdateTask(ctx, newTask("r", "a", 5)), errs.NotFound, "UpdateTask of a missing task")
}

func testListTasks(t *testing.T, s store.Store) {
	// Steps by position: "z" (0) then "a" (1); tasks inserted out of order.
	createRun(t, s, "r", "p", "z", "a")
	createRun(t, s, "other", "p", "z", "a")
	var ts []store.Task
	for i := 4; i >= 0; i-- {
		ts = append(ts, newTask("r", "a", i), newTask("r", "z", i))
	}
	ts = append(ts, newTask("other", "z", 0))
	// z: 0 Pending due later, 1 Pending due now, 2 Running, 3 Failed, 4 Pending (no NextAt)
	ts[9].NextAt = ptr(at(100)) // z/0
	ts[7].NextAt = ptr(at(10))  // z/1
	ts[5].Phase = v1.Running    // z/2
	ts[3].Phase = v1.Failed     // z/3
	ts[0].Phase = v1.Succeeded  // a/4
	must(t, s.InsertTasks(ctx, ts))

	keys := func(f store.TaskFilter) string {
		t.Helper()
		got, err := s.ListTasks(ctx, f)
		must(t, err)
		out := ""
		for _, x := range got {
			if x.RunID != f.RunID {
				t.Fatalf("ListTasks(%s) returned a task of run %s", f.RunID, x.RunID)
			}
			out += fmt.Sprintf("%s%d ", x.Step, x.Index)
		}
		return out
	}
	check := func(name string, f store.TaskFilter, want string) {
		t.Helper()
		if got := keys(f); got != want {
			t.Fatalf("%s: ListTasks = %q, want %q", name, got, want)
		}
	}
	check("all", store.TaskFilter{RunID: "r"}, "z0 z1 z2 z3 z4 a0 a1 a2 a3 a4 ")
	check("step", store.TaskFilter{RunID: "r", Step: "a"}, "a0 a1 a2 a3 a4 ")
	check("phases", store.TaskFilter{RunID: "r", Phases: []v1.Phase{v1.Running, v1.Failed, v1.Succeeded}}, "z2 z3 a4 ")
	check("step+phase", store.TaskFilter{RunID: "r", Step: "z", Phases: []v1.Phase{v1.Pending}}, "z0 z1 z4 ")
	check("due", store.TaskFilter{RunID: "r", Step: "z", Phases: []v1.Phase{v1.Pending}, DueBy: ptr(at(50))}, "z1 z4 ")
	check("due at the instant", store.TaskFilter{RunID: "r", Step: "z", Phases: []v1.Phase{v1.Pending}, DueBy: ptr(at(10))}, "z1 z4 ")
	check("due keeps other phases", store.TaskFilter{RunID: "r", Step: "z", Phases: []v1.Phase{v1.Pending, v1.Running}, DueBy: ptr(at(0))}, "z2 z4 ")
	check("from index", store.TaskFilter{RunID: "r", Step: "a", FromIndex: 3}, "a3 a4 ")
	check("from index, all steps", store.TaskFilter{RunID: "r", FromIndex: 4}, "z4 a4 ")
	check("limit", store.TaskFilter{RunID: "r", Limit: 3}, "z0 z1 z2 ")
	check("pending, limit", store.TaskFilter{RunID: "r", Step: "z", Phases: []v1.Phase{v1.Pending}, DueBy: ptr(at(50)), Limit: 1}, "z1 ")
	check("missing run", store.TaskFilter{RunID: "nope"}, "")

	counts, err := s.CountTasks(ctx, "r")
	must(t, err)
	same(t, "CountTasks", counts, map[string]map[v1.Phase]int{
		"z": {v1.Pending: 3, v1.Running: 1, v1.Failed: 1},
		"a": {v1.Pending: 4, v1.Succeeded: 1},
	})
	counts, err = s.CountTasks(ctx, "nope")
	must(t, err)
	if len(counts) != 0 {
		t.Fatalf("CountTasks of a missing run = %v", counts)
	}

	// EarliestRetry: the earliest NextAt after `after` among Pending tasks.
	next, err := s.EarliestRetry(ctx, "r", at(0))
	must(t, err)
	if next == nil || !next.Equal(stored(at(10))) || next.Location() != time.UTC {
		t.Fatalf("EarliestRetry(0) = %v, want %v", next, stored(at(10)))
	}
	next, err = s.EarliestRetry(ctx, "r", at(10))
	must(t, err)
	if next == nil || !next.Equal(stored(at(100))) {
		t.Fatalf("EarliestRetry(10) = %v, want %v", next, stored(at(100)))
	}
	next, err = s.EarliestRetry(ctx, "r", at(100))
	must(t, err)
	if next != nil {
		t.Fatalf("EarliestRetry(100) = %v, want none", next)
	}
	z3, err := s.GetTask(ctx, "r", "z", 3)
	must(t, err)
	z3.NextAt = ptr(at(5)) // not Pending: ignored
	must(t, s.UpdateTask(ctx, z3))
	next, err = s.EarliestRetry(ctx, "r", at(0))
	must(t, err)
	if next == nil || !next.Equal(stored(at(10))) {
		t.Fatalf("EarliestRetry counted a Failed task: %v", next)
	}
}

func testInsertManyTasks(t *testing.T, s store.Store) {
	const n = 10000
	createRun(t, s, "r", "p", "fan")
	start := time.Now()
	ts := make([]store.Task, n)
	for i := range ts {
		ts[i] = newTask("r", "fan", i)
		ts[i].Item = json.RawMessage(fmt.Sprintf(`{"C":%d,"name":"item-%d"}`, i, i))
	}
	must(t, s.InsertTasks(ctx, ts))
	t.Logf("inserted %d tasks in %v", n, time.Since(start))
	counts, err := s.CountTasks(ctx, "r")
	must(t, err)
	if counts["fan"][v1.Pending] != n {
		t.Fatalf("CountTasks = %v, want %d Pending", counts, n)
	}
	tail, err := s.ListTasks(ctx, store.TaskFilter{RunID: "r", Step: "fan", FromIndex: n - 5})
	must(t, err)
	if len(tail) != 5 || tail[4].Index != n-1 || string(tail[4].Item) != fmt.Sprintf(`{"C":%d,"name":"item-%d"}`, n-1, n-1) {
		t.Fatalf("tail = %+v", tail)
	}
	all, err := s.ListTasks(ctx, store.TaskFilter{RunID: "r"})
	must(t, err)
	if len(all) != n {
		t.Fatalf("ListTasks = %d tasks, want %d", len(all), n)
	}
	for i, x := range all {
		if x.Index != i {
			t.Fatalf("ListTasks[%d].Index = %d", i, x.Index)
		}
	}
}

func testInsertTasksAtomic(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a")
	insertTasks(t, s, "r", "a", 1)
	// A batch whose last task exists fails as a whole, however many chunks.
	ts := make([]store.Task, 1200)
	for i := range ts {
		ts[i] = newTask("r", "a", i+1)
	}
	ts[len(ts)-1] = newTask("r", "a", 0)
	wantCode(t, s.InsertTasks(ctx, ts), errs.Conflict, "InsertTasks with a duplicate")
	counts, err := s.CountTasks(ctx, "r")
	must(t, err)
	if counts["a"][v1.Pending] != 1 {
		t.Fatalf("a failed InsertTasks left tasks behind: %v", counts)
	}
	// Tasks need their run's step.
	err = s.InsertTasks(ctx, []store.Task{newTask("r", "nope", 0)})
	if err == nil {
		t.Fatal("InsertTasks of a task of a missing step: no error")
	}
}
