package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
)

// The engine's integration tests run on every store implementation.
func forEachStore(t *testing.T, test func(t *testing.T, open func(t testing.TB) store.Store)) {
	for name, open := range testStores(t) {
		t.Run(name, func(t *testing.T) { test(t, open) })
	}
}

type env struct {
	t      *testing.T
	store  store.Store
	engine *Engine
	fake   *fakeDriver
}

func newEnv(t *testing.T, st store.Store, fake *fakeDriver, tune func(*Config)) *env {
	t.Helper()
	if fake == nil {
		fake = newFakeDriver()
	}
	reg := backend.NewRegistry(nil)
	if _, err := reg.Add(fake); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Backends: reg, DefaultBackend: "fake", ServerURL: "http://127.0.0.1:1", MaxRunning: 64}
	if tune != nil {
		tune(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.engine = e
	fake.mu.Unlock()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: st, engine: e, fake: fake}
}

func (e *env) workflow(name string, spec v1.WorkflowSpec) {
	e.t.Helper()
	wf := v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"},
		Metadata: v1.ObjectMeta{Name: name, Project: "p"}, Spec: spec}
	if errList := wf.Validate(); len(errList) > 0 {
		e.t.Fatalf("invalid test workflow: %v", errList.Err())
	}
	if _, _, err := e.store.PutWorkflow(context.Background(), wf); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) submit(workflow string, params map[string]any) string {
	e.t.Helper()
	r, err := e.engine.Submit(context.Background(), "p", workflow, params)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

func (e *env) wait(runID string, limit time.Duration) v1.Run {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		r, err := e.engine.RunView(context.Background(), runID)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status.Phase.Done() {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, _ := e.engine.RunView(context.Background(), runID)
	b, _ := json.MarshalIndent(r.Status, "", "  ")
	e.t.Fatalf("run %s not done after %v:\n%s", runID, limit, b)
	return v1.Run{}
}

func (e *env) tasks(runID, step string) []store.Task {
	e.t.Helper()
	ts, err := e.store.ListTasks(context.Background(), store.TaskFilter{RunID: runID, Step: step})
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func stepPhases(r v1.Run) string {
	var parts []string
	for _, s := range r.Status.Steps {
		parts = append(parts, s.Name+"="+string(s.Phase)+"("+s.Message+")")
	}
	return strings.Join(parts, " ")
}

func cmd(c ...string) []string { return c }

func TestEngineRunsDAGWithFanOutAndOutputs(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("dag", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "grid", Command: cmd("out", "grid=[1,2,3]"), Outputs: map[string]string{"grid": "g.json"}},
			{Name: "fit", Needs: []string{"grid"}, Foreach: "{{ steps.grid.outputs.grid }}",
				Command: cmd("out", "score={{ item * 10.0 }}"), Outputs: map[string]string{"score": "s.json"}},
			{Name: "pick", Needs: []string{"fit"}, Command: cmd("out", "best={{ steps.fit.outputs.score }}"),
				Outputs: map[string]string{"best": "b.json"}},
		}})
		id := e.submit("dag", nil)
		r := e.wait(id, 20*time.Second)
		if r.Status.Phase != v1.Succeeded {
			t.Fatalf("run %s: %s (%s)", r.Status.Phase, r.Status.Message, stepPhases(r))
		}
		if fit := e.tasks(id, "fit"); len(fit) != 3 {
			t.Fatalf("fit has %d tasks, want 3", len(fit))
		}
		pick := e.tasks(id, "pick")
		if got := string(pick[0].Outputs["best"].Value); got != "[10,20,30]" {
			t.Errorf("pick saw the fan-out's outputs as %s, want [10,20,30]", got)
		}
	})
}

