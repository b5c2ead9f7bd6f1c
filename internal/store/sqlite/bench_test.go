package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storetest"
)

// BenchmarkDispatchTx is the store's share of dispatching one task: one
// transaction that locks the run, creates an attempt and its token, marks
// the task Running and wakes the run.
func BenchmarkDispatchTx(b *testing.B) {
	ctx := context.Background()
	s := open(b)
	n := b.N
	r := store.Run{ID: "r", Project: "p", Workflow: "w", Phase: v1.Running, CreatedAt: time.Now()}
	if err := s.CreateRun(ctx, r, []store.Step{{RunID: "r", Name: "s", Phase: v1.Running, Expanded: true, Items: n}}); err != nil {
		b.Fatal(err)
	}
	ts := make([]store.Task, n)
	for i := range ts {
		ts[i] = store.Task{RunID: "r", Step: "s", Index: i, Phase: v1.Pending,
			Manifest: v1.TaskManifest{Project: "p", RunID: "r", Step: "s", Index: i, Command: []string{"python3", "train.py", fmt.Sprint(i)}}}
	}
	if err := s.InsertTasks(ctx, ts); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := range n {
		err := s.Tx(ctx, func(q store.Querier) error {
			if err := q.LockRun(ctx, "r"); err != nil {
				return err
			}
			t, err := q.GetTask(ctx, "r", "s", i)
			if err != nil {
				return err
			}
			id := fmt.Sprintf("a%d", i)
			if err := q.InsertAttempt(ctx, store.Attempt{ID: id, Project: "p", RunID: "r", Step: "s", Index: i, Number: 1,
				Phase: v1.Pending, Backend: "mock", CreatedAt: now}); err != nil {
				return err
			}
			if err := q.CreateToken(ctx, store.Token{ID: "t" + id, Hash: "h" + id, AttemptID: id, CreatedAt: now}); err != nil {
				return err
			}
			t.Phase, t.Attempts, t.StartedAt = v1.Running, 1, &now
			if err := q.UpdateTask(ctx, t); err != nil {
				return err
			}
			return q.Wake(ctx, "r", now)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkPlanReads is a planning round's reads on a run of 10,000 tasks.
func BenchmarkPlanReads(b *testing.B) {
	ctx := context.Background()
	s := open(b)
	const n = 10000
	r := store.Run{ID: "r", Project: "p", Workflow: "w", Phase: v1.Running, CreatedAt: time.Now()}
	if err := s.CreateRun(ctx, r, []store.Step{{RunID: "r", Name: "s", Phase: v1.Running, Expanded: true, Items: n}}); err != nil {
		b.Fatal(err)
	}
	ts := make([]store.Task, n)
	for i := range ts {
		ts[i] = store.Task{RunID: "r", Step: "s", Index: i, Phase: v1.Succeeded}
		if i >= n/2 {
			ts[i].Phase = v1.Pending
		}
	}
	if err := s.InsertTasks(ctx, ts); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"CountTasks", func() error { _, err := s.CountTasks(ctx, "r"); return err }},
		{"ReadyTasks", func() error {
			_, err := s.ListTasks(ctx, store.TaskFilter{RunID: "r", Step: "s", Phases: []v1.Phase{v1.Pending}, DueBy: &now, Limit: 64})
			return err
		}},
		{"ActiveAttempts", func() error {
			_, err := s.ListAttempts(ctx, store.AttemptFilter{RunID: "r", Phases: []v1.Phase{v1.Pending, v1.Running}})
			return err
		}},
		{"EarliestRetry", func() error { _, err := s.EarliestRetry(ctx, "r", now); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPutFile: files/s of PutFile with datalake-like metadata.
func BenchmarkPutFile(b *testing.B) { storetest.BenchPutFile(b, open(b)) }
