// Package backendtest is the conformance suite every backend driver
// passes, against a hand-written fake control plane (FakeServer).
//
// The suite asks the harness whether commands are real host processes; a
// scripted driver (mock) runs the subtests it can with its own script
// language and skips the process-level ones, saying why. An agentless
// driver (kubernetes under kwok: pods whose containers never run) gets
// the same scripts, and the suite reads outcomes from the driver's Status
// instead of from the agent's reports.
package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
)

// Harness tells the suite how to make and drive a backend.
type Harness struct {
	// New builds a driver keeping its state in env.Dir and reporting to
	// env.Server. The restart subtest calls it again with the same Env, as
	// a restarted control plane would.
	New func(t *testing.T, env Env) backend.Driver
	// Processes: commands run as real host processes (sh, sleep, bash).
	// False for scripted drivers, which get the mock's script commands.
	Processes bool
	// SurvivesRestart: a driver built again over the same Env recovers
	// the old one's attempts. False for in-memory drivers, whose Recover
	// must then answer errs.NotFound.
	SurvivesRestart bool
	// Debug, if set, returns what helps understand a failed attempt (an
	// agent's own log); it is printed when a subtest fails.
	Debug func(env Env, attemptID string) string
	// Wait bounds how long an attempt may take to report its exit (20s).
	Wait time.Duration
	// NetworkProbe, if set, gives the network subtest a command that
	// connects to a listener a task with egress can reach and prints
	// "connected" when it could (tasks in containers do not share the
	// host's 127.0.0.1). Default: bash's /dev/tcp to the fake server.
	NetworkProbe func(t *testing.T, env Env) []string
	// Mark, if set, gives the idempotence subtest a shell command that
	// records one run of the task, and a func counting the runs recorded
	// (tasks in containers do not see the host's files). Default:
	// appending a line to a file in env.Dir.
	Mark func(t *testing.T, env Env) (cmd string, count func() int)
	// Agentless: no agent runs (kubernetes under kwok), so nothing reports
	// to env.Server. Commands are the mock's scripts (Processes is false),
	// the suite waits for the driver's Status to say how an attempt ended,
	// and subtests that need a real process or agent are skipped.
	Agentless bool
}

// skipAgentless is why a subtest needs an agent.
const skipAgentless = "needs a running agent (logs, outputs, secrets, delivery): covered by the local and container backends and by the shared agent; this driver runs no process here"

// Env is one subtest's world.
type Env struct {
	Dir    string
	Server *FakeServer
}

// suite is one subtest's driver and server.
type suite struct {
	t   *testing.T
	h   Harness
	env Env
	b   *backend.Backend

	mu      sync.Mutex
	handles map[string]backend.Handle // started attempts, by id (agentless waits)
}

func (h Harness) setup(t *testing.T) *suite {
	t.Parallel()
	if h.Wait == 0 {
		h.Wait = 20 * time.Second
	}
	env := Env{Dir: t.TempDir(), Server: NewFakeServer(t)}
	s := &suite{t: t, h: h, env: env, b: backend.New(h.New(t, env)), handles: map[string]backend.Handle{}}
	return s
}

// cmd picks the command for real processes or for a scripted driver.
func (s *suite) cmd(real, scripted []string) []string {
	if s.h.Processes {
		return real
	}
	return scripted
}

func (s *suite) start(m *v1.TaskManifest) backend.Handle {
	s.t.Helper()
	h, err := s.b.Start(context.Background(), m)
	if err != nil {
		s.t.Fatalf("Start: %v", err)
	}
	if h.AttemptID != m.AttemptID || h.Driver != s.b.Name() || h.Version != backend.HandleVersion {
		s.t.Fatalf("Start returned handle %+v", h)
	}
	s.mu.Lock()
	s.handles[m.AttemptID] = h
	s.mu.Unlock()
	return h
}

// agentless skips a subtest that needs an agent, on an agentless driver.
func (s *suite) agentless() {
	if s.h.Agentless {
		s.t.Skip(skipAgentless)
	}
}

// driverExit waits for the driver's Status to say how an attempt ended
// (agentless drivers: no agent reports to the server).
func (s *suite) driverExit(id string) v1.Exit {
	s.t.Helper()
	s.mu.Lock()
	h, ok := s.handles[id]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("attempt %s was never started", id)
	}
	var st backend.Status
	if !Eventually(s.h.Wait, func() bool { st = s.status(h); return st.Phase.Done() || st.Phase == v1.Lost }) {
		s.t.Fatalf("attempt %s: status %s after %s, want an end", id, st.Phase, s.h.Wait)
	}
	if st.Exit == nil {
		s.t.Fatalf("attempt %s: status %s without an exit", id, st.Phase)
	}
	return *st.Exit
}