func TestEngineRetriesChosenByExitCode(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		policy := &v1.RetryPolicy{Limit: 2, When: "exit.code in [137, 143]"}
		e.workflow("retry", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "killed", Command: cmd("exit", "137"), Retry: policy},
			{Name: "broken", Command: cmd("exit", "1"), Retry: policy},
			{Name: "flaky", Command: cmd("flaky", "1"), Retry: &v1.RetryPolicy{Limit: 3}},
		}})
		id := e.submit("retry", nil)
		r := e.wait(id, 20*time.Second)
		if r.Status.Phase != v1.Failed {
			t.Fatalf("run %s, want Failed", r.Status.Phase)
		}
		for step, want := range map[string]int{"killed": 3, "broken": 1, "flaky": 2} {
			if got := e.fake.executions(id, step, 0); got != want {
				t.Errorf("%s ran %d times, want %d", step, got, want)
			}
		}
		if p := e.tasks(id, "flaky")[0].Phase; p != v1.Succeeded {
			t.Errorf("flaky ended %s after its retry", p)
		}
		msg := e.tasks(id, "killed")[0].Message
		if !strings.Contains(msg, "exit code 137") || !strings.Contains(msg, "retry limit 2 reached") {
			t.Errorf("killed's message %q should say how it ended and why it stopped retrying", msg)
		}
	})
}

func TestEngineManualRetryRerunsOnlyWhatFailed(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("partial", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "items", Foreach: []any{0, 1, 2}, Command: cmd("flaky", "{{ item }}")},
			{Name: "after", Needs: []string{"items"}, Command: cmd("ok")},
		}})
		id := e.submit("partial", nil)
		for round, want := range []v1.Phase{v1.Failed, v1.Failed, v1.Succeeded} {
			if round > 0 {
				if _, err := e.engine.Retry(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			if r := e.wait(id, 20*time.Second); r.Status.Phase != want {
				t.Fatalf("round %d: run %s, want %s (%s)", round, r.Status.Phase, want, stepPhases(r))
			}
		}
		for i, want := range []int{1, 2, 3} {
			if got := e.fake.executions(id, "items", i); got != want {
				t.Errorf("item %d ran %d times, want %d", i, got, want)
			}
		}
		if got := e.fake.executions(id, "after", 0); got != 1 {
			t.Errorf("after ran %d times, want 1", got)
		}
		if _, err := e.engine.Retry(context.Background(), id); err == nil {
			t.Error("retrying a succeeded run should be refused")
		}
	})
}

// TestEngineCancelWhileStarting: a cancel planned while the backend is
// still starting an attempt (no handle to stop it by yet) stops it once
// its handle is recorded, though the task reports nothing more.
func TestEngineCancelWhileStarting(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.fake.mu.Lock()
		e.fake.gate, e.fake.entered = make(chan struct{}), make(chan string, 1)
		e.fake.mu.Unlock()
		e.workflow("held", v1.WorkflowSpec{Steps: []v1.Step{{Name: "wait", Command: cmd("hang")}}})
		id := e.submit("held", nil)
		attempt := <-e.fake.entered
		if err := e.engine.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !e.engine.isStopping(attempt) {
			if time.Now().After(deadline) {
				t.Fatal("the cancel planned no stop")
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(e.fake.gate) // the start ends, its handle is recorded
		if r := e.wait(id, 10*time.Second); r.Status.Phase != v1.Cancelled {
			t.Fatalf("run %s, want Cancelled (%s)", r.Status.Phase, stepPhases(r))
		}
	})
}

func TestEngineCancel(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("long", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "wait", Foreach: []any{1, 2, 3}, Command: cmd("hang")},
			{Name: "next", Needs: []string{"wait"}, Command: cmd("ok")},
		}})
		id := e.submit("long", nil)
		deadline := time.Now().Add(10 * time.Second)
		for e.fake.executions(id, "wait", 2) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := e.engine.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		r := e.wait(id, 10*time.Second)
		if r.Status.Phase != v1.Cancelled {
			t.Fatalf("run %s, want Cancelled (%s)", r.Status.Phase, stepPhases(r))
		}
		if e.fake.executions(id, "next", 0) != 0 {
			t.Error("a step after the cancel ran")
		}
	})
}

