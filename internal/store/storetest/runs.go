package storetest

import (
	"fmt"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testRuns(t *testing.T, s store.Store) {
	_, err := s.GetRun(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetRun of a missing run")

	r, steps := newRun("r1", "p", "split", "train")
	r.Params = map[string]any{"dataset": "d1", "ratio": 0.8, "grid": []any{1.0, "x"}}
	r.RetryOf = "r0"
	r.StartedAt = ptr(at(5))
	must(t, s.CreateRun(ctx, r, steps))

	got, err := s.GetRun(ctx, "r1")
	must(t, err)
	if got.Seq <= 0 {
		t.Fatalf("Seq = %d, want assigned (> 0)", got.Seq)
	}
	want := r
	want.Seq, want.StartedAt = got.Seq, ptr(stored(*r.StartedAt))
	same(t, "GetRun", got, want)
	utc(t, "run times", &got.CreatedAt, got.StartedAt)

	r2 := createRun(t, s, "r2", "p")
	if r2.Seq <= got.Seq {
		t.Fatalf("second run's Seq %d not after the first's %d", r2.Seq, got.Seq)
	}

	dup, dupSteps := newRun("r1", "other", "x")
	wantCode(t, s.CreateRun(ctx, dup, dupSteps), errs.Conflict, "CreateRun with a duplicate id (even in another project)")
	if _, err := s.GetRun(ctx, "r1"); err != nil {
		t.Fatal(err)
	}

	got.Phase, got.Message, got.CancelRequested = v1.Failed, "boom", true
	got.StartedAt, got.FinishedAt = ptr(at(10)), ptr(at(20))
	got.Workflow = "ignored" // UpdateRun writes only the lifecycle fields
	must(t, s.UpdateRun(ctx, got))
	after, err := s.GetRun(ctx, "r1")
	must(t, err)
	if after.Phase != v1.Failed || after.Message != "boom" || !after.CancelRequested ||
		!after.StartedAt.Equal(stored(at(10))) || !after.FinishedAt.Equal(stored(at(20))) || after.Workflow != "wf" {
		t.Fatalf("after UpdateRun: %+v", after)
	}
	utc(t, "updated run times", after.StartedAt, after.FinishedAt)
	after.FinishedAt = nil
	must(t, s.UpdateRun(ctx, after))
	if again, _ := s.GetRun(ctx, "r1"); again.FinishedAt != nil {
		t.Fatalf("FinishedAt not cleared: %v", again.FinishedAt)
	}
	wantCode(t, s.UpdateRun(ctx, store.Run{ID: "nope", Phase: v1.Running}), errs.NotFound, "UpdateRun of a missing run")

	must(t, s.Tx(ctx, func(q store.Querier) error { return q.LockRun(ctx, "r1") }))
	err = s.Tx(ctx, func(q store.Querier) error { return q.LockRun(ctx, "nope") })
	wantCode(t, err, errs.NotFound, "LockRun of a missing run")
}

func testListRuns(t *testing.T, s store.Store) {
	// p: 0..9 alternate workflows a/b, every third Running; q: one run.
	for i := range 10 {
		r, steps := newRun(fmt.Sprintf("p%d", i), "p", "s")
		r.Workflow = []string{"a", "b"}[i%2]
		if i%3 == 0 {
			r.Phase = v1.Running
		}
		must(t, s.CreateRun(ctx, r, steps))
	}
	createRun(t, s, "q0", "q")

	ids := func(rs []store.Run) string {
		out := ""
		for _, r := range rs {
			out += r.ID + " "
		}
		return out
	}
	list := func(f store.RunFilter) []store.Run {
		t.Helper()
		rs, err := s.ListRuns(ctx, f)
		must(t, err)
		return rs
	}

	if got := ids(list(store.RunFilter{Project: "p"})); got != "p9 p8 p7 p6 p5 p4 p3 p2 p1 p0 " {
		t.Fatalf("ListRuns(p) = %s, want newest first", got)
	}
	if got := ids(list(store.RunFilter{Project: "p", Workflow: "a"})); got != "p8 p6 p4 p2 p0 " {
		t.Fatalf("ListRuns(p, workflow a) = %s", got)
	}
	if got := ids(list(store.RunFilter{Project: "p", Phase: v1.Running})); got != "p9 p6 p3 p0 " {
		t.Fatalf("ListRuns(p, Running) = %s", got)
	}
	if got := ids(list(store.RunFilter{Project: "p", Workflow: "b", Phase: v1.Running})); got != "p9 p3 " {
		t.Fatalf("ListRuns(p, b, Running) = %s", got)
	}
	if got := ids(list(store.RunFilter{AllProjects: true, Limit: 2})); got != "q0 p9 " {
		t.Fatalf("ListRuns(all, limit 2) = %s", got)
	}
	if got := list(store.RunFilter{Project: "none"}); len(got) != 0 {
		t.Fatalf("ListRuns of an empty project = %s", ids(got))
	}
	_, err := s.ListRuns(ctx, store.RunFilter{})
	wantCode(t, err, errs.Invalid, "ListRuns without a project")

	// Paging with BeforeSeq visits every run once.
	var seen string
	f := store.RunFilter{Project: "p", Limit: 3}
	for pages := 0; ; pages++ {
		page := list(f)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 || pages > 4 {
			t.Fatalf("page %d: %s", pages, ids(page))
		}
		seen += ids(page)
		f.BeforeSeq = page[len(page)-1].Seq
	}
	if seen != "p9 p8 p7 p6 p5 p4 p3 p2 p1 p0 " {
		t.Fatalf("paged ListRuns = %s", seen)
	}
}

func testSteps(t *testing.T, s store.Store) {
	// Stored out of order; ListSteps orders by Position.
	r, steps := newRun("r", "p", "zeta", "alpha", "mid")
	steps[0], steps[2] = steps[2], steps[0]
	must(t, s.CreateRun(ctx, r, steps))
	got, err := s.ListSteps(ctx, "r")
	must(t, err)
	if len(got) != 3 || got[0].Name != "zeta" || got[1].Name != "alpha" || got[2].Name != "mid" {
		t.Fatalf("ListSteps = %+v, want zeta alpha mid", got)
	}
	same(t, "ListSteps[1]", got[1], store.Step{RunID: "r", Name: "alpha", Position: 1, Phase: v1.Pending})

	up := got[1]
	up.Phase, up.Expanded, up.Items, up.Message, up.Backend = v1.Running, true, 7, "going", "local"
	up.StartedAt, up.FinishedAt = ptr(at(1)), ptr(at(2))
	up.Position = 99 // not written
	must(t, s.UpdateStep(ctx, up))
	got, err = s.ListSteps(ctx, "r")
	must(t, err)
	want := up
	want.Position, want.StartedAt, want.FinishedAt = 1, ptr(stored(at(1))), ptr(stored(at(2)))
	same(t, "updated step", got[1], want)
	utc(t, "step times", got[1].StartedAt, got[1].FinishedAt)

	wantCode(t, s.UpdateStep(ctx, store.Step{RunID: "r", Name: "nope"}), errs.NotFound, "UpdateStep of a missing step")
	none, err := s.ListSteps(ctx, "nope")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("ListSteps of a missing run = %+v", none)
	}
}

func testTimes(t *testing.T, s store.Store) {
	// Microsecond precision, UTC, whatever zone and nanoseconds went in.
	r, steps := newRun("r", "p", "s")
	r.CreatedAt = base
	must(t, s.CreateRun(ctx, r, steps))
	got, err := s.GetRun(ctx, "r")
	must(t, err)
	if !got.CreatedAt.Equal(stored(base)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, stored(base))
	}
	if got.CreatedAt.Nanosecond() != 535897000 {
		t.Fatalf("CreatedAt kept %d ns, want microsecond precision (535897000)", got.CreatedAt.Nanosecond())
	}
}
