package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// The agent host (`koya agent --host ROOT`) is the local backend's agent:
// one detached process per attempts root that runs every attempt of that
// root as an agent in a goroutine, exactly as `koya agent --manifest` runs
// one. A process per attempt costs tens of milliseconds of CPU (a large
// static binary starting up); a goroutine costs next to nothing, so that a
// trivial step costs about what forking its command does.
//
// Each attempt keeps its own directory, lock, outbox and result: the host
// is only where the agents live. The control plane reaches the host over a
// Unix socket in ROOT (HTTP, 0600, inside the 0700 root); whether an
// attempt's agent is alive is told by its directory lock (sandbox.Held),
// not by asking the host, so a host that was replaced by a newer one keeps
// its running attempts to the end.
const (
	HostSocket = "agent.sock"      // the host's API
	HostLock   = "agent-host.lock" // held by the live host of a root
	HostLog    = "agent-host.log"  // the host's own log
)

// HostOptions configure ServeHost.
type HostOptions struct {
	Root  string
	Agent Options       // for every attempt (Logger is per attempt: its agent.log)
	Idle  time.Duration // exit after this long with no attempt and no request (5m)
	// Keep and KeepFailed are how long a finished attempt's directory
	// stays once its agent delivered everything: successes (1h), others
	// (24h, for people to look at).
	Keep, KeepFailed time.Duration
	Version          string       // reported by /hello: a driver replaces a host of another version
	Logger           *slog.Logger // the host's own log (stderr)
}

// HostHello is the host's answer to GET /hello.
type HostHello struct {
	PID     int    `json:"pid"`
	Start   uint64 `json:"start"`
	Version string `json:"version"`
}

// HostStart is the body of POST /attempts.
type HostStart struct {
	Manifest string `json:"manifest"`
}

// host is a live ServeHost.
type host struct {
	o     HostOptions
	log   *slog.Logger
	hello HostHello
	ln    net.Listener
	srv   *http.Server

	mu       sync.Mutex
	attempts map[string]*attempt
	active   int // attempts running or being opened
	last     time.Time
	closing  bool
	unlock   func() // the host lock
	done     sync.WaitGroup
}

// ServeHost runs the agent host of o.Root until it has been idle for
// o.Idle, was asked to drain (by a driver that brings a newer host, or by
// SIGTERM/SIGINT) and its attempts finished, or its root is gone. It
// returns the process exit code: ExitBusy when another host serves the root.
func ServeHost(ctx context.Context, o HostOptions) int {
	if o.Idle <= 0 {
		o.Idle = 5 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = time.Hour
	}
	if o.KeepFailed <= 0 {
		o.KeepFailed = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	o.Agent = o.Agent.withDefaults()
	if o.Agent.HTTPClient == nil {
		// One client for every attempt: connections to the control plane
		// are reused across attempts.
		o.Agent.HTTPClient = newHTTPClient(64)
	}
	log := o.Logger.With("root", o.Root)
	if err := useTaskUsers(&o.Agent, o.Root); err != nil {
		log.Warn("the cloud metadata addresses are not blocked for tasks", "err", err)
	}
	unlock, err := sandbox.LockFile(filepath.Join(o.Root, HostLock), false)
	if errors.Is(err, sandbox.ErrLocked) {
		log.Info("another agent host serves this root")
		return ExitBusy
	}
	if err != nil {
		log.Error("locking the root", "err", err)
		return ExitFailed
	}
	sock := filepath.Join(o.Root, HostSocket)
	_ = os.Remove(sock) // a dead host's; the lock says no live host has it
	ln, err := net.Listen("unix", sock)
	if err != nil {
		unlock()
		log.Error("listening", "socket", sock, "err", err)
		return ExitFailed
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		unlock()
		log.Error("securing the socket", "err", err)
		return ExitFailed
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	h := &host{o: o, log: log, ln: ln, srv: srv, attempts: map[string]*attempt{}, last: time.Now(), unlock: unlock}
	srv.Handler = h.routes()
	h.hello = HostHello{PID: os.Getpid(), Version: o.Version}
	h.hello.Start, _ = sandbox.StartTime(h.hello.PID)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() { _ = srv.Serve(ln) }()
	log.Info("agent host serving", "pid", h.hello.PID, "version", o.Version)

	tick := time.NewTicker(min(o.Idle/4, time.Second))
	defer tick.Stop()
	lastSweep := time.Time{}
	for !h.shouldExit() {
		select {
		case <-ctx.Done():
			h.drain("context ended")
		case s := <-sigs:
			h.drain("signal " + s.String())
		case now := <-tick.C:
			if u := o.Agent.Users; u != nil {
				if n := sandbox.KillStrays(u); n > 0 {
					log.Info("killed processes finished tasks left running", "count", n)
				}
			}
			if now.Sub(lastSweep) >= min(o.Keep, time.Minute) {
				h.sweep(now)
				lastSweep = now
			}
		}
	}
	h.drain("exiting")
	h.done.Wait()
	_ = srv.Close()
	log.Info("agent host exits")
	return 0
}

// shouldExit: draining with nothing left, idle too long, or root removed.
func (h *host) shouldExit() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active > 0 {
		return false
	}
	if h.closing || time.Since(h.last) > h.o.Idle {
		return true
	}
	_, err := os.Stat(filepath.Join(h.o.Root, HostSocket))
	return err != nil // the root (or our socket) is gone: nobody can reach us
}

// drain stops taking attempts and gives the root to a next host (listener
// and lock released); running attempts go on to their end.
func (h *host) drain(why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return
	}
	h.closing = true
	h.log.Info("draining", "why", why, "running", h.active)
	_ = h.ln.Close() // unlinks the socket
	// Connections kept alive would lead drivers here, not to the next host.
	h.srv.SetKeepAlivesEnabled(false)
	h.unlock()
}

