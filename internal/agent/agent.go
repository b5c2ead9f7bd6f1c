// Package agent is the in-task agent (`koya agent --manifest <file>`): it
// owns one attempt's outcome so that the control plane is never on a
// running task's critical path.
//
// It works in the attempt directory (the manifest's directory; the user
// command runs in manifest.WorkDir relative to it, or in it): it fetches
// the step's secrets and the inputs, runs the command in its own process
// group (in a fresh network namespace for network: none, under memory and
// CPU limits as far as the machine allows, see package sandbox), streams
// its output as log lines (secret values masked, see redact.go), enforces
// the timeout, honours cancellation (ack.Cancel, SIGTERM, the cancel
// file), uploads the outputs and reports a typed exit.
//
// Every event and log line goes to the outbox on disk before it is sent
// and is sent in order, with retries, until acknowledged: the control
// plane may be down for as long as Options.GiveUp. result.json records the
// exit as soon as the command ended, and run.json is written before it
// starts: a restarted agent never runs the command twice, it delivers what
// is left (or, if the command had started but no result was written,
// reports the attempt lost).
//
// The user command gets the agent's environment (which drivers keep free
// of the control plane's secrets) without KOYA_AGENT_* tunables, then
// manifest.Env, then the step's secrets (NAME and KOYA_SECRET_FILE_<NAME>,
// see secrets.go), then KOYA_PROJECT, KOYA_RUN, KOYA_STEP, KOYA_INDEX,
// KOYA_ATTEMPT (the attempt number), KOYA_ATTEMPT_ID, KOYA_INPUTS and
// KOYA_OUTPUTS (JSON objects from name to absolute path), and
// KOYA_INPUT_<NAME> / KOYA_OUTPUT_<NAME> per input and output. Never the
// attempt's token. (On the local backend the command runs as the same user
// as the agent and could read manifest.json; the token only authorises
// this attempt's reports.)
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// Options tune the agent; zero fields take defaults. Environment variables
// KOYA_AGENT_HEARTBEAT, KOYA_AGENT_KILL_GRACE, KOYA_AGENT_GIVE_UP,
// KOYA_AGENT_BATCH, KOYA_AGENT_LINGER and KOYA_AGENT_BACKOFF_MAX (Go
// durations) set them for Run.
type Options struct {
	Heartbeat  time.Duration // between heartbeat events (10s)
	KillGrace  time.Duration // SIGTERM to SIGKILL on timeout or cancel (10s)
	GiveUp     time.Duration // stop retrying the control plane after (24h)
	BatchEvery time.Duration // log lines are sent this often (200ms)
	// Linger is how long the report of a command's start waits for its
	// exit, so that a short command costs the control plane one report
	// (10ms: a container's or pod's start is reported at once; the agent
	// host sets 100ms, see RunHost).
	Linger     time.Duration
	BackoffMin time.Duration // first retry delay (200ms)
	BackoffMax time.Duration // retry delay cap (10s)
	// SecretDir is where the step's secrets are written as files
	// (/dev/shm); it must be memory-backed (tmpfs), or there are no files.
	SecretDir  string
	HTTPClient *http.Client
	Logger     *slog.Logger     // the agent's own log (stderr)
	Clock      func() time.Time // event and log times
	// NoFsync leaves outbox events and state files to the kernel's
	// writeback instead of fsyncing each: they survive the agent's death
	// (the page cache keeps them), and a machine crash loses the last few
	// seconds of them, the attempts then running being reported lost. The
	// agent host sets it (its control plane is on the same machine, and
	// an fsync costs a millisecond of CPU there); KOYA_AGENT_FSYNC=true
	// or false overrides.
	NoFsync bool
	// Users, when set (the agent host as root), runs each command as a
	// task user of its own; see isolate.go.
	Users *sandbox.Users
	// Signals makes SIGTERM and SIGINT cancel the attempt (a second one
	// stops delivery: the agent exits once the command is gone, leaving
	// the outbox for a restart).
	Signals bool
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Heartbeat, 10*time.Second)
	def(&o.KillGrace, 10*time.Second)
	def(&o.GiveUp, 24*time.Hour)
	def(&o.BatchEvery, 200*time.Millisecond)
	def(&o.Linger, 10*time.Millisecond)
	def(&o.BackoffMin, 200*time.Millisecond)
	def(&o.BackoffMax, 10*time.Second)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SecretDir == "" {
		// A tmpfs on Linux hosts and in containers (Docker, Podman and
		// Kubernetes give each container its own).
		o.SecretDir = "/dev/shm"
	}
	return o
}