func (s *suite) wait(id string) v1.Exit {
	s.t.Helper()
	s.t.Cleanup(func() {
		if s.t.Failed() && s.h.Debug != nil {
			s.t.Logf("debug for %s:\n%s", id, s.h.Debug(s.env, id))
		}
	})
	if s.h.Agentless {
		return s.driverExit(id)
	}
	exit := s.env.Server.WaitExit(s.t, id, s.h.Wait)
	s.checkEvents(id)
	return exit
}

// checkEvents: seq 1..n without gaps (the server applies in order), one
// started at most and before any output, exactly one exited, last.
func (s *suite) checkEvents(id string) []v1.AgentEvent {
	s.t.Helper()
	evs := s.env.Server.Events(id)
	started, exited := 0, 0
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			s.t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		switch ev.Type {
		case v1.EventStarted:
			started++
		case v1.EventOutput:
			if started == 0 && s.h.Processes {
				s.t.Errorf("output event %d before started", ev.Seq)
			}
		case v1.EventExited:
			exited++
			if i != len(evs)-1 {
				s.t.Errorf("exited event %d is not the last (of %d)", ev.Seq, len(evs))
			}
		}
	}
	if started > 1 || exited != 1 {
		s.t.Errorf("%d started and %d exited events, want ≤1 and 1: %s", started, exited, s.env.Server.describe(id))
	}
	return evs
}

func (s *suite) status(h backend.Handle) backend.Status {
	s.t.Helper()
	st, err := s.b.Status(context.Background(), h)
	if err != nil {
		s.t.Fatalf("Status: %v", err)
	}
	return st
}

// waitStatus polls until the driver reports phase (drivers may learn of
// the end a little after the control plane does).
func (s *suite) waitStatus(h backend.Handle, phase v1.Phase) backend.Status {
	s.t.Helper()
	var st backend.Status
	if !Eventually(5*time.Second, func() bool { st = s.status(h); return st.Phase == phase }) {
		s.t.Fatalf("status %s, want %s", st.Phase, phase)
	}
	return st
}

func (s *suite) waitStarted(id string) {
	s.t.Helper()
	if s.h.Agentless {
		s.mu.Lock()
		h := s.handles[id]
		s.mu.Unlock()
		s.waitStatus(h, v1.Running)
		return
	}
	ok := Eventually(s.h.Wait, func() bool {
		for _, ev := range s.env.Server.Events(id) {
			if ev.Type == v1.EventStarted {
				return true
			}
		}
		return false
	})
	if !ok {
		s.t.Fatalf("attempt %s never reported started: %s", id, s.env.Server.describe(id))
	}
}

func (s *suite) logText(id string) string {
	var b strings.Builder
	for _, l := range s.env.Server.Logs(id) {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name string
		f    func(*suite)
	}{
		{"Success", testSuccess},
		{"ExitCode", testExitCode},
		{"Signal", testSignal},
		{"Timeout", testTimeout},
		{"Stop", testStop},
		{"CancelByAck", testCancelByAck},
		{"OutputsAndInputs", testOutputsAndInputs},
		{"MissingOutput", testMissingOutput},
		{"Restart", testRestart},
		{"Outage", testOutage},
		{"NetworkNone", testNetworkNone},
		{"Secrets", testSecrets},
		{"IdempotentStart", testIdempotentStart},
		{"OOM", testOOM},
		{"Validation", testValidation},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(h.setup(t)) })
	}
}

