package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// execute fetches the inputs and runs the command once; its exit is final
// (result.json is written by the caller).
func (a *attempt) execute(ctx context.Context) v1.Exit {
	fail := func(format string, args ...any) v1.Exit {
		msg := a.red.redact(fmt.Sprintf(format, args...))
		a.system("%s", msg)
		return v1.Exit{Code: -1, Error: msg}
	}
	spec := sandbox.Spec{Name: a.m.AttemptID, NetworkNone: a.m.Network == "none"}
	switch a.m.Network {
	case "", "none", "egress":
	default:
		return fail("network: %q is not one of none, egress", a.m.Network)
	}
	if spec.NetworkNone && os.Geteuid() != 0 {
		return fail("%s", sandbox.ErrNetworkNeedsRoot.Error())
	}
	var err error
	if spec.MemoryBytes, err = sandbox.ParseMemory(a.m.Resources.Memory); err != nil {
		return fail("resources.memory: %v", err)
	}
	spec.CPU = a.m.Resources.CPU
	if err := a.checkPaths(); err != nil {
		return fail("%v", err)
	}
	if err := os.MkdirAll(a.work, 0o755); err != nil {
		return fail("working directory: %v", err)
	}
	// Secrets first: a missing one fails the attempt before any download.
	sec, err := a.fetchSecrets(ctx)
	if a.isCancelled() {
		return v1.Exit{Code: -1, Error: ErrCancelled}
	}
	if err != nil {
		return fail("%v", err)
	}
	defer sec.remove()
	a.red = sec.red
	inputs, err := a.fetchInputs(ctx)
	if a.isCancelled() {
		return v1.Exit{Code: -1, Error: ErrCancelled}
	}
	if err != nil {
		return fail("%v", err)
	}
	outputs := map[string]string{}
	for name, p := range a.m.Outputs {
		outputs[name] = filepath.Join(a.work, p)
		if err := os.MkdirAll(filepath.Dir(outputs[name]), 0o755); err != nil {
			return fail("output %s: %v", name, err)
		}
	}
	release, err := a.taskUser(&spec, sec.dir)
	if err != nil {
		return fail("task user: %v", err)
	}
	defer release()
	env := a.env(inputs, outputs, sec.env)
	if spec.UID != 0 {
		// The agent's HOME is root's and closed to the task user.
		env = setEnv(env, "HOME", a.work)
	}
	exit, err := a.runCommand(spec, env)
	if err != nil {
		return fail("%v", err)
	}
	exit.Error = a.red.redact(exit.Error) // it names the command, which may hold a value
	if ExitOK(exit) {
		if missing := missingOutputs(a.m.Outputs, outputs); missing != "" {
			exit.Error = "outputs not produced: " + missing
			a.system("%s", exit.Error)
		}
	}
	return exit
}

