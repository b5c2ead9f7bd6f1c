package engine

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	runs        prometheus.Counter
	started     *prometheus.CounterVec
	finished    *prometheus.CounterVec
	planSeconds prometheus.Histogram
}

// newMetrics registers the engine's metrics on reg (nil: kept unregistered,
// as tests build many engines in one process).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounter(prometheus.CounterOpts{Name: "koya_runs_submitted_total", Help: "Runs submitted."}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_attempts_started_total",
			Help: "Attempts started, by backend."}, []string{"backend"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_attempts_finished_total",
			Help: "Attempts finished, by phase."}, []string{"phase"}),
		planSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "koya_plan_seconds",
			Help: "Time of one planning transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.started, m.finished, m.planSeconds)
	}
	return m
}