func testSuccess(s *suite) {
	id := "success"
	m := s.env.Server.Manifest(id, s.cmd(
		[]string{"sh", "-c", `echo first; echo to-stderr >&2; sleep 1.5; echo second; echo "step=$KOYA_STEP run=$KOYA_RUN"; env`},
		[]string{"true"})...)
	m.Env = map[string]string{"GREETING": "hello from env"}
	h := s.start(m)
	if s.h.Processes {
		// Lines arrive while the command still runs.
		if !Eventually(s.h.Wait, func() bool { return strings.Contains(s.logText(id), "first") }) {
			s.t.Fatalf("no live log line: %s", s.env.Server.describe(id))
		}
		if s.env.Server.Exit(id) != nil {
			s.t.Errorf("exited before the command's sleep ended: lines are not sent live")
		}
		if st := s.status(h); st.Phase != v1.Running {
			s.t.Errorf("status while running: %s", st.Phase)
		}
	}
	exit := s.wait(id)
	if exit.Code != 0 || exit.Signal != 0 || exit.Error != "" || exit.TimedOut {
		s.t.Fatalf("exit %+v, want success", exit)
	}
	st := s.waitStatus(h, v1.Succeeded)
	if st.Exit == nil || st.Exit.Code != 0 {
		s.t.Errorf("status exit %+v", st.Exit)
	}
	if s.h.Processes {
		text := s.logText(id)
		for _, want := range []string{"first\n", "to-stderr\n", "second\n", "step=step run=run-success\n", "GREETING=hello from env\n"} {
			if !strings.Contains(text, want) {
				s.t.Errorf("log lacks %q:\n%s", want, text)
			}
		}
		if strings.Index(text, "first\n") > strings.Index(text, "second\n") {
			s.t.Errorf("lines out of order:\n%s", text)
		}
		if strings.Contains(text, m.Token) {
			s.t.Errorf("the command's environment holds the attempt token")
		}
		for i, l := range s.env.Server.Logs(id) {
			if l.Seq != int64(i+1) {
				s.t.Fatalf("log line %d has seq %d", i, l.Seq)
			}
			if l.Text == "to-stderr" && l.Stream != "stderr" {
				s.t.Errorf("stderr line on stream %q", l.Stream)
			}
		}
	}
	// Stopping a finished attempt is fine; cleanup is idempotent and
	// afterwards the attempt is gone.
	ctx := context.Background()
	if err := s.b.Stop(ctx, h); err != nil {
		s.t.Errorf("Stop after exit: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.b.Cleanup(ctx, h); err != nil {
			s.t.Fatalf("Cleanup #%d: %v", i+1, err)
		}
	}
	if err := s.b.Recover(ctx, h); !errs.Is(err, errs.NotFound) {
		s.t.Errorf("Recover after Cleanup: %v, want not_found", err)
	}
}

func testExitCode(s *suite) {
	id := "exit3"
	h := s.start(s.env.Server.Manifest(id, s.cmd([]string{"sh", "-c", "echo failing; exit 3"}, []string{"exit", "3"})...))
	exit := s.wait(id)
	if exit.Code != 3 || exit.Signal != 0 || exit.Error != "" {
		s.t.Fatalf("exit %+v, want code 3", exit)
	}
	st := s.waitStatus(h, v1.Failed)
	if st.Exit == nil || st.Exit.Code != 3 {
		s.t.Errorf("status exit %+v", st.Exit)
	}
}

func testSignal(s *suite) {
	id := "killed"
	s.start(s.env.Server.Manifest(id, s.cmd([]string{"sh", "-c", "kill -9 $$"}, []string{"mock", "--signal", "9"})...))
	exit := s.wait(id)
	if exit.Signal != 9 || exit.Code != 128+9 {
		s.t.Fatalf("exit %+v, want signal 9 (code 137)", exit)
	}
}

func testTimeout(s *suite) {
	id := "timeout"
	m := s.env.Server.Manifest(id, s.cmd([]string{"sleep", "30"}, []string{"sleep", "30s"})...)
	m.Timeout = v1.Duration{Duration: 300 * time.Millisecond}
	t0 := time.Now()
	s.start(m)
	exit := s.wait(id)
	if !exit.TimedOut || exit.Code == 0 {
		s.t.Fatalf("exit %+v, want timed out", exit)
	}
	if d := time.Since(t0); d > 15*time.Second {
		s.t.Errorf("the timeout took %s to end the command", d)
	}
}

func testStop(s *suite) {
	id := "stopped"
	h := s.start(s.env.Server.Manifest(id, s.cmd([]string{"sleep", "30"}, []string{"sleep", "30s"})...))
	s.waitStarted(id)
	if err := s.b.Stop(context.Background(), h); err != nil {
		s.t.Fatalf("Stop: %v", err)
	}
	exit := s.wait(id)
	if exit.Error != "cancelled" {
		s.t.Fatalf("exit %+v, want error cancelled", exit)
	}
	s.waitStatus(h, v1.Failed)
}

func testCancelByAck(s *suite) {
	if !s.h.Processes {
		s.t.Skip("a scripted driver reads acks only when it reports (start and end)")
	}
	id := "cancel-ack"
	s.start(s.env.Server.Manifest(id, "sleep", "30"))
	s.waitStarted(id)
	s.env.Server.Cancel(id) // the next heartbeat's ack says cancel
	exit := s.wait(id)
	if exit.Error != "cancelled" {
		s.t.Fatalf("exit %+v, want error cancelled", exit)
	}
}