func TestEngineCachesSteps(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("cached", v1.WorkflowSpec{
			Params: map[string]v1.ParamSpec{"n": {Type: "integer"}},
			Steps: []v1.Step{
				{Name: "prep", Cache: true, Command: cmd("out", "v={{ params.n }}"), Outputs: map[string]string{"v": "v.json"}},
				{Name: "use", Needs: []string{"prep"}, Command: cmd("ok")},
			}})
		first := e.submit("cached", map[string]any{"n": 1})
		e.wait(first, 10*time.Second)
		second := e.submit("cached", map[string]any{"n": 1})
		e.wait(second, 10*time.Second)
		other := e.submit("cached", map[string]any{"n": 2})
		e.wait(other, 10*time.Second)
		if got := e.fake.executions(second, "prep", 0); got != 0 {
			t.Errorf("cached step ran %d times in the second run", got)
		}
		if p := e.tasks(second, "prep")[0]; p.Phase != v1.Cached || string(p.Outputs["v"].Value) != "1" {
			t.Errorf("second run's prep: %s %s, want Cached with v=1", p.Phase, p.Outputs["v"].Value)
		}
		if got := e.fake.executions(other, "prep", 0); got != 1 {
			t.Errorf("a different param must miss the cache; prep ran %d times", got)
		}
		if got := e.fake.executions(second, "use", 0); got != 1 {
			t.Errorf("the uncached step ran %d times", got)
		}
	})
}

func TestEngineFanOutOf10000(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 tasks")
	}
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, func(c *Config) { c.MaxRunning = 256 })
		items := make([]any, 10000)
		for i := range items {
			items[i] = i
		}
		e.workflow("wide", v1.WorkflowSpec{Steps: []v1.Step{{Name: "each", Foreach: items, Command: cmd("ok")}}})
		id := e.submit("wide", nil)
		r := e.wait(id, 5*time.Minute)
		if r.Status.Phase != v1.Succeeded || r.Status.Steps[0].Counts[v1.Succeeded] != 10000 {
			t.Fatalf("run %s with counts %v", r.Status.Phase, r.Status.Steps[0].Counts)
		}
	})
}

func TestIngestAppliesEachEventOnceInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("quiet", v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: cmd("silent"), Outputs: map[string]string{"o": "o.json"}}}})
		id := e.submit("quiet", nil)
		var att store.Attempt
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			as, err := e.store.ListAttempts(context.Background(), store.AttemptFilter{RunID: id})
			if err != nil {
				t.Fatal(err)
			}
			if len(as) == 1 {
				att = as[0]
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		ctx := context.Background()
		out := v1.Output{Ref: "r", Digest: "d", Value: json.RawMessage(`7`)}
		started := v1.AgentEvent{Seq: 1, Type: v1.EventStarted}
		output := v1.AgentEvent{Seq: 2, Type: v1.EventOutput, Name: "o", Output: &out}
		exited := v1.AgentEvent{Seq: 3, Type: v1.EventExited, Exit: &v1.Exit{}}

		ack, err := e.engine.Ingest(ctx, att.ID, []v1.AgentEvent{started, started, exited}) // duplicate and a gap
		if err != nil || ack.Applied != 1 {
			t.Fatalf("ack %+v, %v: want applied 1 (stop at the gap)", ack, err)
		}
		if ack, err = e.engine.Ingest(ctx, att.ID, []v1.AgentEvent{exited, output, started}); err != nil || ack.Applied != 3 {
			t.Fatalf("ack %+v, %v: want applied 3", ack, err)
		}
		r := e.wait(id, 10*time.Second)
		if r.Status.Phase != v1.Succeeded {
			t.Fatalf("run %s", r.Status.Phase)
		}
		if ack, err = e.engine.Ingest(ctx, att.ID, []v1.AgentEvent{started, output, exited}); err != nil || ack.Applied != 3 {
			t.Fatalf("resend: ack %+v, %v", ack, err)
		}
		a, _ := e.store.GetAttempt(ctx, att.ID)
		if a.Phase != v1.Succeeded || string(a.Outputs["o"].Value) != "7" {
			t.Errorf("attempt %s outputs %v", a.Phase, a.Outputs)
		}
	})
}

func TestEngineExpiresSilentAttemptsPastTheirTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, func(c *Config) {
			c.DeadlineGrace, c.StaleAfter = 50*time.Millisecond, 50*time.Millisecond
		})
		e.workflow("stuck", v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: cmd("silent"), Timeout: v1.Duration{Duration: 200 * time.Millisecond}}}})
		id := e.submit("stuck", nil)
		r := e.wait(id, 15*time.Second)
		if r.Status.Phase != v1.Failed {
			t.Fatalf("run %s", r.Status.Phase)
		}
		if msg := e.tasks(id, "s")[0].Message; !strings.Contains(msg, "timed out") {
			t.Errorf("message %q should say it timed out", msg)
		}
	})
}

