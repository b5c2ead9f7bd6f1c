package storetest

import (
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// A run's StepsVersion moves with every step row change and only then.
func testStepsVersion(t *testing.T, s store.Store) {
	r, steps := newRun("r", "p", "a", "b")
	must(t, s.CreateRun(ctx, r, steps))
	version := func() int64 {
		got, err := s.GetRun(ctx, "r")
		must(t, err)
		return got.StepsVersion
	}
	v0 := version()
	run, _ := s.GetRun(ctx, "r")
	run.Phase = v1.Running
	must(t, s.UpdateRun(ctx, run))
	if v := version(); v != v0 {
		t.Fatalf("a run change moved StepsVersion %d -> %d", v0, v)
	}
	st := steps[0]
	st.Phase = v1.Running
	must(t, s.UpdateStep(ctx, st))
	must(t, s.Tx(ctx, func(q store.Querier) error {
		st.Phase = v1.Succeeded
		return q.UpdateStep(ctx, st)
	}))
	if v := version(); v != v0+2 {
		t.Fatalf("two step changes: StepsVersion %d -> %d, want +2", v0, v)
	}
}

// CountTasks with steps counts only theirs.
func testCountTasksOfSteps(t *testing.T, s store.Store) {
	r, steps := newRun("r", "p", "a", "b", "c")
	must(t, s.CreateRun(ctx, r, steps))
	var tasks []store.Task
	for _, name := range []string{"a", "b", "b", "c"} {
		tasks = append(tasks, store.Task{RunID: "r", Step: name, Index: len(tasks), Phase: v1.Pending})
	}
	must(t, s.InsertTasks(ctx, tasks))
	all, err := s.CountTasks(ctx, "r")
	must(t, err)
	some, err := s.CountTasks(ctx, "r", "b", "c")
	must(t, err)
	if len(all) != 3 || len(some) != 2 || some["b"][v1.Pending] != 2 || some["c"][v1.Pending] != 1 || some["a"] != nil {
		t.Fatalf("CountTasks = %v; of b and c = %v", all, some)
	}
}