// OptionsFromEnv reads the KOYA_AGENT_* variables.
func OptionsFromEnv() (Options, error) {
	var o Options
	if s := os.Getenv("KOYA_AGENT_FSYNC"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return o, fmt.Errorf("KOYA_AGENT_FSYNC: %q is not true or false", s)
		}
		o.NoFsync = !v
	}
	for name, d := range map[string]*time.Duration{
		"KOYA_AGENT_HEARTBEAT": &o.Heartbeat, "KOYA_AGENT_KILL_GRACE": &o.KillGrace,
		"KOYA_AGENT_GIVE_UP": &o.GiveUp, "KOYA_AGENT_BATCH": &o.BatchEvery,
		"KOYA_AGENT_LINGER":      &o.Linger,
		"KOYA_AGENT_BACKOFF_MAX": &o.BackoffMax,
	} {
		if s := os.Getenv(name); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				return o, fmt.Errorf("%s: %v", name, err)
			}
			*d = v
		}
	}
	return o, nil
}

// Exit codes of Run.
const (
	ExitDelivered = 0 // the final event was acknowledged
	ExitFailed    = 1 // bad manifest, broken disk, gave up on the control plane, or stopped by a second signal
	ExitBusy      = 3 // another agent runs this attempt
)

// Run runs the attempt of the manifest at manifestPath with options from
// the environment and signal handling on, and returns the process exit code.
func Run(ctx context.Context, manifestPath string) int {
	o, err := OptionsFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "koya agent:", err)
		return ExitFailed
	}
	o.Signals = true
	return RunWith(ctx, manifestPath, o)
}

// attempt is one agent's run of one attempt.
type attempt struct {
	m    *v1.TaskManifest
	dir  string // attempt directory
	work string // the command's working directory
	opts Options
	log  *slog.Logger
	ob   *outbox
	cl   *client
	del  *deliverer
	// red masks the step's secrets in log lines; set before the command
	// starts (nil: no secrets).
	red *redactor

	cancelOnce sync.Once
	cancelled  chan struct{}
	unlock     func() // releases the directory lock
}

// RunWith is Run with explicit options. Cancelling ctx cancels the
// attempt like SIGTERM does; delivery of the result goes on.
func RunWith(ctx context.Context, manifestPath string, opts Options) int {
	opts = opts.withDefaults()
	// Signals are caught from the start: a Stop that comes early must not
	// kill the agent before it can report the cancel.
	sigs := make(chan os.Signal, 2)
	if opts.Signals {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sigs)
	}
	a, err := openAttempt(manifestPath, opts)
	if errors.Is(err, sandbox.ErrLocked) {
		opts.Logger.Info("another agent runs this attempt", "manifest", manifestPath)
		return ExitBusy
	}
	if err != nil {
		opts.Logger.Error("opening the attempt", "manifest", manifestPath, "err", err)
		return ExitFailed
	}
	defer a.close()
	return a.run(ctx, sigs)
}

// openAttempt reads the manifest and takes the attempt directory: its lock
// (sandbox.ErrLocked when another agent holds it) and its outbox. opts
// must have its defaults.
func openAttempt(manifestPath string, opts Options) (*attempt, error) {
	abs, err := filepath.Abs(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	dir := filepath.Dir(abs)
	locked, unlock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("reading the manifest: %w", err)
		}
		return nil, err
	}
	m, err := readManifest(abs, locked)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	log := opts.Logger.With("attempt", m.AttemptID)
	ob, err := openOutbox(filepath.Join(dir, OutboxDir), opts.Clock, !opts.NoFsync)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("opening the outbox: %w", err)
	}
	wd := m.WorkDir
	if opts.Users != nil && (wd == "" || filepath.IsLocal(wd)) {
		wd = filepath.Join(WorkDirName, wd) // see isolate.go
	}
	a := &attempt{m: m, dir: dir, work: workDir(dir, wd), opts: opts, log: log, ob: ob,
		cl: newClient(m.Server, m.Token, m.AttemptID, opts.HTTPClient), cancelled: make(chan struct{}), unlock: unlock}
	a.del = newDeliverer(ob, a.cl, opts, log, a.cancel)
	return a, nil
}

// close releases the outbox and then the directory lock: once the lock is
// free, drivers see the attempt's agent as gone.
func (a *attempt) close() {
	a.ob.close()
	a.unlock()
}

// run runs the command (unless an earlier agent did) and delivers the
// outbox; sigs (nil: none) cancels like ctx's end does, a second signal
// stops delivery. It returns the process exit code.
func (a *attempt) run(ctx context.Context, sigs <-chan os.Signal) int {
	log, ob := a.log, a.ob
	// Delivery outlives ctx: a cancelled attempt still reports its exit.
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	abort := a.watch(ctx, dctx, sigs, stop)
	go a.del.run(dctx)

	if !ob.hasExited() {
		// runCtx ends with a cancel: it stops input downloads.
		runCtx, runCancel := context.WithCancel(dctx)
		go func() {
			select {
			case <-a.cancelled:
			case <-runCtx.Done():
			}
			runCancel()
		}()
		hbStop := a.heartbeats()
		exit := a.outcome(runCtx, dctx)
		runCancel()
		hbStop()
		if err := ob.event(v1.AgentEvent{Type: v1.EventExited, Exit: &exit}); err != nil {
			log.Error("recording the exit", "err", err)
			return ExitFailed
		}
		a.del.poke()
	}
	select {
	case <-a.del.done:
		return ExitDelivered
	case <-abort:
		log.Warn("stopped before delivering everything; a restart delivers the rest")
	case <-time.After(a.opts.GiveUp):
		log.Error("gave up delivering to the control plane", "after", a.opts.GiveUp)
	}
	return ExitFailed
}

