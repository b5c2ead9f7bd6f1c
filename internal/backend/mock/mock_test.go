package mock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
	"github.com/koya-dev/koya/internal/backend/mock"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, env backendtest.Env) backend.Driver {
			d := mock.New()
			d.SetReporter(env.Server)
			t.Cleanup(d.Close)
			return d
		},
	})
}

// nopReporter acknowledges everything at once.
type nopReporter struct{}

func (nopReporter) Report(ctx context.Context, id string, evs []v1.AgentEvent) (v1.AgentEventAck, error) {
	return v1.AgentEventAck{Applied: evs[len(evs)-1].Seq}, nil
}

func BenchmarkStart(b *testing.B) {
	d := mock.New()
	defer d.Close()
	d.SetReporter(nopReporter{})
	be := backend.New(d)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m := &v1.TaskManifest{AttemptID: "a" + itoa(i), Command: []string{"true"}}
		if _, err := be.Start(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// countingReporter counts exited events.
type countingReporter struct {
	mu     sync.Mutex
	exited int
	done   chan struct{}
	want   int
}

func (c *countingReporter) Report(ctx context.Context, id string, evs []v1.AgentEvent) (v1.AgentEventAck, error) {
	if evs[len(evs)-1].Type == v1.EventExited {
		c.mu.Lock()
		c.exited++
		if c.exited == c.want {
			close(c.done)
		}
		c.mu.Unlock()
	}
	return v1.AgentEventAck{Applied: evs[len(evs)-1].Seq}, nil
}

// TestThroughput: the mock must sustain well over 2,000 attempts/s from
// Start to the exited report, for dispatch benchmarks.
func TestThroughput(t *testing.T) {
	const n = 5000
	d := mock.New()
	defer d.Close()
	r := &countingReporter{done: make(chan struct{}), want: n}
	d.SetReporter(r)
	be := backend.New(d)
	t0 := time.Now()
	for i := range n {
		if _, err := be.Start(context.Background(), &v1.TaskManifest{AttemptID: "t" + itoa(i+1), Command: []string{"mock", "--output", `x={"i":1}`}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d attempts reported exited", r.exited, n)
	}
	rate := n / time.Since(t0).Seconds()
	t.Logf("%.0f attempts/s", rate)
	if rate < 2000 {
		t.Errorf("%.0f attempts/s, want ≥ 2000", rate)
	}
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for i > 0 || n == len(buf) {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	return string(buf[n:])
}
