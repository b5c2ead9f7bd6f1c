// Package server is koya's HTTP API under /api/v1. One route table
// (routes.go) registers the handlers, says who may call them and generates
// the OpenAPI document, so that the two cannot drift apart. Handlers return
// errors; one function (writeError) turns them into the error vocabulary of
// package errs.
//
// /metrics (Prometheus) is on the same listener and, like every route but
// /healthz, needs a token — an admin token, as metrics span all projects.
// A scraper that cannot send a bearer token can be given a separate,
// unauthenticated listener (koya server --metrics-addr, see MetricsHandler).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/trigger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config wires a server.
type Config struct {
	Store   store.Store
	Objects *objects.Store
	Engine  *engine.Engine
	// Triggers is poked when events or queue items commit (nil: nobody is).
	Triggers *trigger.Service
	// Keys encrypts each project's data (artifacts, logs, secrets) with
	// the project's own keys.
	Keys   *keys.Keyring
	Logger *slog.Logger
	// Metrics is where the server registers its collectors and what
	// /metrics serves; pass the registry the engine and backends use too.
	// Nil: a fresh registry.
	Metrics *prometheus.Registry
	// MaxBodyBytes caps JSON and YAML request bodies (default 8 MiB).
	MaxBodyBytes int64
	// MaxArtifactBytes caps one uploaded output (default 64 GiB).
	MaxArtifactBytes int64
	// UploadIdle is how long a datalake upload's body may bring nothing
	// before its request ends (default 1 min); the session keeps its
	// whole parts, and the client resumes.
	UploadIdle time.Duration
	// UploadPartBytes is the part size of upload sessions (default
	// datalake.PartSize).
	UploadPartBytes int64
	// PollEvery is how often live streams re-read the store even without a
	// notification, for changes made by another replica (default 2s).
	PollEvery time.Duration
	// KeepAliveEvery is the interval of SSE comments that keep idle
	// connections open through proxies (default 15s).
	KeepAliveEvery time.Duration
	Version        string
	Clock          func() time.Time
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	cfg     Config
	store   store.Store
	objects *objects.Store
	engine  *engine.Engine
	keys    *keys.Keyring
	log     *slog.Logger
	clock   func() time.Time
	mux     *http.ServeMux
	routes  []route
	metrics *httpMetrics
	handler http.Handler
	rewraps *rewraps
	// agentTokens spares agents' calls their two store reads (agenttokens.go).
	agentTokens *agentTokens
}

// New checks cfg and builds the handler tree.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Objects == nil || cfg.Engine == nil || cfg.Keys == nil {
		return nil, errs.E(errs.Invalid, "server needs a store, an object store, an engine and a keyring")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = 64 << 30
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 2 * time.Second
	}
	if cfg.UploadIdle <= 0 {
		cfg.UploadIdle = time.Minute
	}
	if cfg.KeepAliveEvery <= 0 {
		cfg.KeepAliveEvery = 15 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, objects: cfg.Objects, engine: cfg.Engine, keys: cfg.Keys,
		log: cfg.Logger, clock: cfg.Clock, mux: http.NewServeMux(),
		metrics: newHTTPMetrics(cfg.Metrics), rewraps: newRewraps(), agentTokens: newAgentTokens(),
	}
	// cfg.Clock, not s.clock: the engine's dispatchers call this, and
	// tests move s.clock while they run.
	cfg.Engine.OnMinted(func(t store.Token, a store.Attempt) { s.agentTokens.put(t, a, cfg.Clock()) })
	cfg.Metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "koya_keys_disabled_key_reads_total",
		Help: "Reads refused because the data is under a disabled key: if it moves after a disable, something was missed; enable the key again.",
	}, func() float64 { return float64(cfg.Keys.DisabledKeyFailures()) }))
	s.routes = s.table()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern(), s.wrap(rt))
	}
	s.mux.HandleFunc(unmatchedPattern, s.unmatched)
	s.handler = s.observe(s.mux)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// MetricsHandler serves the registry without authentication, for a
// separate listener that only a scraper can reach.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})
}

// Serve listens on addr and serves until ctx ends, then shuts down
// gracefully.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "cannot listen on %s: %v", addr, err)
	}
	return ServeListener(ctx, ln, s)
}

// ServeListener serves h on ln until ctx ends, then stops taking requests
// and waits up to 10 seconds for those in flight (live streams are cut: they
// end with ctx through the base context).
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	streams, cutStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer cutStreams()
	srv := &http.Server{
		Handler: h,
		// No WriteTimeout: uploads, downloads and live streams are long.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return streams },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cutStreams()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
