package trigger

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlite"
)

var ctx = context.Background()

// fakeEngine creates one-step runs in the caller's transaction, refusing
// params with "bad" as the engine refuses params a workflow does not take.
type fakeEngine struct {
	mu    sync.Mutex
	n     int
	pokes int
}

func (f *fakeEngine) SubmitIn(ctx context.Context, q store.Querier, project, workflow string, params map[string]any) (store.Run, error) {
	if params["bad"] != nil {
		return store.Run{}, errs.At(errs.Invalid, "params.bad", "unknown param \"bad\"")
	}
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("run-%03d", f.n)
	f.mu.Unlock()
	r := store.Run{ID: id, Project: project, Workflow: workflow, WorkflowVersion: 1, Params: params, Phase: v1.Pending,
		Spec: v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: []string{"true"}}}}, CreatedAt: t0}
	return r, q.CreateRun(ctx, r, []store.Step{{RunID: id, Name: "s", Phase: v1.Pending}})
}

func (f *fakeEngine) Poke() { f.mu.Lock(); f.pokes++; f.mu.Unlock() }

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestStarterConcurrency(t *testing.T) {
	st := openStore(t)
	clock := &fakeClock{t: t0.Add(time.Minute)}
	eng := &fakeEngine{}
	s, err := New(Config{Store: st, Engine: eng, Clock: clock.Now, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr := v1.Trigger{Metadata: v1.ObjectMeta{Project: "p", Name: "t"}, Spec: v1.TriggerSpec{Workflow: "w", Webhook: &v1.WebhookSource{}, Concurrency: 3}}
	if _, _, err := st.PutTrigger(ctx, tr); err != nil {
		t.Fatal(err)
	}
	var items []store.TriggerItem
	for i := range 7 {
		it := store.TriggerItem{Project: "p", Trigger: "t", Key: fmt.Sprint(i), EventAt: t0, Params: map[string]any{"i": float64(i)}}
		if i == 3 {
			it.Params["bad"] = true
		}
		items = append(items, it)
	}
	if _, err := st.EnqueueTriggerItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	stats := func() store.TriggerQueueStats {
		t.Helper()
		s, err := st.TriggerQueueStats(ctx, "p", "t")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	round := func() {
		t.Helper()
		if _, err := s.startRound(ctx); err != nil {
			t.Fatal(err)
		}
	}

	round() // room 3, batches of 2: items 0, 1, 2
	if got := stats(); got.Started != 3 || got.Queued != 4 || got.InFlight != 3 {
		t.Fatalf("after the first round: %+v", got)
	}
	round() // full: nothing more
	if got := stats(); got.Started != 3 {
		t.Fatalf("over concurrency: %+v", got)
	}
	finish := func(ids ...string) {
		for _, id := range ids {
			r, err := st.GetRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			r.Phase = v1.Succeeded
			if err := st.UpdateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	finish("run-001", "run-002")
	round() // room 2: item 3 fails, 4 and 5 start (the batch after the failure)
	got := stats()
	if got.Failed != 1 || got.InFlight != 3 || got.Queued != 1 || got.Done != 2 {
		t.Fatalf("after two runs ended: %+v", got)
	}
	trs, _ := st.GetTrigger(ctx, "p", "t")
	if trs.LastError == "" || trs.LastErrorAt == nil || !trs.LastErrorAt.Equal(clock.Now()) {
		t.Fatalf("last error: %q at %v", trs.LastError, trs.LastErrorAt)
	}
	// Each item started its own run with its own params, in order.
	started, _ := st.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "p", Trigger: "t"})
	for _, it := range started {
		if it.RunID == "" {
			continue
		}
		r, err := st.GetRun(ctx, it.RunID)
		if err != nil || r.Params["i"] != it.Params["i"] {
			t.Fatalf("item %s: run %s params %v (%v)", it.Key, it.RunID, r.Params, err)
		}
	}

	// Suspended: nothing starts, even with room.
	tr.Spec.Suspend = true
	if _, _, err := st.PutTrigger(ctx, tr); err != nil {
		t.Fatal(err)
	}
	finish("run-003", "run-004", "run-005")
	round()
	if got := stats(); got.Queued != 1 {
		t.Fatalf("suspended trigger started runs: %+v", got)
	}
	tr.Spec.Suspend = false
	if _, _, err := st.PutTrigger(ctx, tr); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	round()
	got = stats()
	if got.Queued != 0 || got.Started+got.Done != 6 || got.Failed != 1 {
		t.Fatalf("after resuming: %+v", got)
	}
	status, err := Status(ctx, st, trs, clock.Now())
	if err != nil || status.Backlog != 0 || status.Started != 6 || status.Failed != 1 {
		t.Fatalf("status %+v %v", status, err)
	}
	if eng.pokes == 0 {
		t.Fatal("the engine was never poked")
	}
}

// TestScheduleRound: a schedule fires its slot once, with event.time, and
// after "downtime" fires the latest missed slot only.
func TestScheduleRound(t *testing.T) {
	st := openStore(t)
	clock := &fakeClock{t: t0}
	st.(interface{ SetClock(func() time.Time) }).SetClock(clock.Now)
	s, err := New(Config{Store: st, Engine: &fakeEngine{}, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tr := v1.Trigger{Metadata: v1.ObjectMeta{Project: "p", Name: "c"},
		Spec: v1.TriggerSpec{Workflow: "w", Schedule: &v1.ScheduleSource{Cron: "*/5 * * * *"}, Params: map[string]string{"at": "{{ event.time }}"}}}
	if _, _, err := st.PutTrigger(ctx, tr); err != nil {
		t.Fatal(err)
	}
	round := func() time.Duration {
		t.Helper()
		d, err := s.scheduleRound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := round(); d != 30*time.Second { // capped by ScheduleEvery
		t.Fatalf("sleep %v, want 30s", d)
	}
	clock.Add(4*time.Minute + 50*time.Second)
	if d := round(); d != 10*time.Second { // until the slot
		t.Fatalf("sleep %v, want 10s", d)
	}
	clock.Add(-4*time.Minute - 50*time.Second)
	clock.Add(5 * time.Minute)
	round()
	round() // the same slot again: nothing
	clock.Add(3 * time.Hour)
	round()
	items, err := st.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "p", Trigger: "c"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key+" "+fmt.Sprint(it.Params["at"]))
	}
	want := []string{"cron:2026-03-14T06:05:00Z 2026-03-14T06:05:00Z", "cron:2026-03-14T09:05:00Z 2026-03-14T09:05:00Z"}
	if mustJSON(keys) != mustJSON(want) {
		t.Fatalf("items %v, want %v", keys, want)
	}
}
