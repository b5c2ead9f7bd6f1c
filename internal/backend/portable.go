package backend

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/prometheus/client_golang/prometheus"
)

// Backend is the portable type over a Driver: it validates what goes in,
// counts and times what happens, and makes every error speak the errs
// vocabulary, once for all drivers.
type Backend struct {
	d    Driver
	name string
	caps Capabilities
	m    *Metrics
}

// New wraps d. Its metrics are unregistered until the Backend is added to
// a Registry.
func New(d Driver) *Backend {
	return &Backend{d: d, name: d.Name(), caps: d.Capabilities(), m: NewMetrics(nil)}
}

func (b *Backend) Name() string               { return b.name }
func (b *Backend) Capabilities() Capabilities { return b.caps }

// Start validates m and starts its attempt (idempotent on m.AttemptID).
func (b *Backend) Start(ctx context.Context, m *v1.TaskManifest) (Handle, error) {
	if err := b.validate(m); err != nil {
		return Handle{}, err
	}
	t0 := time.Now()
	h, err := b.d.Start(ctx, m)
	b.m.startSeconds.WithLabelValues(b.name).Observe(time.Since(t0).Seconds())
	if err != nil {
		b.m.errors.WithLabelValues(b.name, "start").Inc()
		return Handle{}, b.wrap(err, "start attempt %s", m.AttemptID)
	}
	b.m.starts.WithLabelValues(b.name).Inc()
	if h.Version == 0 {
		h.Version = HandleVersion
	}
	h.Driver, h.AttemptID = b.name, m.AttemptID
	return h, nil
}

func (b *Backend) validate(m *v1.TaskManifest) error {
	var l errs.List
	if m == nil {
		return errs.E(errs.Invalid, "backend %s: no manifest", b.name)
	}
	if m.AttemptID == "" {
		l = append(l, errs.At(errs.Invalid, "attemptId", "an attempt id is required"))
	} else if strings.ContainsAny(m.AttemptID, `/\`) || m.AttemptID == "." || m.AttemptID == ".." {
		l = append(l, errs.At(errs.Invalid, "attemptId", "%q must not hold a path separator", m.AttemptID))
	}
	if len(m.Command) == 0 || m.Command[0] == "" {
		l = append(l, errs.At(errs.Invalid, "command", "a command is required"))
	}
	switch m.Network {
	case "", "egress":
	case "none":
		if !b.caps.NetworkIsolation {
			l = append(l, errs.At(errs.Invalid, "network", "backend %s cannot isolate the network (network: none); use another backend or network: egress", b.name))
		}
	default:
		l = append(l, errs.At(errs.Invalid, "network", "%q is not one of none, egress", m.Network))
	}
	return l.Err()
}

// Status reports on a started attempt.
func (b *Backend) Status(ctx context.Context, h Handle) (Status, error) {
	if err := b.check(h); err != nil {
		return Status{}, err
	}
	st, err := b.d.Status(ctx, h)
	if err != nil {
		b.m.errors.WithLabelValues(b.name, "status").Inc()
		return Status{}, b.wrap(err, "status of attempt %s", h.AttemptID)
	}
	return st, nil
}

// Stop asks the attempt to end; stopping a finished attempt is not an error.
func (b *Backend) Stop(ctx context.Context, h Handle) error {
	if err := b.check(h); err != nil {
		return err
	}
	if err := b.d.Stop(ctx, h); err != nil {
		b.m.errors.WithLabelValues(b.name, "stop").Inc()
		return b.wrap(err, "stop attempt %s", h.AttemptID)
	}
	return nil
}

// Recover re-attaches to an attempt after a restart; errs.NotFound when it
// is gone.
func (b *Backend) Recover(ctx context.Context, h Handle) error {
	if err := b.check(h); err != nil {
		return err
	}
	if err := b.d.Recover(ctx, h); err != nil {
		if !errs.Is(err, errs.NotFound) {
			b.m.errors.WithLabelValues(b.name, "recover").Inc()
		}
		return b.wrap(err, "recover attempt %s", h.AttemptID)
	}
	return nil
}

// Cleanup removes what the attempt left behind. Idempotent.
func (b *Backend) Cleanup(ctx context.Context, h Handle) error {
	if err := b.check(h); err != nil {
		return err
	}
	if err := b.d.Cleanup(ctx, h); err != nil {
		b.m.errors.WithLabelValues(b.name, "cleanup").Inc()
		return b.wrap(err, "clean up attempt %s", h.AttemptID)
	}
	return nil
}

func (b *Backend) check(h Handle) error {
	switch {
	case h.AttemptID == "":
		return errs.At(errs.Invalid, "handle.attempt", "the handle names no attempt")
	case h.Driver != "" && h.Driver != b.name:
		return errs.At(errs.Invalid, "handle.driver", "handle of backend %q given to backend %q", h.Driver, b.name)
	case h.Version > HandleVersion:
		return errs.At(errs.Invalid, "handle.v", "handle version %d is newer than this koya understands (%d)", h.Version, HandleVersion)
	}
	return nil
}

// wrap keeps a driver's coded error (adding where it happened) and makes
// any other one internal; a cancelled context is unavailable (try again).
func (b *Backend) wrap(err error, format string, args ...any) error {
	var e *errs.Error
	prefix := "backend " + b.name + ": "
	if errors.As(err, &e) {
		return &errs.Error{Code: e.Code, Message: prefix + errs.Public(e).Message, Where: e.Where, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, prefix+format+": interrupted", args...)
	}
	return errs.Wrap(errs.Internal, err, prefix+format, args...)
}

// Metrics are the backends' Prometheus collectors.
type Metrics struct {
	starts       *prometheus.CounterVec
	startSeconds *prometheus.HistogramVec
	errors       *prometheus.CounterVec
}

// NewMetrics builds the collectors and registers them on reg (nil: kept
// unregistered). Registering twice on one registry reuses the first ones.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_backend_starts_total",
			Help: "Attempts started, by backend."}, []string{"backend"}),
		startSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "koya_backend_start_seconds",
			Help: "Time a backend's Start took.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"backend"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "koya_backend_errors_total",
			Help: "Backend operations that failed, by backend and operation."}, []string{"backend", "op"}),
	}
	if reg != nil {
		m.starts = register(reg, m.starts)
		m.startSeconds = register(reg, m.startSeconds)
		m.errors = register(reg, m.errors)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// Registry names the configured backends.
type Registry struct {
	m        *Metrics
	mu       sync.RWMutex
	backends map[string]*Backend
}

// NewRegistry makes an empty registry whose backends' metrics go to reg
// (nil: unregistered).
func NewRegistry(reg prometheus.Registerer) *Registry {
	return &Registry{m: NewMetrics(reg), backends: map[string]*Backend{}}
}

// Add wraps d and registers it under d.Name(); a name is taken once.
func (r *Registry) Add(d Driver) (*Backend, error) {
	b := New(d)
	b.m = r.m
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.backends[b.name]; ok {
		return nil, errs.E(errs.Conflict, "backend %q is already registered", b.name)
	}
	r.backends[b.name] = b
	return b, nil
}

// Get returns the backend called name.
func (r *Registry) Get(name string) (*Backend, error) {
	r.mu.RLock()
	b, ok := r.backends[name]
	r.mu.RUnlock()
	if !ok {
		known := strings.Join(r.Names(), ", ")
		if known == "" {
			known = "none"
		}
		return nil, errs.At(errs.Invalid, "backend", "unknown backend %q; configured: %s", name, known)
	}
	return b, nil
}

// Names lists the registered backends, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.backends))
	for n := range r.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
