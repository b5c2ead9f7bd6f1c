package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/agent/sandbox"
	"github.com/koya-dev/koya/internal/backend/backendtest"
)

func TestMain(m *testing.M) {
	// As a helper process: be the agent (see TestNetworkNoneNeedsRoot).
	if path := os.Getenv("KOYA_AGENT_TEST_MANIFEST"); path != "" {
		os.Exit(agent.Run(context.Background(), path))
	}
	os.Exit(m.Run())
}

func quick() agent.Options {
	return agent.Options{Heartbeat: 100 * time.Millisecond, KillGrace: 300 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, GiveUp: 20 * time.Second, BatchEvery: 20 * time.Millisecond}
}

// attemptDir writes m into a fresh attempt directory.
func attemptDir(t *testing.T, m *v1.TaskManifest) (dir, manifest string) {
	t.Helper()
	dir = t.TempDir()
	manifest = filepath.Join(dir, agent.ManifestFile)
	b, _ := json.Marshal(m)
	if err := os.WriteFile(manifest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, manifest
}

func logText(srv *backendtest.FakeServer, id string) string {
	var b strings.Builder
	for _, l := range srv.Logs(id) {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// A restarted agent delivers what its predecessor could not and never runs
// the command twice.
func TestRestartDeliversWithoutRerunning(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("a1", "sh", "-c", "echo ran >> count; echo hello")
	dir, path := attemptDir(t, m)
	srv.SetDown(true)
	o := quick()
	o.GiveUp = 500 * time.Millisecond
	if code := agent.RunWith(context.Background(), path, o); code != agent.ExitFailed {
		t.Fatalf("with the control plane down: exit %d, want %d", code, agent.ExitFailed)
	}
	if _, ok, _ := agent.ReadResult(dir); !ok {
		t.Fatal("no result.json after the command ran")
	}
	srv.SetDown(false)
	if code := agent.RunWith(context.Background(), path, quick()); code != agent.ExitDelivered {
		t.Fatalf("second agent: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "count")); string(b) != "ran\n" {
		t.Errorf("the command ran %d times", strings.Count(string(b), "ran"))
	}
	evs := srv.Events("a1")
	if len(evs) < 2 || evs[0].Type != v1.EventStarted || evs[len(evs)-1].Type != v1.EventExited {
		t.Errorf("events %+v", evs)
	}
	if !strings.Contains(logText(srv, "a1"), "hello") {
		t.Errorf("log line lost: %q", logText(srv, "a1"))
	}
	if !agent.Delivered(dir) {
		t.Error("not marked delivered")
	}
	// A third agent has nothing to do.
	if code := agent.RunWith(context.Background(), path, quick()); code != agent.ExitDelivered {
		t.Errorf("third agent: exit %d", code)
	}
}

// An agent that finds the command started by a dead predecessor, with no
// result, reports the attempt lost rather than run it again.
func TestRestartMidCommandIsLost(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("a2", "sh", "-c", "echo ran >> count")
	dir, path := attemptDir(t, m)
	if err := os.WriteFile(filepath.Join(dir, agent.RunFile), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := agent.RunWith(context.Background(), path, quick()); code != agent.ExitDelivered {
		t.Fatalf("exit %d", code)
	}
	if x := srv.Exit("a2"); x == nil || x.Error != agent.ErrLost {
		t.Errorf("exit %+v, want %q", x, agent.ErrLost)
	}
	if _, err := os.Stat(filepath.Join(dir, "count")); err == nil {
		t.Error("the command ran again")
	}
}

func TestCancelFileBeforeStart(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	dir, path := attemptDir(t, srv.Manifest("a3", "sh", "-c", "echo ran >> count"))
	_ = os.WriteFile(filepath.Join(dir, agent.CancelFile), nil, 0o600)
	agent.RunWith(context.Background(), path, quick())
	if x := srv.Exit("a3"); x == nil || x.Error != agent.ErrCancelled {
		t.Errorf("exit %+v, want cancelled", x)
	}
	if _, err := os.Stat(filepath.Join(dir, "count")); err == nil {
		t.Error("a cancelled attempt ran its command")
	}
}

// A command that ignores SIGTERM is killed after the grace period.
func TestTimeoutEscalatesToKill(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("a4", "sh", "-c", `trap "" TERM; sleep 30`)
	m.Timeout = v1.Duration{Duration: 200 * time.Millisecond}
	_, path := attemptDir(t, m)
	t0 := time.Now()
	agent.RunWith(context.Background(), path, quick())
	x := srv.Exit("a4")
	if x == nil || !x.TimedOut || x.Signal != 9 {
		t.Fatalf("exit %+v, want timed out by SIGKILL", x)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// Background processes of the command do not outlive it nor hold the agent.
func TestLeftoversKilled(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	dir, path := attemptDir(t, srv.Manifest("a5", "sh", "-c", `sleep 30 & echo $! > bg.pid`))
	t0 := time.Now()
	if code := agent.RunWith(context.Background(), path, quick()); code != agent.ExitDelivered {
		t.Fatalf("exit %d", code)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a background process held the agent for %s", d)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bg.pid"))
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil {
		t.Fatalf("bg.pid: %q", b)
	}
	if !backendtest.Eventually(2*time.Second, func() bool { return !sandbox.Alive(pid, 0) }) {
		t.Errorf("background process %d still runs", pid)
	}
}

func TestMemoryLimit(t *testing.T) {
	if sandbox.Probe().Cgroup {
		t.Skip("cgroup v2 here: the conformance suite's OOM test covers it")
	}
	srv := backendtest.NewFakeServer(t)
	big := srv.Manifest("big", "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1")
	big.Resources.Memory = "64Mi"
	_, path := attemptDir(t, big)
	agent.RunWith(context.Background(), path, quick())
	if x := srv.Exit("big"); x == nil || x.Code == 0 {
		t.Errorf("a 200M buffer under a 64Mi limit: exit %+v, want a failure\n%s", x, logText(srv, "big"))
	}
	if !strings.Contains(logText(srv, "big"), "RLIMIT_AS") {
		t.Errorf("the log does not say how memory was limited:\n%s", logText(srv, "big"))
	}
	small := srv.Manifest("small", "dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1")
	small.Resources.Memory = "64Mi"
	_, path = attemptDir(t, small)
	agent.RunWith(context.Background(), path, quick())
	if x := srv.Exit("small"); x == nil || x.Code != 0 {
		t.Errorf("an 8M buffer under a 64Mi limit: exit %+v\n%s", x, logText(srv, "small"))
	}
}

func TestBadPathsRefused(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	for _, outputs := range []map[string]string{
		{"x": "../outside"},
		{"x": "/abs"},
		{"x": agent.ResultFile},
		{"x": "outbox/events.jsonl"},
	} {
		m := srv.Manifest("bad", "true")
		m.Outputs = outputs
		_, path := attemptDir(t, m)
		agent.RunWith(context.Background(), path, quick())
		if x := srv.Exit("bad"); x == nil || x.Error == "" || x.Code != -1 {
			t.Errorf("outputs %v: exit %+v, want refused", outputs, x)
		}
	}
}

func TestEnvironment(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	in := srv.PutArtifact("ref/data", []byte("1,2,3\n"), false)
	m := srv.Manifest("env", "sh", "-c", `echo "inputs=$KOYA_INPUTS"; echo "data=$(cat "$KOYA_INPUT_MY_DATA")"; echo "attempt=$KOYA_ATTEMPT index=$KOYA_INDEX"; env | grep -c KOYA_AGENT_ || true`)
	m.Inputs = []v1.InputSpec{{Name: "my-data", Path: "in/data.csv", Artifacts: []v1.Output{in}}}
	m.Index, m.Number = 2, 3
	t.Setenv("KOYA_AGENT_SECRET_TUNABLE", "x")
	dir, path := attemptDir(t, m)
	agent.RunWith(context.Background(), path, quick())
	text := logText(srv, "env")
	for _, want := range []string{
		`inputs={"my-data":"` + filepath.Join(dir, "in/data.csv") + `"}`,
		"data=1,2,3", "attempt=3 index=2", "\n0\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
}

// Not root, network: none is refused before anything runs. The test runs
// the agent (this test binary) as nobody.
func TestNetworkNoneNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the agent as another user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "koya-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "agent")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("nobody", "sh", "-c", "echo ran > ran")
	m.Network = "none"
	dir := filepath.Join(tmp, "attempt")
	mb, _ := json.Marshal(m)
	for _, err := range []error{os.Chmod(tmp, 0o755), os.Mkdir(dir, 0o700), os.WriteFile(filepath.Join(dir, agent.ManifestFile), mb, 0o600),
		os.Chown(dir, 65534, 65534), os.Chown(filepath.Join(dir, agent.ManifestFile), 65534, 65534)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "KOYA_AGENT_TEST_MANIFEST="+filepath.Join(dir, agent.ManifestFile), "KOYA_AGENT_BACKOFF_MAX=100ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agent as nobody: %v\n%s", err, out)
	}
	x := srv.Exit("nobody")
	if x == nil || x.Error != "network: none needs root on the local backend" {
		t.Fatalf("exit %+v", x)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran")
	}
}

func TestFsyncFromEnv(t *testing.T) {
	for _, c := range []struct {
		val     string
		noFsync bool
		bad     bool
	}{{"", false, false}, {"true", false, false}, {"false", true, false}, {"0", true, false}, {"maybe", false, true}} {
		t.Setenv("KOYA_AGENT_FSYNC", c.val)
		o, err := agent.OptionsFromEnv()
		if (err != nil) != c.bad || o.NoFsync != c.noFsync {
			t.Errorf("KOYA_AGENT_FSYNC=%q: NoFsync %v err %v; want %v bad %v", c.val, o.NoFsync, err, c.noFsync, c.bad)
		}
	}
}

// A command that ends within Options.Linger has its start and exit
// reported in one request, and the agent does not wait out Linger once
// the command has exited.
func TestShortCommandReportsOnce(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	_, path := attemptDir(t, srv.Manifest("a-once", "sleep", "0.2"))
	o := quick()
	o.Linger = 5 * time.Second
	o.Heartbeat = time.Minute
	start := time.Now()
	if code := agent.RunWith(context.Background(), path, o); code != agent.ExitDelivered {
		t.Fatalf("exit %d", code)
	}
	if took := time.Since(start); took >= o.Linger {
		t.Errorf("the agent took %s: it waited out Linger after the exit", took)
	}
	if evs := srv.Events("a-once"); len(evs) != 2 || evs[0].Type != v1.EventStarted || evs[1].Type != v1.EventExited {
		t.Fatalf("events %+v", evs)
	}
	if n := srv.Reports("a-once"); n != 1 {
		t.Errorf("%d reports, want 1 (start and exit together)", n)
	}
}
