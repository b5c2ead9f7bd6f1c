package container_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
)

// BenchmarkSubmitToRunning measures, per iteration, the latency from
// Start of a trivial step (`true` in koya-test/busybox) to its agent's
// "started" event at the control plane — the user command runs — and,
// interleaved, the same for a bare Podman: `podman run -d --rm
// koya-test/busybox true`, which returns once the container's process has
// started (the like of koya's "started"). It reports p50 and p99 of both
// and their ratio (bench/RESULTS.md; bench/container_latency.sh), and for
// context the whole `podman run --rm ... true` (which also waits for the
// exit and removes the container) and the engine API's own create+start.
func BenchmarkSubmitToRunning(b *testing.B) {
	needEngine(b)
	if _, err := exec.LookPath("podman"); err != nil {
		b.Skip("the baseline needs the podman command")
	}
	srv := backendtest.NewFakeServer(b)
	d := newDriver(b, filepath.Join(b.TempDir(), "attempts"))
	bk := backend.New(d)
	ctx := context.Background()
	var koya, bare, whole, api []time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		m := srv.Manifest(id, "true")
		t0 := time.Now()
		h, err := bk.Start(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		for !started(srv, id) {
			if time.Since(t0) > time.Minute {
				b.Fatalf("%s never started", id)
			}
			time.Sleep(time.Millisecond)
		}
		koya = append(koya, time.Since(t0))
		srv.WaitExit(b, id, time.Minute)
		if err := bk.Cleanup(ctx, h); err != nil {
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				b.Logf("cause: %T %v", e, e)
			}
			b.Fatal(err)
		}

		t1 := time.Now()
		if out, err := exec.Command("podman", "run", "-d", "--rm", testImage, "true").CombinedOutput(); err != nil {
			b.Fatalf("podman run -d: %v: %s", err, out)
		}
		bare = append(bare, time.Since(t1))
		t1 = time.Now()
		if out, err := exec.Command("podman", "run", "--rm", testImage, "true").CombinedOutput(); err != nil {
			b.Fatalf("podman run: %v: %s", err, out)
		}
		whole = append(whole, time.Since(t1))

		// The engine's own floor: create and start over the same API
		// (ContainerStart returns once the process runs).
		t2 := time.Now()
		c, err := d.Client().ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &mcontainer.Config{Image: testImage, Cmd: []string{"true"}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Client().ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			b.Fatal(err)
		}
		api = append(api, time.Since(t2))
		w := d.Client().ContainerWait(ctx, c.ID, client.ContainerWaitOptions{})
		select {
		case <-w.Result:
		case err := <-w.Error:
			b.Fatal(err)
		}
		if _, err := d.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			b.Errorf("removing %s: %v", c.ID, err)
		}
	}
	b.StopTimer()
	kp50, kp99 := percentile(koya, 50), percentile(koya, 99)
	bp50, bp99 := percentile(bare, 50), percentile(bare, 99)
	b.ReportMetric(ms(kp50), "koya-p50-ms")
	b.ReportMetric(ms(kp99), "koya-p99-ms")
	b.ReportMetric(ms(bp50), "podman-run-d-p50-ms")
	b.ReportMetric(ms(bp99), "podman-run-d-p99-ms")
	b.ReportMetric(ms(percentile(whole, 50)), "podman-run-whole-p50-ms")
	b.ReportMetric(ms(percentile(whole, 99)), "podman-run-whole-p99-ms")
	b.ReportMetric(ms(percentile(api, 50)), "api-create-start-p50-ms")
	b.ReportMetric(ms(percentile(api, 99)), "api-create-start-p99-ms")
	b.ReportMetric(ms(kp50)/ms(bp50), "ratio-p50")
	b.ReportMetric(ms(kp99)/ms(bp99), "ratio-p99")
	b.ReportMetric(0, "ns/op") // the per-iteration time mixes both: meaningless
}

func started(srv *backendtest.FakeServer, id string) bool {
	for _, ev := range srv.Events(id) {
		if ev.Type == v1.EventStarted {
			return true
		}
	}
	return false
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (p*len(s) + 99) / 100
	return s[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
