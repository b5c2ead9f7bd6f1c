// Package mock is an in-process backend driver for engine tests and
// dispatch benchmarks. There is no agent and no process: each attempt is a
// goroutine that interprets the command as a script and reports events
// straight to a Reporter (the engine's Ingest):
//
//	["true"]                          exit 0
//	["false"]                         exit 1
//	["exit", "N"]                     exit N
//	["sleep", "DUR", ...rest]         sleep DUR, then act as rest (exit 0 if none)
//	["mock", "--exit", "3", "--sleep", "10ms", "--signal", "9", "--oom",
//	 "--output", "name=<json>", ...]  any combination
//	anything else                     exit 0
//
// It reports started, then one output event per --output (Ref
// "mock/<attempt>/<name>", the JSON as Value), then exited; manifest
// timeouts, Stop and an ack's Cancel end a sleep early. State lives in
// memory only: a new driver (a restarted control plane) knows nothing, and
// Recover answers errs.NotFound.
package mock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
)

// Name is the mock backend's name.
const Name = "mock"

// ErrCancelled is the Exit.Error of a stopped attempt.
const ErrCancelled = v1.ExitCancelled

// Reporter receives an attempt's events, as the control plane's ingestion.
type Reporter interface {
	Report(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error)
}

// Driver is the mock backend.
type Driver struct {
	mu       sync.Mutex
	reporter Reporter
	attempts map[string]*attempt
	ctx      context.Context // ends with Close: stops every goroutine
	close    context.CancelFunc
	clock    func() time.Time
}

type attempt struct {
	id    string
	token string // the agent token its manifest carried (Token)
	stop  chan struct{}
	once  sync.Once
	done  chan struct{}
	// set by the goroutine under Driver.mu
	exit *v1.Exit
}

// New makes a mock driver; SetReporter must be called before Start.
func New() *Driver {
	ctx, cancel := context.WithCancel(context.Background())
	return &Driver{attempts: map[string]*attempt{}, ctx: ctx, close: cancel, clock: time.Now}
}

// SetReporter sets where events go. It is separate from New because the
// engine that implements Reporter is built with the backend registry.
func (d *Driver) SetReporter(r Reporter) {
	d.mu.Lock()
	d.reporter = r
	d.mu.Unlock()
}

// Token is the agent token the manifest of attempt id carried, as an
// agent would present it (tests speak for the mock's agents).
func (d *Driver) Token(id string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.attempts[id]
	if !ok {
		return "", false
	}
	return a.token, true
}

// Close stops every attempt's goroutine without reporting.
func (d *Driver) Close() { d.close() }

func (d *Driver) Name() string { return Name }

func (d *Driver) Capabilities() backend.Capabilities {
	// It "enforces" whatever it scripts: OOM is reported on request.
	return backend.Capabilities{OOMDetection: true}
}

func (d *Driver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	h := backend.Handle{Version: backend.HandleVersion, Driver: Name, AttemptID: m.AttemptID}
	sc, err := parse(m.Command)
	if err != nil {
		return h, errs.At(errs.Invalid, "command", "mock: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reporter == nil {
		return h, errs.E(errs.Unavailable, "mock backend has no reporter yet")
	}
	if _, ok := d.attempts[m.AttemptID]; ok {
		return h, nil
	}
	a := &attempt{id: m.AttemptID, token: m.Token, stop: make(chan struct{}), done: make(chan struct{})}
	d.attempts[m.AttemptID] = a
	go d.run(a, sc, m.Timeout.Duration, d.reporter)
	return h, nil
}

func (d *Driver) lookup(h backend.Handle) (*attempt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.attempts[h.AttemptID]
	if !ok {
		return nil, errs.E(errs.NotFound, "mock: attempt %s is unknown (mock state does not survive a restart)", h.AttemptID)
	}
	return a, nil
}

func (d *Driver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	a, err := d.lookup(h)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return backend.Status{Phase: v1.Lost}, nil
		}
		return backend.Status{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if a.exit == nil {
		return backend.Status{Phase: v1.Running}, nil
	}
	x := *a.exit
	if x.Code == 0 && x.Signal == 0 && !x.TimedOut && !x.OOMKilled && x.Error == "" {
		return backend.Status{Phase: v1.Succeeded, Exit: &x}, nil
	}
	return backend.Status{Phase: v1.Failed, Exit: &x}, nil
}

func (d *Driver) Stop(ctx context.Context, h backend.Handle) error {
	a, err := d.lookup(h)
	if err != nil {
		return nil // nothing to stop
	}
	a.cancel()
	return nil
}

func (a *attempt) cancel() { a.once.Do(func() { close(a.stop) }) }

func (d *Driver) Recover(ctx context.Context, h backend.Handle) error {
	_, err := d.lookup(h)
	return err
}

// Cleanup forgets a finished attempt; a running one is kept.
func (d *Driver) Cleanup(ctx context.Context, h backend.Handle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.attempts[h.AttemptID]; ok && a.exit != nil {
		delete(d.attempts, h.AttemptID)
	}
	return nil
}

// script is a parsed command.
type script struct {
	sleep   time.Duration
	exit    v1.Exit
	outputs []output
}

type output struct {
	name  string
	value json.RawMessage
}

// Script is what a command of the script language asks for: how long it
// runs and how it exits. The Kubernetes backend reads the same language
// under kwok, where no container runs (kubernetes.kwokAnnotations).
type Script struct {
	Sleep time.Duration
	Exit  v1.Exit
}

// ParseScript reads cmd in the script language (see the package doc);
// outputs are checked and left out.
func ParseScript(cmd []string) (Script, error) {
	s, err := parse(cmd)
	return Script{Sleep: s.sleep, Exit: s.exit}, err
}

func parse(cmd []string) (script, error) {
	var s script
	if len(cmd) == 0 {
		return s, nil
	}
	switch cmd[0] {
	case "true":
	case "false":
		s.exit.Code = 1
	case "exit":
		if len(cmd) < 2 {
			return s, fmt.Errorf("exit needs a code")
		}
		n, err := strconv.Atoi(cmd[1])
		if err != nil {
			return s, fmt.Errorf("exit %q: not a number", cmd[1])
		}
		s.exit.Code = n
	case "sleep":
		if len(cmd) < 2 {
			return s, fmt.Errorf("sleep needs a duration")
		}
		d, err := parseDuration(cmd[1])
		if err != nil {
			return s, err
		}
		rest, err := parse(cmd[2:])
		if err != nil {
			return s, err
		}
		rest.sleep += d
		return rest, nil
	case "mock":
		return parseFlags(cmd[1:])
	}
	return s, nil
}

func parseFlags(args []string) (script, error) {
	var s script
	for i := 0; i < len(args); i++ {
		flag := args[i]
		val := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", flag)
			}
			i++
			return args[i], nil
		}
		var v string
		var err error
		switch flag {
		case "--oom":
			s.exit.OOMKilled, s.exit.Signal, s.exit.Code = true, 9, 137
			continue
		case "--exit", "--sleep", "--signal", "--output":
			if v, err = val(); err != nil {
				return s, err
			}
		default:
			return s, fmt.Errorf("unknown flag %q", flag)
		}
		switch flag {
		case "--exit":
			if s.exit.Code, err = strconv.Atoi(v); err != nil {
				return s, fmt.Errorf("--exit %q: not a number", v)
			}
		case "--sleep":
			if s.sleep, err = parseDuration(v); err != nil {
				return s, err
			}
		case "--signal":
			if s.exit.Signal, err = strconv.Atoi(v); err != nil {
				return s, fmt.Errorf("--signal %q: not a number", v)
			}
			s.exit.Code = 128 + s.exit.Signal
		case "--output":
			name, js, ok := strings.Cut(v, "=")
			if !ok || name == "" || !json.Valid([]byte(js)) {
				return s, fmt.Errorf("--output %q: want name=<json>", v)
			}
			s.outputs = append(s.outputs, output{name: name, value: json.RawMessage(js)})
		}
	}
	return s, nil
}