// runCommand starts the command, streams its output and waits for it,
// enforcing the timeout and cancellation.
func (a *attempt) runCommand(spec sandbox.Spec, env []string) (v1.Exit, error) {
	devnull, err := devNull()
	if err != nil {
		return v1.Exit{}, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return v1.Exit{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		return v1.Exit{}, err
	}
	path, err := lookPath(a.m.Command[0], env)
	if err != nil {
		closeAll(outR, outW, errR, errW)
		a.system("cannot start the command: %v", err)
		return v1.Exit{Code: 127, Error: "cannot start the command: " + err.Error()}, nil
	}
	cmd := &exec.Cmd{Path: path, Args: a.m.Command, Dir: a.work, Env: env,
		Stdin: devnull, Stdout: outW, Stderr: errW}
	// run.json exists before the command does: a restarted agent then
	// knows it may have run, and never runs it again.
	runf, err := a.createRunRecord()
	if err != nil {
		closeAll(outR, outW, errR, errW)
		return v1.Exit{}, fmt.Errorf("writing %s: %v", RunFile, err)
	}
	defer runf.Close()
	p, err := sandbox.Start(cmd, spec)
	closeAll(outW, errW)
	if errors.Is(err, sandbox.ErrNetworkNeedsRoot) {
		closeAll(outR, errR)
		return v1.Exit{}, err
	}
	if err != nil {
		closeAll(outR, errR)
		a.system("cannot start the command: %v", err)
		return v1.Exit{Code: 127, Error: "cannot start the command: " + err.Error()}, nil
	}
	start, _ := sandbox.StartTime(p.Pid())
	if err := json.NewEncoder(runf).Encode(runRecord{PID: p.Pid(), Start: start}); err != nil {
		a.log.Error("writing run.json", "err", err)
	}
	if err := a.ob.event(v1.AgentEvent{Type: v1.EventStarted, PID: p.Pid()}); err != nil {
		a.log.Error("recording the start", "err", err)
	}
	a.del.poke()
	if p.Enforced != "" {
		a.system("limits: %s", p.Enforced)
	}

	var readers sync.WaitGroup
	for _, s := range []struct {
		name string
		r    *os.File
	}{{"stdout", outR}, {"stderr", errR}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			splitLines(s.r, a.red, func(line string) {
				if err := a.ob.logLine(s.name, line); err != nil {
					a.log.Error("recording a log line", "err", err)
				}
			})
		}()
	}

	var timedOut, cancelled atomic.Bool
	exited := make(chan struct{})
	go func() {
		var timeout <-chan time.Time
		if d := a.m.Timeout.Duration; d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-exited:
			return
		case <-timeout:
			timedOut.Store(true)
			a.system("timed out after %s: stopping the command", a.m.Timeout.Duration)
		case <-a.cancelled:
			cancelled.Store(true)
			a.system("cancelled: stopping the command")
		}
		_ = p.Signal(syscall.SIGTERM)
		t := time.NewTimer(a.opts.KillGrace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			a.system("still running %s after SIGTERM: killing it", a.opts.KillGrace)
			_ = p.Signal(syscall.SIGKILL)
		}
	}()
	res, err := p.Wait()
	close(exited)
	// Wait killed what was left in the group, so the pipes close; a process
	// that escaped the group (setsid) must not hold the agent forever.
	waitOrClose(&readers, 2*time.Second, outR, errR)
	closeAll(outR, errR)
	if err != nil {
		return v1.Exit{}, err
	}
	exit := v1.Exit{Code: res.Code, Signal: res.Signal, OOMKilled: res.OOMKilled, TimedOut: timedOut.Load(),
		Duration: res.Duration.Seconds(), PeakMemory: res.PeakMemory}
	if cancelled.Load() {
		exit.Error = ErrCancelled
	}
	return exit, nil
}

// devNull is the commands' stdin, opened once: an agent host starts
// thousands of commands.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// createRunRecord creates run.json, empty (and durable unless NoFsync);
// the caller writes the command's pid into it once it has one.
func (a *attempt) createRunRecord() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(a.dir, RunFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil || a.opts.NoFsync {
		return f, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if d, err := os.Open(a.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return f, nil
}

func waitOrClose(wg *sync.WaitGroup, d time.Duration, files ...*os.File) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		closeAll(files...)
		<-done
	}
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func missingOutputs(decl, paths map[string]string) string {
	var missing []string
	for name := range decl {
		if _, err := os.Stat(paths[name]); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s)", name, decl[name]))
		}
	}
	sort.Strings(missing)
	return strings.Join(missing, ", ")
}

// env is the command's environment; see the package comment. A step's
// secret wins over a variable of the same name in its env.
func (a *attempt) env(inputs, outputs, secrets map[string]string) []string {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "KOYA_AGENT_") {
			vars[k] = v
		}
	}
	for k, v := range a.m.Env {
		vars[k] = v
	}
	for k, v := range secrets {
		vars[k] = v
	}
	ins, _ := json.Marshal(inputs)
	outs, _ := json.Marshal(outputs)
	vars["KOYA_PROJECT"] = a.m.Project
	vars["KOYA_RUN"] = a.m.RunID
	vars["KOYA_STEP"] = a.m.Step
	vars["KOYA_INDEX"] = fmt.Sprint(a.m.Index)
	vars["KOYA_ATTEMPT"] = fmt.Sprint(a.m.Number)
	vars["KOYA_ATTEMPT_ID"] = a.m.AttemptID
	vars["KOYA_INPUTS"] = string(ins)
	vars["KOYA_OUTPUTS"] = string(outs)
	for name, p := range inputs {
		vars["KOYA_INPUT_"+envName(name)] = p
	}
	for name, p := range outputs {
		vars["KOYA_OUTPUT_"+envName(name)] = p
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// setEnv sets k in a sorted KEY=value list.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			env[i] = k + "=" + v
			return env
		}
	}
	env = append(env, k+"="+v)
	sort.Strings(env)
	return env
}

// envName upper-cases name and replaces what a variable name cannot hold.
func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// lookPath finds a bare command name in the command's own PATH (which the
// manifest may set); a name with a slash is used as is, relative to the
// working directory.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var pathVar string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if !filepath.IsAbs(dir) {
			continue // "." in PATH would depend on where the agent runs
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH", name)
}
