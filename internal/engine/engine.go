package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Config wires an engine.
type Config struct {
	Store    store.Store
	Backends *backend.Registry
	// ServerURL is the control plane's base URL that agents call back on.
	ServerURL string
	// DefaultBackend runs steps that say auto or nothing (default "local").
	DefaultBackend string
	// MaxRunning caps attempts running at once on this replica (default 4 × CPUs).
	MaxRunning int
	// Workers start attempts on backends concurrently (default 8).
	Workers int
	// DeadlineGrace is added to a step's timeout before the engine gives up
	// on a silent agent (default 2m).
	DeadlineGrace time.Duration
	// StaleAfter is how long an agent may stay silent before the engine asks
	// its backend whether it still lives (default 45s: 4 heartbeats).
	StaleAfter time.Duration
	// ReconcileEvery is how often running attempts are checked (default 15s).
	ReconcileEvery time.Duration
	// Unseal decrypts an output's Sealed value (see v1.Output) for
	// templates; nil leaves outputs as they are.
	Unseal  Unsealer
	Clock   func() time.Time
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Engine runs workflows: it plans runs, dispatches attempts to backends and
// ingests what agents report.
type Engine struct {
	cfg      Config
	store    store.Store
	clock    func() time.Time
	log      *slog.Logger
	owner    string
	metrics  *metrics
	notifier *Notifier
	steps    *stepCache

	wakeup  chan struct{}
	jobs    chan job
	started chan startedAttempt

	mu       sync.Mutex
	stopping map[string]bool // attempts asked to stop
	starved  map[string]bool // runs waiting for capacity
	inflight map[string]bool // attempts being started right now
	// minted is told of each agent token as its attempt is dispatched
	// (OnMinted).
	minted atomic.Pointer[func(store.Token, store.Attempt)]

	// unrecorded holds the handles of started attempts until a
	// transaction records them (see recordLoop).
	unrecorded map[string]json.RawMessage

	ended   endedQueue  // attempts whose backend saw their task end (reconcile.go)
	ingests ingestQueue // Ingest calls waiting for a group commit (ingestqueue.go)

	// locksRows is true when LockRun takes a row lock (PostgreSQL): rows
	// read before it may be stale and are read again. SQLite's write
	// transactions are exclusive from BEGIN, so the first read is current.
	locksRows bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg and builds an engine; Start sets it going.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Backends == nil {
		return nil, errs.E(errs.Invalid, "engine needs a store and backends")
	}
	if cfg.DefaultBackend == "" {
		cfg.DefaultBackend = "local"
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = 4 * numCPU()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.DeadlineGrace <= 0 {
		cfg.DeadlineGrace = 2 * time.Minute
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 45 * time.Second
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = 15 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	host, _ := os.Hostname()
	e := &Engine{
		cfg:        cfg,
		store:      cfg.Store,
		clock:      func() time.Time { return cfg.Clock().UTC() },
		log:        cfg.Logger,
		owner:      host + "/" + uuid.NewString()[:8],
		metrics:    newMetrics(cfg.Metrics),
		notifier:   NewNotifier(),
		steps:      newStepCache(),
		wakeup:     make(chan struct{}, 1),
		jobs:       make(chan job, 1024),
		started:    make(chan startedAttempt, 1024),
		stopping:   map[string]bool{},
		starved:    map[string]bool{},
		inflight:   map[string]bool{},
		unrecorded: map[string]json.RawMessage{},
		locksRows:  cfg.Store.Dialect() != "sqlite",
	}
	return e, nil
}

// Changes lets readers (the server's SSE streams) follow runs.
func (e *Engine) Changes() *Notifier { return e.notifier }

// OnMinted has fn told of every agent token this engine mints (with its
// attempt, as created), once the transaction that stored it committed
// and before the attempt's backend is asked to start it: the API server
// then authenticates the agent's first calls without reading the store.
func (e *Engine) OnMinted(fn func(store.Token, store.Attempt)) { e.minted.Store(&fn) }

// Start recovers attempts left by a previous process and starts the
// planner, dispatcher and reconciler loops.
func (e *Engine) Start(ctx context.Context) error {
	ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := e.reconcile(ctx, true); err != nil {
		e.cancel()
		return err
	}
	for range e.cfg.Workers {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.dispatchLoop(ctx) }()
	}
	e.wg.Add(3)
	go func() { defer e.wg.Done(); e.recordLoop(ctx) }()
	go func() { defer e.wg.Done(); e.planLoop(ctx) }()
	go func() { defer e.wg.Done(); e.reconcileLoop(ctx) }()
	e.poke()
	return nil
}

// Stop ends the loops. Running attempts are left running: their agents
// report to whichever control plane is up next.
func (e *Engine) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poke wakes the planner loop without blocking.
func (e *Engine) poke() {
	select {
	case e.wakeup <- struct{}{}:
	default:
	}
}

func (e *Engine) isStopping(attemptID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopping[attemptID]
}

// attemptDone frees capacity: runs starved of it are woken.
func (e *Engine) attemptDone(a store.Attempt) {
	e.mu.Lock()
	delete(e.stopping, a.ID)
	starved := make([]string, 0, len(e.starved))
	for id := range e.starved {
		starved = append(starved, id)
	}
	clear(e.starved)
	e.mu.Unlock()
	if len(starved) > 0 {
		now := e.clock()
		_ = e.store.Tx(context.Background(), func(q store.Querier) error {
			for _, id := range starved {
				if err := q.Wake(context.Background(), id, now); err != nil {
					return err
				}
			}
			return nil
		})
	}
	e.poke()
}