func testOutputsAndInputs(s *suite) {
	srv := s.env.Server
	s.agentless()
	if !s.h.Processes {
		id := "outputs"
		s.start(srv.Manifest(id, "mock", "--output", `scores={"auc":0.9}`))
		s.wait(id)
		out, ok := srv.Outputs(id)["scores"]
		if !ok || !sameJSON(out.Value, `{"auc":0.9}`) || out.Ref == "" || out.Digest == "" {
			s.t.Fatalf("outputs %+v", srv.Outputs(id))
		}
		return
	}
	// A producer writes a JSON file and a directory.
	prod := srv.Manifest("producer", "sh", "-c",
		`mkdir -p "$KOYA_OUTPUT_MODEL" && echo weights > "$KOYA_OUTPUT_MODEL/w.txt" && mkdir -p out/model/sub && echo deep > out/model/sub/x && printf '{"auc": 0.9}' > out/scores.json`)
	prod.Outputs = map[string]string{"scores": "out/scores.json", "model": "out/model"}
	s.start(prod)
	if exit := s.wait("producer"); !exitOK(exit) {
		s.t.Fatalf("producer exit %+v\n%s", exit, s.logText("producer"))
	}
	outs := srv.Outputs("producer")
	scores, model := outs["scores"], outs["model"]
	if !sameJSON(scores.Value, `{"auc": 0.9}`) || scores.Dir || !model.Dir || model.Size == 0 {
		s.t.Fatalf("outputs %+v", outs)
	}
	// A consumer gets them back, one as a file, one as a directory, and a
	// fan-in of two as inputs/many/0 and /1.
	cons := srv.Manifest("consumer", "sh", "-c",
		`cat inputs/scores; echo; cat inputs/model/w.txt inputs/model/sub/x; cat inputs/many/0 inputs/many/1; echo; echo "env=$KOYA_INPUT_SCORES"`)
	cons.Inputs = []v1.InputSpec{
		{Name: "scores", Path: "inputs/scores", Artifacts: []v1.Output{scores}},
		{Name: "model", Path: "inputs/model", Artifacts: []v1.Output{model}},
		{Name: "many", Path: "inputs/many", Artifacts: []v1.Output{scores, scores}, Many: true},
	}
	s.start(cons)
	if exit := s.wait("consumer"); !exitOK(exit) {
		s.t.Fatalf("consumer exit %+v\n%s", exit, s.logText("consumer"))
	}
	text := s.logText("consumer")
	for _, want := range []string{`{"auc": 0.9}` + "\n", "weights\ndeep\n", `{"auc": 0.9}{"auc": 0.9}` + "\n", "env=/"} {
		if !strings.Contains(text, want) {
			s.t.Errorf("consumer log lacks %q:\n%s", want, text)
		}
	}
}

func testMissingOutput(s *suite) {
	if !s.h.Processes {
		s.t.Skip("a scripted driver produces exactly the outputs its script names")
	}
	id := "missing"
	m := s.env.Server.Manifest(id, "true")
	m.Outputs = map[string]string{"report": "out/report.json"}
	s.start(m)
	exit := s.wait(id)
	if exit.Code != 0 || !strings.Contains(exit.Error, "report") {
		s.t.Fatalf("exit %+v, want code 0 and an error naming the output", exit)
	}
}

func testRestart(s *suite) {
	id := "restart"
	h := s.start(s.env.Server.Manifest(id, s.cmd([]string{"sleep", "1.5"}, []string{"sleep", "1.5s"})...))
	s.waitStarted(id)
	// The control plane restarts: a new driver over the same state.
	b2 := backend.New(s.h.New(s.t, s.env))
	ctx := context.Background()
	err := b2.Recover(ctx, h)
	if !s.h.SurvivesRestart {
		if !errs.Is(err, errs.NotFound) {
			s.t.Fatalf("Recover on a driver that keeps no state: %v, want not_found", err)
		}
		s.wait(id) // the old goroutine still reports
		return
	}
	if err != nil {
		s.t.Fatalf("Recover: %v", err)
	}
	if st, err := b2.Status(ctx, h); err != nil || st.Phase != v1.Running {
		s.t.Fatalf("Status after recover: %+v %v, want Running", st, err)
	}
	if exit := s.wait(id); !exitOK(exit) {
		s.t.Fatalf("exit %+v", exit)
	}
	s.b = b2
	s.waitStatus(h, v1.Succeeded)
	// An attempt the driver never saw.
	unknown := backend.Handle{Version: backend.HandleVersion, Driver: b2.Name(), AttemptID: "never-started"}
	if err := b2.Recover(ctx, unknown); !errs.Is(err, errs.NotFound) {
		s.t.Errorf("Recover of an unknown attempt: %v, want not_found", err)
	}
}

