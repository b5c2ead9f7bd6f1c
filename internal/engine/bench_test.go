package engine

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/koya-dev/koya/internal/store"
)

// benchEngine runs an engine over the mock backend, which completes attempts
// in-process: what is measured is the engine and its store.
func benchEngine(b *testing.B, st store.Store, maxRunning int) *Engine {
	b.Helper()
	drv := mock.New()
	reg := backend.NewRegistry(nil)
	if _, err := reg.Add(drv); err != nil {
		b.Fatal(err)
	}
	e, err := New(Config{Store: st, Backends: reg, DefaultBackend: drv.Name(), ServerURL: "http://127.0.0.1:1", MaxRunning: maxRunning})
	if err != nil {
		b.Fatal(err)
	}
	drv.SetReporter(e)
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Stop(context.Background()); drv.Close() })
	if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		b.Fatal(err)
	}
	return e
}

func fanOut(b *testing.B, st store.Store, name string, n int) {
	b.Helper()
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	wf := v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}, Metadata: v1.ObjectMeta{Name: name, Project: "p"},
		Spec: v1.WorkflowSpec{Steps: []v1.Step{{Name: "each", Foreach: items, Command: []string{"true"}}}}}
	if _, _, err := st.PutWorkflow(context.Background(), wf); err != nil {
		b.Fatal(err)
	}
}

func runToEnd(b *testing.B, e *Engine, workflow string) {
	b.Helper()
	r, err := e.Submit(context.Background(), "p", workflow, nil)
	if err != nil {
		b.Fatal(err)
	}
	for {
		got, err := e.store.GetRun(context.Background(), r.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.Phase.Done() {
			if got.Phase != v1.Succeeded {
				b.Fatalf("run %s: %s", got.Phase, got.Message)
			}
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkDispatch measures steps (tasks) per second through the whole
// engine loop — plan, create attempt, start, ingest started and exited,
// plan again — with the mock backend, on each store.
func BenchmarkDispatch(b *testing.B) {
	const tasks = 2000
	for name, open := range testStores(b) {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			e := benchEngine(b, st, 256)
			fanOut(b, st, "wide", tasks)
			b.ResetTimer()
			for range b.N {
				runToEnd(b, e, "wide")
			}
			b.ReportMetric(float64(tasks*b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// BenchmarkFanOut10000 measures one run of a 10,000-item foreach step, and
// the control plane's peak Go heap while it runs.
func BenchmarkFanOut10000(b *testing.B) {
	for name, open := range testStores(b) {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			e := benchEngine(b, st, 256)
			fanOut(b, st, "wide10k", 10000)
			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			go func() {
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			b.ResetTimer()
			for range b.N {
				runToEnd(b, e, "wide10k")
			}
			b.StopTimer()
			close(stop)
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		})
	}
}
