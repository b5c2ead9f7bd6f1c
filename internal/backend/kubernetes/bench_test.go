package kubernetes_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	k8s "k8s.io/client-go/kubernetes"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/kubernetes"
	"github.com/koya-dev/koya/internal/backend/kubernetes/kubetest"
)

// countingTransport counts the API requests the driver makes.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// BenchmarkPods1000 creates 1,000 pods (one attempt each, `true` under
// kwok), tracks each to completion through the informer (the notifier,
// as the engine's TaskEnded), reads its Status and cleans it up (pod and
// Secret deleted), as the engine does. It reports the driver's API
// requests (counted by a WrapTransport) and their rate, the CPU of this
// process (getrusage) and of kube-apiserver and etcd (/proc/<pid>/stat,
// pids from $KOYA_KUBE_RUN, default /tmp/koya-kube). Run with
// -benchtime=1x; see bench/kube_pods.sh.
func BenchmarkPods1000(b *testing.B) {
	const n = 1000
	cfg := kubetest.Config(b)
	var requests atomic.Int64
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt: rt, n: &requests} }
	cfg.QPS, cfg.Burst = 200, 400
	client, err := k8s.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := kubetest.Namespace(b)
	for i := 0; b.Loop(); i++ {
		requests.Store(0)
		ended := make(chan string, n)
		ctx := context.Background()
		d, err := kubernetes.New(ctx, kubernetes.Options{
			Client: client, AgentImage: "koya/agent:kwok", Instance: fmt.Sprintf("bench-%d-%d", os.Getpid(), i),
			NamespaceFor: func(string) string { return ns }, Resolver: kubernetes.NoResolve{},
			DefaultImage: "koya/task:kwok", Simulate: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		d.SetNotifier(func(id string) { ended <- id })
		be := backend.New(d)
		cpu0, api0, etcd0 := selfCPU(), procCPU("kube-apiserver"), procCPU("etcd")
		t0 := time.Now()

		var wg sync.WaitGroup
		ids := make(chan int)
		handles := sync.Map{}
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range ids {
					m := &v1.TaskManifest{AttemptID: fmt.Sprintf("b%d-%04d", i, j), Project: "bench", RunID: "r", Step: "s",
						Server: "http://127.0.0.1:1", Command: []string{"true"}}
					h, err := be.Start(ctx, m)
					if err != nil {
						b.Error(err)
						return
					}
					handles.Store(m.AttemptID, h)
				}
			}()
		}
		go func() {
			for j := range n {
				ids <- j
			}
			close(ids)
		}()
		// Track to completion and clean up, as the engine's TaskEnded does.
		var done, failed atomic.Int64
		var cw sync.WaitGroup
		seen := sync.Map{}
		for range 8 {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for id := range ended {
					if _, dup := seen.LoadOrStore(id, true); dup {
						continue // its deletion, after Cleanup
					}
					hv, ok := handles.Load(id)
					for !ok { // told before Start returned
						time.Sleep(time.Millisecond)
						hv, ok = handles.Load(id)
					}
					h := hv.(backend.Handle)
					st, err := be.Status(ctx, h)
					if err != nil || st.Phase != v1.Succeeded {
						failed.Add(1)
					}
					if err := be.Cleanup(ctx, h); err != nil {
						b.Error(err)
					}
					if done.Add(1) == n {
						return
					}
				}
			}()
		}
		deadline := time.Now().Add(10 * time.Minute)
		for done.Load() < n && time.Now().Before(deadline) && !b.Failed() {
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		elapsed := time.Since(t0)
		if done.Load() < n {
			b.Fatalf("%d of %d pods tracked to completion", done.Load(), n)
		}
		close(ended)
		cw.Wait()
		d.Close()
		reqs := requests.Load()
		b.ReportMetric(elapsed.Seconds(), "s/1000pods")
		b.ReportMetric(float64(reqs), "requests")
		b.ReportMetric(float64(reqs)/elapsed.Seconds(), "requests/s")
		b.ReportMetric((selfCPU() - cpu0).Seconds(), "koya-cpu-s")
		if api0 >= 0 {
			b.ReportMetric((procCPU("kube-apiserver") - api0).Seconds(), "apiserver-cpu-s")
		}
		if etcd0 >= 0 {
			b.ReportMetric((procCPU("etcd") - etcd0).Seconds(), "etcd-cpu-s")
		}
		b.ReportMetric(float64(failed.Load()), "failed")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a kube.sh process's user+system CPU (-1: unknown).
func procCPU(name string) time.Duration {
	run := os.Getenv("KOYA_KUBE_RUN")
	if run == "" {
		run = "/tmp/koya-kube"
	}
	pid, err := os.ReadFile(run + "/" + name + ".pid")
	if err != nil {
		return -1
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return -1
	}
	text := string(stat)
	f := strings.Fields(text[strings.LastIndexByte(text, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}
