package trigger

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Submitter creates a run inside the caller's transaction (the engine's
// SubmitIn) and wakes the planner once it committed (Poke).
type Submitter interface {
	SubmitIn(ctx context.Context, q store.Querier, project, workflow string, params map[string]any) (store.Run, error)
	Poke()
}

// Config wires the service.
type Config struct {
	Store  store.Store
	Engine Submitter
	// Batch is how many data events one dispatch transaction claims, and
	// how many runs one start transaction creates (default 200).
	Batch int
	// PollEvery is the safety net: how often the dispatcher looks for
	// events nobody poked it about (written by another replica or
	// process), and the starter for room freed by finished runs
	// (default 1s).
	PollEvery time.Duration
	// BacklogEvery is how often the starter looks for room while items
	// wait (default 50ms): a finished run frees room without a poke.
	BacklogEvery time.Duration
	// ScheduleEvery caps the scheduler's sleep (default 30s; it wakes at
	// the next slot and on Poke).
	ScheduleEvery time.Duration
	// Retention is how long dispatched data events and finished queue
	// items are kept (0: forever); PruneEvery how often older ones are
	// deleted (default 10m).
	Retention  time.Duration
	PruneEvery time.Duration
	Clock      func() time.Time
	Logger     *slog.Logger
	Metrics    prometheus.Registerer
}

// Service runs the dispatcher, the starter and the scheduler.
type Service struct {
	cfg     Config
	store   store.Store
	engine  Submitter
	clock   func() time.Time
	log     *slog.Logger
	metrics *metrics

	dispatchWake, startWake, scheduleWake chan struct{}

	mu       sync.Mutex
	compiled map[compiledKey]compiledEntry // datalake triggers by version

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type compiledKey struct{ project, name string }

type compiledEntry struct {
	version int64
	c       Compiled
	ok      bool
	err     error
}

// New checks cfg and builds the service; Start sets it going.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errs.E(errs.Invalid, "the trigger service needs a store and an engine")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Second
	}
	if cfg.BacklogEvery <= 0 {
		cfg.BacklogEvery = 50 * time.Millisecond
	}
	if cfg.ScheduleEvery <= 0 {
		cfg.ScheduleEvery = 30 * time.Second
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = 10 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return &Service{
		cfg: cfg, store: cfg.Store, engine: cfg.Engine, clock: func() time.Time { return cfg.Clock().UTC() },
		log: cfg.Logger, metrics: newMetrics(cfg.Metrics),
		dispatchWake: make(chan struct{}, 1), startWake: make(chan struct{}, 1), scheduleWake: make(chan struct{}, 1),
		compiled: map[compiledKey]compiledEntry{},
	}, nil
}

// Start starts the loops; what the previous process left (undispatched
// events, queued items, missed slots) is picked up at once.
func (s *Service) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.loop(ctx, "dispatch", s.dispatchWake, s.dispatchRound) }()
	go func() { defer s.wg.Done(); s.loop(ctx, "start", s.startWake, s.startRound) }()
	go func() { defer s.wg.Done(); s.loop(ctx, "schedule", s.scheduleWake, s.scheduleRound) }()
	if s.cfg.Retention > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.loop(ctx, "prune", nil, s.pruneRound) }()
	}
	return nil
}

// Stop ends the loops and waits for them (at most until ctx ends).
func (s *Service) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Poke tells the service that data events or queue items were committed
// (a file write, a webhook call, an applied trigger). A nil Service
// ignores it, so callers need not check.
func (s *Service) Poke() {
	if s == nil {
		return
	}
	for _, ch := range []chan struct{}{s.dispatchWake, s.startWake, s.scheduleWake} {
		wake(ch)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// loop runs round whenever woken, or after the delay the round asks for.
// A failed round is logged and tried again after PollEvery.
func (s *Service) loop(ctx context.Context, name string, wakeCh chan struct{}, round func(context.Context) (time.Duration, error)) {
	for {
		delay, err := round(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("trigger "+name+" round failed", "err", err)
			s.metrics.errors.WithLabelValues(name).Inc()
			delay = s.cfg.PollEvery
		}
		if delay == 0 {
			continue // more to do at once
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wakeCh:
		case <-timer.C:
		}
		timer.Stop()
	}
}

type metrics struct {
	events, items, runs, failed prometheus.Counter
	pruned                      *prometheus.CounterVec
	lag                         prometheus.Histogram
	errors                      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "koya_trigger_data_events_total", Help: "Data events the trigger dispatcher processed."}),
		items:  prometheus.NewCounter(prometheus.CounterOpts{Name: "koya_trigger_items_enqueued_total", Help: "Trigger queue items enqueued."}),
		runs:   prometheus.NewCounter(prometheus.CounterOpts{Name: "koya_trigger_runs_started_total", Help: "Runs started by triggers."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "koya_trigger_items_failed_total", Help: "Trigger queue items that could not start a run."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "koya_trigger_lag_seconds", Help: "From an event to the run it started.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_trigger_round_errors_total", Help: "Failed rounds of the trigger loops."}, []string{"loop"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_trigger_history_pruned_total",
			Help: "Dispatched data events and finished trigger queue items deleted after the retention."}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.items, m.runs, m.failed, m.lag, m.errors, m.pruned)
	}
	return m
}
