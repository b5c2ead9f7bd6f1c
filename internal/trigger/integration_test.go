package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlite"
	"github.com/koya-dev/koya/internal/trigger"
)

// TestUploadsStartRuns: files written through the store (the outbox) start
// exactly one run each on the mock backend, with params from the event.
func TestUploadsStartRuns(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := backend.NewRegistry(nil)
	drv := mock.New()
	defer drv.Close()
	if _, err := reg.Add(drv); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Backends: reg, DefaultBackend: "mock", ServerURL: "http://127.0.0.1:1", MaxRunning: 64})
	if err != nil {
		t.Fatal(err)
	}
	drv.SetReporter(eng)
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(ctx)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}))
	_, _, err = st.PutWorkflow(ctx, v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"},
		Metadata: v1.ObjectMeta{Name: "infer", Project: "p"},
		Spec: v1.WorkflowSpec{Params: map[string]v1.ParamSpec{"file": {Type: "string"}, "id": {Type: "string"}, "size": {Type: "integer"}, "label": {Type: "string", Default: "none"}},
			Steps: []v1.Step{{Name: "s", Command: []string{"true"}}}}})
	must(err)
	_, err = st.PutChannel(ctx, store.Channel{Project: "p", Name: "raw"})
	must(err)
	tr := v1.Trigger{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Trigger"}, Metadata: v1.ObjectMeta{Name: "infer-new", Project: "p"},
		Spec: v1.TriggerSpec{Workflow: "infer", Datalake: &v1.DatalakeSource{Channel: "raw"}, Concurrency: 5,
			Params: map[string]string{"file": "{{ event.file.path }}", "id": "{{ event.file.id }}", "size": "{{ event.file.size }}", "label": "{{ event.file.meta.label }}"}}}
	if errl := tr.Validate(); len(errl) > 0 {
		t.Fatal(errl.Err())
	}
	_, _, err = st.PutTrigger(ctx, tr)
	must(err)

	svc, err := trigger.New(trigger.Config{Store: st, Engine: eng, PollEvery: 5 * time.Second})
	must(err)
	must(svc.Start(ctx))
	defer svc.Stop(ctx)

	const n = 40
	ids := map[string]string{} // file id -> path
	must(st.Tx(ctx, func(q store.Querier) error {
		for i := range n {
			meta := `{}`
			if i%2 == 0 {
				meta = `{"label":"cat"}`
			}
			f, _, err := q.PutFile(ctx, store.File{Project: "p", Channel: "raw", Path: fmt.Sprintf("img/%03d.jpg", i), ContentType: "image/jpeg",
				Size: int64(100 + i), Digest: "sha256:00", Ref: fmt.Sprintf("ref-%d", i), Meta: json.RawMessage(meta)})
			if err != nil {
				return err
			}
			ids[f.ID] = f.Path
		}
		return nil
	}))
	svc.Poke() // as the upload handler does after its commit

	deadline := time.Now().Add(30 * time.Second)
	var runs []store.Run
	for {
		runs, err = st.ListRuns(ctx, store.RunFilter{Project: "p", Limit: 1000})
		must(err)
		done := 0
		for _, r := range runs {
			if r.Phase.Done() {
				done++
			}
		}
		if done == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		id, _ := r.Params["id"].(string)
		path, ok := ids[id]
		if !ok || seen[id] {
			t.Fatalf("run %s: params %v (known file: %v, seen: %v)", r.ID, r.Params, ok, seen[id])
		}
		seen[id] = true
		if r.Params["file"] != path || r.Phase != v1.Succeeded {
			t.Fatalf("run %s: params %v phase %s, want file %s", r.ID, r.Params, r.Phase, path)
		}
		var i int
		fmt.Sscanf(path, "img/%03d.jpg", &i)
		wantLabel := "none"
		if i%2 == 0 {
			wantLabel = "cat"
		}
		if r.Params["label"] != wantLabel || fmt.Sprint(r.Params["size"]) != fmt.Sprint(100+i) {
			t.Fatalf("run %s: params %v, want label %s size %d", r.ID, r.Params, wantLabel, 100+i)
		}
		it, err := st.GetTriggerItemByRun(ctx, r.ID)
		if err != nil || it.Trigger != "infer-new" {
			t.Fatalf("run %s: trigger item %+v %v", r.ID, it, err)
		}
	}
	// Concurrency held: no more than 5 of the trigger's runs ever ran at once
	// is checked by the starter's count; here the queue must be drained.
	stats, err := st.TriggerQueueStats(ctx, "p", "infer-new")
	must(err)
	if stats.Queued != 0 || stats.Started+stats.Done != n {
		t.Fatalf("stats %+v", stats)
	}

	// A week later, the history is pruned: the dispatched events and the
	// items of the runs that ended.
	for stats.Done != n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		stats, err = st.TriggerQueueStats(ctx, "p", "infer-new")
		must(err)
	}
	must(svc.Stop(ctx))
	later, err := trigger.New(trigger.Config{Store: st, Engine: eng, Retention: 7 * 24 * time.Hour, PruneEvery: 10 * time.Millisecond,
		Clock: func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }})
	must(err)
	must(later.Start(ctx))
	defer later.Stop(ctx)
	for {
		evs, err := st.ListDataEvents(ctx, "p", "raw", 0, 100)
		must(err)
		stats, err = st.TriggerQueueStats(ctx, "p", "infer-new")
		must(err)
		if len(evs) == 0 && stats.Done == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a week: %d events and %+v items left", len(evs), stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