func testOutage(s *suite) {
	s.agentless()
	id := "outage"
	srv := s.env.Server
	const n = 20
	s.start(srv.Manifest(id, s.cmd(
		[]string{"sh", "-c", fmt.Sprintf("for i in $(seq 1 %d); do echo line $i; sleep 0.1; done", n)},
		[]string{"sleep", "300ms"})...))
	s.waitStarted(id)
	srv.Outage(2 * time.Second)
	exit := s.wait(id)
	if !exitOK(exit) {
		s.t.Fatalf("exit %+v", exit)
	}
	if srv.Refused() == 0 {
		s.t.Errorf("nothing was refused during the outage: the test proves nothing")
	}
	if !s.h.Processes {
		return
	}
	var got []string
	for _, l := range srv.Logs(id) {
		if l.Stream == "stdout" {
			got = append(got, l.Text)
		}
	}
	if len(got) != n {
		s.t.Fatalf("%d stdout lines, want %d: %q", len(got), n, got)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line %d", i+1) {
			s.t.Fatalf("line %d is %q", i, l)
		}
	}
	for i, l := range srv.Logs(id) {
		if l.Seq != int64(i+1) {
			s.t.Fatalf("log seqs have a gap at %d (seq %d)", i, l.Seq)
		}
	}
}

func testNetworkNone(s *suite) {
	if !s.b.Capabilities().NetworkIsolation {
		s.t.Skip("the driver does not isolate the network")
	}
	s.agentless()
	port := s.env.Server.URL[strings.LastIndex(s.env.Server.URL, ":")+1:]
	connect := []string{"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port + " && echo connected"}
	if s.h.NetworkProbe != nil {
		connect = s.h.NetworkProbe(s.t, s.env)
	} else if _, err := os.Stat("/bin/bash"); err != nil {
		s.t.Skip("needs bash for /dev/tcp")
	}
	// With egress the same command reaches its listener: the check below is meaningful.
	s.start(s.env.Server.Manifest("egress", connect...))
	if exit := s.wait("egress"); !exitOK(exit) {
		s.t.Fatalf("egress: exit %+v, want the connection to work\n%s", exit, s.logText("egress"))
	}
	m := s.env.Server.Manifest("isolated", connect...)
	m.Network = "none"
	s.start(m)
	exit := s.wait("isolated")
	if exit.Code == 0 || strings.Contains(s.logText("isolated"), "connected") {
		s.t.Fatalf("network none: exit %+v, the command %q connected\n%s", exit, connect, s.logText("isolated"))
	}
}

// testSecrets: a step's secret reaches the command as a variable, and its
// value never reaches the log.
func testSecrets(s *suite) {
	if !s.h.Processes {
		s.t.Skip("a scripted driver runs no command to hand secrets to")
	}
	id, value := "secrets", "s3cr3t-Value-42"
	m := s.env.Server.Manifest(id, "sh", "-c", `echo "env=$API_KEY"; echo "len=${#API_KEY}"; if [ -n "$KOYA_SECRET_FILE_API_KEY" ]; then echo "file=$(cat "$KOYA_SECRET_FILE_API_KEY")"; fi; echo "$API_KEY" >&2`)
	m.Secrets = []string{"API_KEY"}
	s.env.Server.SetSecrets(id, []v1.AgentSecret{{Name: "API_KEY", Version: 1, Value: []byte(value)}})
	s.start(m)
	if exit := s.wait(id); !exitOK(exit) {
		s.t.Fatalf("exit %+v\n%s", exit, s.logText(id))
	}
	text := s.logText(id)
	if strings.Contains(text, value) {
		s.t.Errorf("the secret's value is in the log:\n%s", text)
	}
	for _, want := range []string{"env=***\n", "len=15\n"} {
		if !strings.Contains(text, want) {
			s.t.Errorf("log lacks %q (the secret did not arrive, or was not masked):\n%s", want, text)
		}
	}
	if strings.Contains(text, "file=") && !strings.Contains(text, "file=***\n") {
		s.t.Errorf("the secret file's content is not the masked value:\n%s", text)
	}
	if n := s.env.Server.SecretRequests(id); n != 1 {
		s.t.Errorf("%d requests for the secrets, want 1", n)
	}
}

func testIdempotentStart(s *suite) {
	id := "once"
	mark, count := s.fileMark()
	if s.h.Mark != nil {
		mark, count = s.h.Mark(s.t, s.env)
	}
	m := s.env.Server.Manifest(id, s.cmd([]string{"sh", "-c", mark + "; sleep 0.3"}, []string{"sleep", "300ms"})...)
	var wg sync.WaitGroup
	hs := make([]backend.Handle, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.b.Start(context.Background(), m)
			if err != nil {
				s.t.Errorf("Start #%d: %v", i, err)
			}
			hs[i] = h
			s.mu.Lock()
			s.handles[id] = h
			s.mu.Unlock()
		}()
	}
	wg.Wait()
	s.wait(id)
	// Once more after the end: still nothing runs again.
	again := s.start(m)
	for _, h := range hs {
		if h.AttemptID != id {
			s.t.Errorf("handle %+v", h)
		}
	}
	if s.h.Agentless {
		// No agent counts runs: one task means one handle state (an
		// agentless driver's state names its task, e.g. the pod's UID),
		// and it still reports the end of the single run.
		for i, h := range append(hs, again) {
			if string(h.State) != string(hs[0].State) {
				s.t.Errorf("Start #%d returned %s, the first %s: two tasks for one attempt", i, h.State, hs[0].State)
			}
		}
		if st := s.status(again); !st.Phase.Done() {
			s.t.Errorf("status after the repeated Start: %s, want the first run's end", st.Phase)
		}
		return
	}
	time.Sleep(300 * time.Millisecond)
	started := 0
	for _, ev := range s.env.Server.Events(id) {
		if ev.Type == v1.EventStarted {
			started++
		}
	}
	if started != 1 {
		s.t.Errorf("%d started events, want 1", started)
	}
	if s.h.Processes {
		if got := count(); got != 1 {
			s.t.Errorf("the command ran %d times, want 1", got)
		}
	}
}

