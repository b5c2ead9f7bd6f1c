package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
)

// fakeDriver is a hand-written backend for engine tests. A task's command
// says what happens:
//
//	ok                      exit 0
//	exit N                  exit N
//	hang                    run until stopped (then report cancelled)
//	silent                  never report anything
//	flaky N                 fail with exit 1 on the first N executions of the task, then succeed
//	out NAME=JSON ...       exit 0 with those outputs
//
// It counts executions per (run, step, index) so tests can prove a task
// ran exactly once.
type fakeDriver struct {
	mu      sync.Mutex
	engine  *Engine
	started map[string]backend.Handle // by attempt
	stop    map[string]chan struct{}
	execs   map[string]int // by run/step/index
	known   bool           // false after a simulated restart: Recover reports NotFound

	// "nap MS" commands: how many run at once now, and at most.
	napping, maxNapping int

	// gate, if set, holds every Start until it is closed; each held
	// Start sends its attempt id on entered first.
	gate    chan struct{}
	entered chan string
}

func newFakeDriver() *fakeDriver {
	return &fakeDriver{started: map[string]backend.Handle{}, stop: map[string]chan struct{}{}, execs: map[string]int{}, known: true}
}

func (f *fakeDriver) Name() string { return "fake" }

func (f *fakeDriver) Capabilities() backend.Capabilities { return backend.Capabilities{} }

func (f *fakeDriver) executions(run, step string, index int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.execs[run+"/"+step+"/"+strconv.Itoa(index)]
}

func (f *fakeDriver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	f.mu.Lock()
	gate, entered := f.gate, f.entered
	f.mu.Unlock()
	if gate != nil {
		entered <- m.AttemptID
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.started[m.AttemptID]; ok {
		return h, nil // idempotent, as the engine may start twice after a crash
	}
	h := backend.Handle{Version: backend.HandleVersion, Driver: "fake", AttemptID: m.AttemptID}
	f.started[m.AttemptID] = h
	key := m.RunID + "/" + m.Step + "/" + strconv.Itoa(m.Index)
	f.execs[key]++
	n := f.execs[key]
	stop := make(chan struct{})
	f.stop[m.AttemptID] = stop
	go f.execute(*m, n, stop)
	return h, nil
}

func (f *fakeDriver) execute(m v1.TaskManifest, execution int, stop chan struct{}) {
	ctx := context.Background()
	seq := int64(0)
	report := func(ev v1.AgentEvent) {
		seq++
		ev.Seq, ev.Time = seq, time.Now()
		for range 100 {
			if _, err := f.engine.Ingest(ctx, m.AttemptID, []v1.AgentEvent{ev}); err == nil || errs.Is(err, errs.NotFound) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cmd := m.Command
	if len(cmd) > 0 && cmd[0] == "silent" {
		return
	}
	report(v1.AgentEvent{Type: v1.EventStarted})
	exit := v1.Exit{}
	switch {
	case len(cmd) == 2 && cmd[0] == "exit":
		exit.Code, _ = strconv.Atoi(cmd[1])
	case len(cmd) == 2 && cmd[0] == "flaky":
		if n, _ := strconv.Atoi(cmd[1]); execution <= n {
			exit.Code = 1
		}
	case len(cmd) == 2 && cmd[0] == "nap":
		ms, _ := strconv.Atoi(cmd[1])
		f.mu.Lock()
		f.napping++
		f.maxNapping = max(f.maxNapping, f.napping)
		f.mu.Unlock()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		// Counted as running until just before the exit is reported: the
		// engine cannot free the task's slot before it has the exit, and
		// once it has, it may start the next task before this goroutine
		// would get to count this one out (a false excess of one).
		f.mu.Lock()
		f.napping--
		f.mu.Unlock()
		report(v1.AgentEvent{Type: v1.EventExited, Exit: &exit})
		return
	case len(cmd) == 1 && cmd[0] == "hang":
		<-stop
		exit.Error = ErrCancelled
	case len(cmd) > 0 && cmd[0] == "out":
		for _, kv := range cmd[1:] {
			name, val, _ := strings.Cut(kv, "=")
			sum := sha256.Sum256([]byte(val))
			out := v1.Output{Ref: "fake/" + m.AttemptID + "/" + name, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(val)), Value: json.RawMessage(val)}
			report(v1.AgentEvent{Type: v1.EventOutput, Name: name, Output: &out})
		}
	}
	report(v1.AgentEvent{Type: v1.EventExited, Exit: &exit})
}

func (f *fakeDriver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.started[h.AttemptID]; !ok || !f.known {
		return backend.Status{Phase: v1.Lost}, nil
	}
	return backend.Status{Phase: v1.Running}, nil
}

func (f *fakeDriver) Stop(ctx context.Context, h backend.Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.stop[h.AttemptID]; ok {
		close(ch)
		delete(f.stop, h.AttemptID)
	}
	return nil
}

func (f *fakeDriver) Recover(ctx context.Context, h backend.Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.started[h.AttemptID]; !ok || !f.known {
		return errs.E(errs.NotFound, "attempt %s not found", h.AttemptID)
	}
	return nil
}

func (f *fakeDriver) Cleanup(ctx context.Context, h backend.Handle) error { return nil }