// watch turns ctx's end and the first signal into a cancel; a second
// signal closes the returned channel and stops delivery (the agent exits
// once the command is gone, leaving the outbox to a restart). It ends with
// dctx (RunWith's end).
func (a *attempt) watch(ctx, dctx context.Context, sigs <-chan os.Signal, stopDelivery func()) <-chan struct{} {
	abort := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case s := <-sigs:
			a.log.Info("signal: cancelling the attempt", "signal", s)
		case <-dctx.Done():
			return
		}
		a.cancel()
		select {
		case <-sigs:
			stopDelivery()
			close(abort)
		case <-dctx.Done():
		}
	}()
	return abort
}

func (a *attempt) cancel() { a.cancelOnce.Do(func() { close(a.cancelled) }) }

func (a *attempt) isCancelled() bool {
	select {
	case <-a.cancelled:
		return true
	default:
		return exists(filepath.Join(a.dir, CancelFile))
	}
}

// heartbeats appends a heartbeat event every Options.Heartbeat until the
// returned func is called.
func (a *attempt) heartbeats() func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(a.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := a.ob.event(v1.AgentEvent{Type: v1.EventHeartbeat}); err != nil {
					a.log.Error("recording a heartbeat", "err", err)
				}
				a.del.poke()
			}
		}
	}()
	return func() { close(stop); <-done }
}

// outcome is the attempt's exit: read back after a restart, or made by
// running the command, then completed by uploading the outputs.
func (a *attempt) outcome(runCtx, ctx context.Context) v1.Exit {
	if len(a.m.Secrets) > 0 {
		removeSecretFiles(a.opts.SecretDir, a.m.AttemptID) // left by an agent that died
	}
	exit, ok, err := ReadResult(a.dir)
	if err != nil {
		a.log.Error("reading result.json", "err", err)
	}
	switch {
	case ok:
		a.log.Info("the command already ran; delivering its result")
	case exists(filepath.Join(a.dir, RunFile)):
		// A previous agent started the command and died before its result.
		KillLeftovers(a.dir)
		exit = v1.Exit{Code: -1, Error: ErrLost}
		a.system("the agent restarted while the command ran; its result is unknown")
	case a.isCancelled():
		exit = v1.Exit{Code: -1, Error: ErrCancelled}
	default:
		exit = a.execute(runCtx)
	}
	if !ok {
		if err := a.writeState(ResultFile, exit); err != nil {
			a.log.Error("writing result.json", "err", err)
		}
	}
	if ExitOK(exit) {
		if err := a.uploadOutputs(ctx); err != nil {
			exit.Error = err.Error()
			if err := a.writeState(ResultFile, exit); err != nil {
				a.log.Error("writing result.json", "err", err)
			}
		}
	}
	return exit
}

// system logs a line of the agent's own in the task's log.
func (a *attempt) system(format string, args ...any) {
	if err := a.ob.logLine("system", a.red.redact(fmt.Sprintf(format, args...))); err != nil {
		a.log.Error("recording a log line", "err", err)
	}
}

// readManifest decodes the manifest from f (the locked manifest, read from
// its start), else from path.
func readManifest(path string, f *os.File) (*v1.TaskManifest, error) {
	if f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var m v1.TaskManifest
	if err := json.NewDecoder(io.LimitReader(f, 16<<20)).Decode(&m); err != nil {
		return nil, err
	}
	if m.AttemptID == "" || len(m.Command) == 0 || m.Server == "" {
		return nil, fmt.Errorf("the manifest needs attemptId, command and server")
	}
	return &m, nil
}

func workDir(dir, wd string) string {
	if wd == "" {
		return dir
	}
	if filepath.IsAbs(wd) {
		return wd
	}
	return filepath.Join(dir, wd)
}

// lockDir holds the attempt directory's agent lock for this agent's life:
// a lock on the manifest itself (no file to create; the locked file is
// returned, to be read), or on LockFile where the manifest is read-only
// (mounted into a container; the file returned is then nil).
// The kernel releases the lock when the agent dies, however it dies.
func lockDir(dir string) (manifest *os.File, unlock func(), err error) {
	path := filepath.Join(dir, ManifestFile)
	f, err := sandbox.LockOpen(path, false)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		unlock, err := sandbox.LockFile(filepath.Join(dir, LockFile), false)
		return nil, unlock, err
	}
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