// fileMark records runs as lines of a file in env.Dir.
func (s *suite) fileMark() (string, func() int) {
	side := filepath.Join(s.env.Dir, "side-effect")
	if !s.h.Processes {
		return "", func() int { return 0 }
	}
	// Writable by the command, which may run as an unprivileged user.
	if err := os.WriteFile(side, nil, 0o666); err != nil || os.Chmod(side, 0o666) != nil {
		s.t.Fatal(err)
	}
	return "echo ran >> " + side, func() int {
		b, _ := os.ReadFile(side)
		return strings.Count(string(b), "ran")
	}
}

func testOOM(s *suite) {
	if !s.b.Capabilities().OOMDetection {
		s.t.Skip("the driver does not detect OOM kills on this machine")
	}
	id := "oom"
	m := s.env.Server.Manifest(id, s.cmd(
		[]string{"sh", "-c", `x=$(head -c 400000000 /dev/zero | tr '\0' a); echo ${#x}`},
		[]string{"mock", "--oom"})...)
	m.Resources.Memory = "64Mi"
	s.start(m)
	if exit := s.wait(id); !exit.OOMKilled {
		s.t.Fatalf("exit %+v, want OOM killed", exit)
	}
}

func testValidation(s *suite) {
	ctx := context.Background()
	for _, m := range []*v1.TaskManifest{
		{Command: []string{"true"}},
		{AttemptID: "no-command"},
		{AttemptID: "../escape", Command: []string{"true"}},
		{AttemptID: "bad-network", Command: []string{"true"}, Network: "some"},
	} {
		if _, err := s.b.Start(ctx, m); !errs.Is(err, errs.Invalid) {
			s.t.Errorf("Start(%+v): %v, want invalid", m, err)
		}
	}
	other := backend.Handle{Version: backend.HandleVersion, Driver: "other-backend", AttemptID: "x"}
	if _, err := s.b.Status(ctx, other); !errs.Is(err, errs.Invalid) {
		s.t.Errorf("Status with another driver's handle: %v, want invalid", err)
	}
}

func sameJSON(got json.RawMessage, want string) bool {
	var a, b bytes.Buffer
	return json.Compact(&a, got) == nil && json.Compact(&b, []byte(want)) == nil && a.String() == b.String()
}

func exitOK(x v1.Exit) bool {
	return x.Code == 0 && x.Signal == 0 && !x.TimedOut && !x.OOMKilled && x.Error == ""
}