// parseDuration takes Go durations and, like sleep(1), plain seconds.
func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return d, nil
}

// run plays one attempt's script.
func (d *Driver) run(a *attempt, s script, timeout time.Duration, r Reporter) {
	defer close(a.done)
	rep := reporter{r: r, id: a.id, ctx: d.ctx, stop: a.stop, cancel: a.cancel, clock: d.clock}
	// A script that takes no time reports started and exited in one batch,
	// as an agent's outbox does when both are pending at delivery.
	instant := s.sleep == 0 && timeout == 0
	var events []v1.AgentEvent
	if instant {
		events = append(events, v1.AgentEvent{Type: v1.EventStarted})
	} else {
		rep.send(v1.AgentEvent{Type: v1.EventStarted})
	}
	start := d.clock()
	exit := s.exit
	if s.sleep > 0 || timeout > 0 {
		sleep := time.NewTimer(s.sleep)
		defer sleep.Stop()
		var deadline <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-sleep.C:
		case <-deadline:
			if s.sleep > timeout {
				exit = v1.Exit{Code: 143, Signal: 15, TimedOut: true}
			} else {
				<-sleep.C // the timer raced the script's end: the script wins
			}
		case <-a.stop:
			exit = v1.Exit{Code: 143, Signal: 15, Error: ErrCancelled}
		case <-d.ctx.Done():
			return
		}
	} else {
		select {
		case <-a.stop:
			exit = v1.Exit{Code: -1, Error: ErrCancelled}
		default:
		}
	}
	exit.Duration = d.clock().Sub(start).Seconds()
	if exit.Code == 0 && exit.Signal == 0 && exit.Error == "" {
		for _, o := range s.outputs {
			sum := sha256.Sum256(o.value)
			out := &v1.Output{Ref: "mock/" + a.id + "/" + o.name, Digest: "sha256:" + hex.EncodeToString(sum[:]),
				Size: int64(len(o.value)), Value: o.value}
			events = append(events, v1.AgentEvent{Type: v1.EventOutput, Name: o.name, Output: out})
		}
	}
	d.mu.Lock()
	a.exit = &exit
	d.mu.Unlock()
	events = append(events, v1.AgentEvent{Type: v1.EventExited, Exit: &exit})
	rep.send(events...)
}

// reporter numbers events and sends them until acknowledged, retrying
// with capped backoff like an agent's outbox.
type reporter struct {
	r      Reporter
	id     string
	ctx    context.Context
	stop   chan struct{}
	cancel func()
	clock  func() time.Time
	seq    int64
}

func (r *reporter) send(events ...v1.AgentEvent) {
	for i := range events {
		r.seq++
		events[i].Seq, events[i].Time = r.seq, r.clock()
	}
	wait := 5 * time.Millisecond
	for len(events) > 0 {
		ack, err := r.r.Report(r.ctx, r.id, events)
		if err == nil {
			if ack.Cancel {
				r.cancel()
			}
			for len(events) > 0 && events[0].Seq <= ack.Applied {
				events = events[1:]
			}
			if len(events) == 0 {
				return
			}
		}
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}
