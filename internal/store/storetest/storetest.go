// Package storetest is the conformance suite every store.Store passes: the
// contract of each Querier method, transactions, concurrency and error
// codes, checked the same way on every database.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Run runs the suite; open gives each subtest a fresh, empty store (and
// closes it when the test ends).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Projects", testProjects},
		{"Tokens", testTokens},
		{"TokenListing", testTokenListing},
		{"Principals", testPrincipals},
		{"Memberships", testMemberships},
		{"Audit", testAudit},
		{"Keysets", testKeysets},
		{"Rewraps", testRewraps},
		{"Storage", testStorage},
		{"Secrets", testSecrets},
		{"ResealSecret", testResealSecret},
		{"Workflows", testWorkflows},
		{"WorkflowsPerProject", testWorkflowsPerProject},
		{"Runs", testRuns},
		{"ListRuns", testListRuns},
		{"Steps", testSteps},
		{"StepsVersion", testStepsVersion},
		{"CountTasksOfSteps", testCountTasksOfSteps},
		{"Tasks", testTasks},
		{"ListTasks", testListTasks},
		{"InsertManyTasks", testInsertManyTasks},
		{"InsertTasksAtomic", testInsertTasksAtomic},
		{"Attempts", testAttempts},
		{"UpdateAttemptIfPhase", testUpdateAttemptIfPhase},
		{"Logs", testLogs},
		{"LogPaging", testLogPaging},
		{"Wakeups", testWakeups},
		{"ClaimWakeupsLimit", testClaimWakeupsLimit},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"TxPanic", testTxPanic},
		{"ConcurrentTx", testConcurrentTx},
		{"ConcurrentClaims", testConcurrentClaims},
		{"ClaimSkipsLocked", testClaimSkipsLocked},
		{"ClaimSkipsLockedRuns", testClaimSkipsLockedRuns},
		{"WakeLockedRun", testWakeLockedRun},
		{"Cache", testCache},
		{"Times", testTimes},
		{"Datalake", testDatalake},
		{"Triggers", testTriggers}, {"TriggerQueue", testTriggerQueue}, {"TriggerQueueTx", testTriggerQueueTx},
		{"PruneTriggerHistory", testPruneTriggerHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

// base has nanoseconds and a zone other than UTC: stores keep microseconds
// and give times back in UTC.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("JST", 9*3600))

// at is a time s seconds after base, as the caller passes it.
func at(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }

// stored is how a store gives back t: UTC, whole microseconds.
func stored(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func ptr[T any](v T) *T { return &v }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode checks that err carries code.
func wantCode(t *testing.T, err error, code errs.Code, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, code)
	}
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("%s: error %q has code %s, want %s", what, err, got, code)
	}
}

// same compares got and want through their JSON (times in the same zone
// and precision print the same), failing with both.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, err)
	w, err := json.Marshal(want)
	must(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// utc checks that every given time is in UTC.
func utc(t *testing.T, what string, times ...*time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm != nil && tm.Location() != time.UTC {
			t.Fatalf("%s: time %d (%v) is in %v, want UTC", what, i, tm, tm.Location())
		}
	}
}

// newRun builds a run of project with steps named as given, Position
// following their order.
func newRun(id, project string, steps ...string) (store.Run, []store.Step) {
	r := store.Run{
		ID:              id,
		Project:         project,
		Workflow:        "wf",
		WorkflowVersion: 1,
		Spec:            v1.WorkflowSpec{Description: "d"},
		Phase:           v1.Pending,
		CreatedAt:       stored(at(0)),
	}
	var ss []store.Step
	for i, name := range steps {
		r.Spec.Steps = append(r.Spec.Steps, v1.Step{Name: name, Command: []string{"true"}})
		ss = append(ss, store.Step{RunID: id, Name: name, Position: i, Phase: v1.Pending})
	}
	return r, ss
}

// createRun stores a run of project p with the given steps.
func createRun(t *testing.T, q store.Querier, id, project string, steps ...string) store.Run {
	t.Helper()
	r, ss := newRun(id, project, steps...)
	must(t, q.CreateRun(ctx, r, ss))
	got, err := q.GetRun(ctx, id)
	must(t, err)
	return got
}

// newTask builds task index of step in run, Pending.
func newTask(run, step string, index int) store.Task {
	return store.Task{
		RunID: run,
		Step:  step,
		Index: index,
		Item:  json.RawMessage(fmt.Sprintf(`{"i":%d}`, index)),
		Phase: v1.Pending,
		Manifest: v1.TaskManifest{
			Project: "p", RunID: run, Step: step, Index: index,
			Command: []string{"echo", fmt.Sprint(index)},
		},
	}
}

func insertTasks(t *testing.T, q store.Querier, run, step string, n int) []store.Task {
	t.Helper()
	ts := make([]store.Task, n)
	for i := range ts {
		ts[i] = newTask(run, step, i)
	}
	must(t, q.InsertTasks(ctx, ts))
	return ts
}

func newAttempt(id string, task store.Task, number int) store.Attempt {
	return store.Attempt{
		ID:        id,
		Project:   "p",
		RunID:     task.RunID,
		Step:      task.Step,
		Index:     task.Index,
		Number:    number,
		Phase:     v1.Pending,
		Backend:   "mock",
		Owner:     "replica-1",
		CreatedAt: stored(at(number)),
	}
}
