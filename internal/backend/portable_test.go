package backend_test

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/prometheus/client_golang/prometheus"
)

type ack struct{}

func (ack) Report(ctx context.Context, id string, evs []v1.AgentEvent) (v1.AgentEventAck, error) {
	return v1.AgentEventAck{Applied: evs[len(evs)-1].Seq}, nil
}

func TestRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := backend.NewRegistry(reg)
	if _, err := r.Get("local"); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "configured: none") {
		t.Errorf("Get on an empty registry: %v", err)
	}
	d := mock.New()
	defer d.Close()
	d.SetReporter(ack{})
	if _, err := r.Add(d); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(mock.New()); !errs.Is(err, errs.Conflict) {
		t.Errorf("second mock: %v, want conflict", err)
	}
	_, err := r.Get("kubernetes")
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `unknown backend "kubernetes"; configured: mock`) {
		t.Errorf("Get unknown: %v", err)
	}
	b, err := r.Get("mock")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(context.Background(), &v1.TaskManifest{AttemptID: "a", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if n := gathered(t, reg, "koya_backend_starts_total", "mock"); n != 1 {
		t.Errorf("koya_backend_starts_total{backend=mock} = %v, want 1", n)
	}
	if n := gathered(t, reg, "koya_backend_start_seconds", "mock"); n != 1 {
		t.Errorf("koya_backend_start_seconds{backend=mock} count = %v, want 1", n)
	}
	// A second registry on the same Prometheus registry does not panic: it
	// shares the collectors.
	backend.NewRegistry(reg)
	if _, err := b.Start(context.Background(), &v1.TaskManifest{AttemptID: "b", Command: []string{"true"}, Network: "none"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("network none on a driver without isolation: %v, want invalid", err)
	}
}

// gathered is a counter's value or a histogram's count for one backend.
func gathered(t *testing.T, reg *prometheus.Registry, name, backendName string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backendName {
					if h := m.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
