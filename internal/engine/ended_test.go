package engine

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
)

// podDriver is a hand-written backend whose tasks end on their own, as
// pods under kwok do, and tell the engine so through TaskEnded. Commands:
//
//	end CODE        the task ends with CODE; no agent reports anything
//	oom             the task is OOM-killed; no agent reports anything
//	report CODE     the agent reports exit 0, then the pod ends with CODE
//	run             the task keeps running (TaskEnded is called anyway)
//
// TaskEnded is called from inside Start, before the engine can have
// recorded the handle: the engine must cope with that race.
type podDriver struct {
	mu       sync.Mutex
	engine   *Engine
	status   map[string]backend.Status
	cleanups map[string]int
}

func (d *podDriver) Name() string                       { return "pods" }
func (d *podDriver) Capabilities() backend.Capabilities { return backend.Capabilities{} }

func (d *podDriver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := backend.Handle{Version: backend.HandleVersion, Driver: "pods", AttemptID: m.AttemptID}
	if _, ok := d.status[m.AttemptID]; ok {
		return h, nil
	}
	st := backend.Status{Phase: v1.Running}
	code := 0
	if len(m.Command) == 2 {
		code, _ = strconv.Atoi(m.Command[1])
	}
	switch m.Command[0] {
	case "end":
		st = terminal(v1.Exit{Code: code})
	case "oom":
		st = terminal(v1.Exit{Code: 137, Signal: 9, OOMKilled: true})
	case "report":
		ok := v1.Exit{}
		go func() {
			_, err := d.engine.Ingest(context.Background(), m.AttemptID, []v1.AgentEvent{
				{Seq: 1, Type: v1.EventStarted, Time: time.Now()}, {Seq: 2, Type: v1.EventExited, Exit: &ok, Time: time.Now()}})
			if err != nil {
				panic(err)
			}
			d.mu.Lock()
			d.status[m.AttemptID] = terminal(v1.Exit{Code: code}) // the agent's own exit code
			d.mu.Unlock()
			d.engine.TaskEnded(m.AttemptID)
		}()
	}
	d.status[m.AttemptID] = st
	d.engine.TaskEnded(m.AttemptID)
	return h, nil
}

func terminal(x v1.Exit) backend.Status {
	if exitOK(x) {
		return backend.Status{Phase: v1.Succeeded, Exit: &x}
	}
	return backend.Status{Phase: v1.Failed, Exit: &x}
}

func (d *podDriver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.status[h.AttemptID]
	if !ok {
		return backend.Status{Phase: v1.Lost}, nil
	}
	return st, nil
}

func (d *podDriver) Stop(ctx context.Context, h backend.Handle) error { return nil }

func (d *podDriver) Recover(ctx context.Context, h backend.Handle) error {
	if _, err := d.Status(ctx, h); err != nil {
		return errs.E(errs.NotFound, "no pod")
	}
	return nil
}

func (d *podDriver) Cleanup(ctx context.Context, h backend.Handle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups[h.AttemptID]++
	return nil
}

func (d *podDriver) cleaned(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cleanups[id]
}

// TestEngineFinishesFromBackendWhenAgentSilent: a task that ends without
// its agent reporting (kwok, an agent killed with its pod) is finished
// from the backend's terminal status as soon as the driver says it ended,
// well before any staleness timer; an agent that reported keeps its
// outcome; every ended task is cleaned up once its outcome is recorded.
func TestEngineFinishesFromBackendWhenAgentSilent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		d := &podDriver{status: map[string]backend.Status{}, cleanups: map[string]int{}}
		reg := backend.NewRegistry(nil)
		if _, err := reg.Add(d); err != nil {
			t.Fatal(err)
		}
		st := open(t)
		// Staleness far away: only TaskEnded can finish these attempts in time.
		eng, err := New(Config{Store: st, Backends: reg, DefaultBackend: "pods", ServerURL: "http://127.0.0.1:1",
			StaleAfter: time.Hour, ReconcileEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		d.engine = eng
		if err := eng.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = eng.Stop(context.Background()) })
		if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, store: st, engine: eng}
		e.workflow("pods", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "ok", Command: cmd("end", "0")},
			{Name: "three", Command: cmd("end", "3")},
			{Name: "oom", Command: cmd("oom")},
			{Name: "reported", Command: cmd("report", "1")},
			{Name: "after", Needs: []string{"ok"}, Command: cmd("end", "0")},
		}})
		id := e.submit("pods", nil)
		r := e.wait(id, 15*time.Second)
		want := map[string]v1.Phase{"ok": v1.Succeeded, "three": v1.Failed, "oom": v1.Failed, "reported": v1.Succeeded, "after": v1.Succeeded}
		for _, s := range r.Status.Steps {
			if s.Phase != want[s.Name] {
				t.Errorf("step %s: %s (%s), want %s", s.Name, s.Phase, s.Message, want[s.Name])
			}
		}
		if msg := e.tasks(id, "three")[0].Message; msg != "exit code 3" {
			t.Errorf("three's message %q, want the backend's exit code", msg)
		}
		if msg := e.tasks(id, "oom")[0].Message; msg != "killed: out of memory" {
			t.Errorf("oom's message %q", msg)
		}
		atts, err := st.ListAttempts(context.Background(), store.AttemptFilter{RunID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			if !Eventually(5*time.Second, func() bool { return d.cleaned(a.ID) > 0 }) {
				t.Errorf("attempt %s (%s) was never cleaned up", a.ID, a.Step)
			}
			if a.Step == "reported" && (a.Exit == nil || a.Exit.Code != 0) {
				t.Errorf("reported: exit %+v, want the agent's (code 0), not the pod's", a.Exit)
			}
		}
	})
}

// TestEngineIgnoresEndedWhileRunning: a TaskEnded for a task the backend
// still sees running changes nothing and cleans nothing up.
func TestEngineIgnoresEndedWhileRunning(t *testing.T) {
	d := &podDriver{status: map[string]backend.Status{}, cleanups: map[string]int{}}
	reg := backend.NewRegistry(nil)
	if _, err := reg.Add(d); err != nil {
		t.Fatal(err)
	}
	st := testStores(t)["sqlite"](t)
	eng, err := New(Config{Store: st, Backends: reg, DefaultBackend: "pods", ServerURL: "http://127.0.0.1:1",
		StaleAfter: time.Hour, ReconcileEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	d.engine = eng
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, engine: eng}
	e.workflow("run", v1.WorkflowSpec{Steps: []v1.Step{{Name: "long", Command: cmd("run")}}})
	id := e.submit("run", nil)
	var a store.Attempt
	if !Eventually(5*time.Second, func() bool {
		atts, _ := st.ListAttempts(context.Background(), store.AttemptFilter{RunID: id})
		if len(atts) == 1 && atts[0].Phase == v1.Running {
			a = atts[0]
			return true
		}
		return false
	}) {
		t.Fatal("the attempt never ran")
	}
	// Applied synchronously, as the reconcile goroutine does.
	eng.taskEnded(context.Background(), a.ID)
	eng.taskEnded(context.Background(), "no-such-attempt")
	got, err := st.GetAttempt(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != v1.Running || d.cleaned(a.ID) != 0 {
		t.Fatalf("attempt %s after TaskEnded of a running task, %d cleanups; want Running and none", got.Phase, d.cleaned(a.ID))
	}
}

// Eventually polls cond every 10ms until it holds or limit passes.
func Eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