func (h *host) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		h.touch()
		writeHostJSON(w, http.StatusOK, h.hello)
	})
	mux.HandleFunc("POST /attempts", h.handleStart)
	mux.HandleFunc("POST /attempts/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		a := h.attempts[r.PathValue("id")]
		h.mu.Unlock()
		if a == nil {
			writeHostJSON(w, http.StatusNotFound, map[string]string{"error": "no such attempt in this host"})
			return
		}
		a.cancel()
		writeHostJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		h.drain("asked by a driver")
		writeHostJSON(w, http.StatusOK, map[string]string{})
	})
	return mux
}

func (h *host) touch() {
	h.mu.Lock()
	h.last = time.Now()
	h.mu.Unlock()
}

// handleStart takes the attempt of a manifest and runs it. 200 once its
// agent holds the directory; 409 when an agent (here or elsewhere) already
// does; 503 when this host is draining (the driver then starts another).
func (h *host) handleStart(w http.ResponseWriter, r *http.Request) {
	var req HostStart
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || !filepath.IsAbs(req.Manifest) {
		writeHostJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"manifest\": absolute path}"})
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		writeHostJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "this agent host is draining"})
		return
	}
	h.active++
	h.last = time.Now()
	h.mu.Unlock()

	a, logf, err := h.open(req.Manifest)
	if err != nil {
		h.finished(nil)
		status := http.StatusInternalServerError
		if errors.Is(err, sandbox.ErrLocked) {
			status = http.StatusConflict
		}
		writeHostJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	h.mu.Lock()
	h.attempts[a.m.AttemptID] = a
	h.mu.Unlock()
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		defer h.finished(a)
		defer logf.Close()
		defer a.close()
		if code := a.run(context.Background(), nil); code != ExitDelivered {
			a.log.Warn("the agent ended without delivering everything", "code", code)
		}
	}()
	writeHostJSON(w, http.StatusOK, h.hello)
}

// open opens the attempt with its own agent.log.
func (h *host) open(manifest string) (*attempt, *lazyFile, error) {
	logf := &lazyFile{path: filepath.Join(filepath.Dir(manifest), LogFile)}
	opts := h.o.Agent
	opts.Logger = slog.New(slog.NewTextHandler(logf, nil))
	a, err := openAttempt(manifest, opts)
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	return a, logf, nil
}

func (h *host) finished(a *attempt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a != nil && h.attempts[a.m.AttemptID] == a {
		delete(h.attempts, a.m.AttemptID)
	}
	h.active--
	h.last = time.Now()
}

// lazyFile is a log file opened for appending by its first write: most
// attempts have nothing to say in their agent.log.
type lazyFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

func writeHostJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// hostLinger is the agent host's Options.Linger.
const hostLinger = 100 * time.Millisecond

// RunHost runs the agent host of root with options from the environment
// (KOYA_AGENT_* as for Run, and KOYA_AGENT_HOST_IDLE, KOYA_AGENT_KEEP,
// KOYA_AGENT_KEEP_FAILED) and returns the
// process exit code.
func RunHost(ctx context.Context, root, version string) int {
	o := HostOptions{Root: root, Version: version}
	var err error
	if o.Agent, err = OptionsFromEnv(); err == nil {
		// The host's default: see Options.NoFsync.
		o.Agent.NoFsync = os.Getenv("KOYA_AGENT_FSYNC") == "" || o.Agent.NoFsync
		if os.Getenv("KOYA_AGENT_LINGER") == "" {
			// Its control plane knows an attempt runs once the host took
			// it (the handle), so a start may wait longer for its exit.
			// At 10ms, two thirds of the attempts of 1,000 x `true` on a
			// loaded two-core VM (where `true` takes 5-30 ms from fork to
			// exit) sent two reports, and a report costs the control
			// plane about a millisecond of CPU.
			o.Agent.Linger = hostLinger
		}
		for name, d := range map[string]*time.Duration{"KOYA_AGENT_HOST_IDLE": &o.Idle,
			"KOYA_AGENT_KEEP": &o.Keep, "KOYA_AGENT_KEEP_FAILED": &o.KeepFailed} {
			if s := os.Getenv(name); s != "" && err == nil {
				if *d, err = time.ParseDuration(s); err != nil {
					err = fmt.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	if err != nil {
		slog.Error("koya agent host", "err", err)
		return ExitFailed
	}
	return ServeHost(ctx, o)
}
