package storetest

import (
	"encoding/json"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testAttempts(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a")
	createRun(t, s, "r2", "p", "a")
	ts := insertTasks(t, s, "r", "a", 2)
	t2 := insertTasks(t, s, "r2", "a", 1)

	_, err := s.GetAttempt(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetAttempt of a missing attempt")

	full := newAttempt("x1", ts[0], 1)
	full.Reason = "gpu"
	full.Handle = json.RawMessage(`{"v":1,"driver":"local","state":{"pid":42}}`)
	full.LastSeq = 3
	full.Exit = &v1.Exit{Code: 1, Error: "oops"}
	full.Outputs = map[string]v1.Output{"o": {Ref: "r", Dir: true}}
	full.HeartbeatAt, full.Deadline, full.StartedAt, full.FinishedAt = ptr(at(2)), ptr(at(3)), ptr(at(4)), ptr(at(5))
	must(t, s.InsertAttempt(ctx, full))
	// Created in this order: x3 (t=1), x2 (t=2); x1 was created at t=1 too.
	x2 := newAttempt("x2", ts[0], 2)
	x2.Phase = v1.Running
	must(t, s.InsertAttempt(ctx, x2))
	x3 := newAttempt("x3", ts[1], 1)
	must(t, s.InsertAttempt(ctx, x3))
	y1 := newAttempt("y1", t2[0], 1)
	y1.Phase = v1.Running
	must(t, s.InsertAttempt(ctx, y1))

	got, err := s.GetAttempt(ctx, "x1")
	must(t, err)
	want := full
	want.HeartbeatAt, want.Deadline = ptr(stored(at(2))), ptr(stored(at(3)))
	want.StartedAt, want.FinishedAt = ptr(stored(at(4))), ptr(stored(at(5)))
	same(t, "GetAttempt", got, want)
	if string(got.Handle) != string(full.Handle) {
		t.Fatalf("Handle = %s, want %s byte for byte", got.Handle, full.Handle)
	}
	utc(t, "attempt times", &got.CreatedAt, got.HeartbeatAt, got.Deadline, got.StartedAt, got.FinishedAt)

	wantCode(t, s.InsertAttempt(ctx, newAttempt("x1", ts[1], 9)), errs.Conflict, "InsertAttempt with a duplicate id")

	ids := func(f store.AttemptFilter) string {
		t.Helper()
		as, err := s.ListAttempts(ctx, f)
		must(t, err)
		out := ""
		for _, a := range as {
			out += a.ID + " "
		}
		return out
	}
	check := func(name string, f store.AttemptFilter, want string) {
		t.Helper()
		if got := ids(f); got != want {
			t.Fatalf("%s: ListAttempts = %q, want %q", name, got, want)
		}
	}
	// Creation order: x1 and x3 at t=1 (then by id), x2 at 2, y1 at 1.
	check("run", store.AttemptFilter{RunID: "r"}, "x1 x3 x2 ")
	check("run, running", store.AttemptFilter{RunID: "r", Phases: []v1.Phase{v1.Running}}, "x2 ")
	check("all runs, active", store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}}, "x1 x3 y1 x2 ")
	check("all, limit", store.AttemptFilter{Limit: 2}, "x1 x3 ")
	check("missing run", store.AttemptFilter{RunID: "nope"}, "")
	check("ids, any run", store.AttemptFilter{IDs: []string{"y1", "x1", "nope"}}, "x1 y1 ")
	check("ids, running", store.AttemptFilter{IDs: []string{"y1", "x1", "x2"}, Phases: []v1.Phase{v1.Running}}, "y1 x2 ")

	for _, c := range []struct {
		f    store.AttemptFilter
		want int
	}{
		{store.AttemptFilter{}, 4},
		{store.AttemptFilter{RunID: "r"}, 3},
		{store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}, Limit: 1}, 4},
		{store.AttemptFilter{RunID: "r2", Phases: []v1.Phase{v1.Running}}, 1},
		{store.AttemptFilter{Phases: []v1.Phase{v1.Succeeded}}, 0},
		{store.AttemptFilter{IDs: []string{"x1", "x3", "x3"}}, 2},
	} {
		n, err := s.CountAttempts(ctx, c.f)
		must(t, err)
		if n != c.want {
			t.Fatalf("CountAttempts(%+v) = %d, want %d", c.f, n, c.want)
		}
	}
}

func testUpdateAttemptIfPhase(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a")
	ts := insertTasks(t, s, "r", "a", 1)
	a := newAttempt("x", ts[0], 1)
	must(t, s.InsertAttempt(ctx, a))

	// Claim: Pending -> Running succeeds once.
	claim := a
	claim.Phase, claim.Owner, claim.Handle, claim.StartedAt = v1.Running, "replica-2", json.RawMessage(`{"h":1}`), ptr(at(9))
	ok, err := s.UpdateAttempt(ctx, claim, v1.Pending)
	must(t, err)
	if !ok {
		t.Fatal("UpdateAttempt(ifPhase Pending) on a Pending attempt: not updated")
	}
	got, err := s.GetAttempt(ctx, "x")
	must(t, err)
	if got.Phase != v1.Running || got.Owner != "replica-2" || string(got.Handle) != `{"h":1}` || !got.StartedAt.Equal(stored(at(9))) {
		t.Fatalf("after claim: %+v", got)
	}

	// A second claim with the stale phase writes nothing.
	other := a
	other.Phase, other.Owner = v1.Running, "replica-3"
	ok, err = s.UpdateAttempt(ctx, other, v1.Pending)
	must(t, err)
	if ok {
		t.Fatal("UpdateAttempt(ifPhase Pending) on a Running attempt: reported updated")
	}
	got, err = s.GetAttempt(ctx, "x")
	must(t, err)
	if got.Owner != "replica-2" {
		t.Fatalf("a mismatched UpdateAttempt wrote: owner %q", got.Owner)
	}

	// Unconditional update writes every mutable field.
	fin := got
	fin.Phase, fin.LastSeq, fin.Exit = v1.Succeeded, 7, &v1.Exit{Code: 0, Duration: 2}
	fin.Outputs = map[string]v1.Output{"m": {Ref: "k", Value: json.RawMessage(`{"b":2,"a":1}`)}}
	fin.HeartbeatAt, fin.Deadline, fin.FinishedAt = ptr(at(10)), ptr(at(11)), ptr(at(12))
	fin.Backend, fin.Reason = "ignored", "ignored" // not written
	ok, err = s.UpdateAttempt(ctx, fin, "")
	must(t, err)
	if !ok {
		t.Fatal("unconditional UpdateAttempt: not updated")
	}
	got, err = s.GetAttempt(ctx, "x")
	must(t, err)
	want := fin
	want.Backend, want.Reason = a.Backend, a.Reason
	want.StartedAt = ptr(stored(at(9)))
	want.HeartbeatAt, want.Deadline, want.FinishedAt = ptr(stored(at(10))), ptr(stored(at(11))), ptr(stored(at(12)))
	same(t, "after UpdateAttempt", got, want)
	if string(got.Outputs["m"].Value) != `{"b":2,"a":1}` {
		t.Fatalf("output value = %s, want the bytes written", got.Outputs["m"].Value)
	}

	_, err = s.UpdateAttempt(ctx, newAttempt("nope", ts[0], 2), "")
	wantCode(t, err, errs.NotFound, "UpdateAttempt of a missing attempt")
	_, err = s.UpdateAttempt(ctx, newAttempt("nope", ts[0], 2), v1.Pending)
	wantCode(t, err, errs.NotFound, "UpdateAttempt(ifPhase) of a missing attempt")
}