func TestEngineRestartRecoversOrRetriesLostAttempts(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		fake := newFakeDriver()
		e1 := newEnv(t, st, fake, nil)
		e1.workflow("restart", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "gone", Command: cmd("silent"), Retry: &v1.RetryPolicy{Limit: 1}},
		}})
		id := e1.submit("restart", nil)
		deadline := time.Now().Add(10 * time.Second)
		for fake.executions(id, "gone", 0) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // let the dispatcher record the handle
		if err := e1.engine.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The machine lost its processes: the new driver knows none of them.
		fake.mu.Lock()
		fake.known = false
		fake.started = map[string]backend.Handle{}
		fake.mu.Unlock()
		e2 := newEnv(t, st, fake, func(c *Config) { c.ReconcileEvery, c.StaleAfter = 50*time.Millisecond, 100*time.Millisecond })
		r := e2.wait(id, 10*time.Second)
		if r.Status.Phase != v1.Failed {
			t.Fatalf("run %s", r.Status.Phase)
		}
		as, _ := st.ListAttempts(context.Background(), store.AttemptFilter{RunID: id})
		if len(as) != 2 || as[0].Phase != v1.Lost || as[1].Phase != v1.Lost {
			var s []string
			for _, a := range as {
				s = append(s, fmt.Sprintf("#%d %s", a.Number, a.Phase))
			}
			t.Fatalf("attempts %v: want two lost (the original and its one retry)", s)
		}
	})
}

// A project's quota on running tasks holds across its runs: tasks beyond
// it wait, and every run still finishes.
func TestEngineProjectQuota(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		ctx := context.Background()
		if err := e.store.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "p"},
			Spec: v1.ProjectSpec{Quota: &v1.Quota{MaxRunning: 2, CPU: 3}}}); err != nil {
			t.Fatal(err)
		}
		e.workflow("naps", v1.WorkflowSpec{Steps: []v1.Step{{Name: "nap", Foreach: []any{1, 2, 3, 4},
			Command: cmd("nap", "30"), Resources: v1.Resources{CPU: 1}}}})
		ids := []string{e.submit("naps", nil), e.submit("naps", nil)}
		for _, id := range ids {
			if r := e.wait(id, 30*time.Second); r.Status.Phase != v1.Succeeded {
				t.Fatalf("run %s: %s (%s)", id, r.Status.Phase, stepPhases(r))
			}
		}
		e.fake.mu.Lock()
		most := e.fake.maxNapping
		e.fake.mu.Unlock()
		if most != 2 {
			t.Errorf("at most %d tasks of the project ran at once, want the quota's 2", most)
		}
	})
}

// TestEngineRecordsHandles: a started attempt's handle is recorded
// whichever comes first, its report (whose transaction records it with the
// exit) or the dispatcher's delayed record (a task that reports nothing).
func TestEngineRecordsHandles(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("quick", v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: cmd("ok")}}})
		e.workflow("mute", v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Command: cmd("silent")}}})
		quick := e.submit("quick", nil)
		if r := e.wait(quick, 10*time.Second); r.Status.Phase != v1.Succeeded {
			t.Fatalf("run %s, want Succeeded", r.Status.Phase)
		}
		mute := e.submit("mute", nil)
		want := func(run string, phase v1.Phase) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				as, err := e.store.ListAttempts(context.Background(), store.AttemptFilter{RunID: run})
				if err != nil {
					t.Fatal(err)
				}
				if len(as) == 1 && as[0].Phase == phase && len(as[0].Handle) > 0 {
					var h backend.Handle
					if err := json.Unmarshal(as[0].Handle, &h); err != nil || h.AttemptID != as[0].ID || h.Driver != "fake" {
						t.Fatalf("attempt %s has handle %s (%v)", as[0].ID, as[0].Handle, err)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("run %s: attempts %+v, want one %s with a handle", run, as, phase)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		want(quick, v1.Succeeded)
		want(mute, v1.Running) // recorded by the dispatcher: nothing reported
		e.engine.mu.Lock()
		left := len(e.engine.unrecorded)
		e.engine.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d handles still waiting to be recorded", left)
		}
	})
}
