package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/agent/sandbox"

	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
	"github.com/koya-dev/koya/internal/backend/local"
)

// agentBin is the agent built once for all tests.
var agentBin string

func TestMain(m *testing.M) {
	if os.Getenv("KOYA_TEST_CONTROL_PLANE") != "" {
		controlPlane()
		return
	}
	dir, err := os.MkdirTemp("", "koya-local-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "koya-agent-test")
	build := exec.Command("go", "build", "-o", agentBin, "github.com/koya-dev/koya/internal/agent/cmd/koya-agent-test")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testEnv makes agents quick to notice things: short heartbeats (acks
// carry cancels), short kill grace and retry cap.
var testEnv = []string{"KOYA_AGENT_HEARTBEAT=200ms", "KOYA_AGENT_KILL_GRACE=1s", "KOYA_AGENT_BACKOFF_MAX=300ms", "KOYA_AGENT_GIVE_UP=1m", "KOYA_AGENT_HOST_IDLE=500ms"}

// openUp makes the temporary directories above root traversable, as a
// data directory is (tasks run as unprivileged users when tests run as
// root, and t.TempDir makes 0700 directories).
func openUp(t *testing.T, root string) {
	for d := filepath.Dir(root); d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

func newDriver(t *testing.T, root string) *local.Driver {
	openUp(t, root)
	d, err := local.New(local.Options{Root: root, AgentPath: agentBin, Env: testEnv})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, env backendtest.Env) backend.Driver {
			root := filepath.Join(env.Dir, "attempts")
			// Agents deliver a little after the test saw their exit: let
			// them finish before the directory goes.
			t.Cleanup(func() { waitAgents(t, root) })
			return newDriver(t, root)
		},
		Processes:       true,
		SurvivesRestart: true,
		Debug: func(env backendtest.Env, id string) string {
			b, _ := os.ReadFile(filepath.Join(env.Dir, "attempts", id, "agent.log"))
			return string(b)
		},
	})
}

// waitAgents waits for every agent under root to end and the agent host
// to exit (it does once idle), killing a host that stays.
func waitAgents(t *testing.T, root string) {
	dirs, _ := os.ReadDir(root)
	for _, e := range dirs {
		dir := filepath.Join(root, e.Name())
		if !backendtest.Eventually(10*time.Second, func() bool { return !agent.Running(dir) }) {
			t.Errorf("the agent of %s still runs after the test", e.Name())
		}
	}
	if !backendtest.Eventually(10*time.Second, func() bool { return !sandbox.Held(filepath.Join(root, agent.HostLock)) }) {
		t.Errorf("the agent host of %s still runs after the test", root)
	}
}

// controlPlane is a stand-in control plane run as a child process: it
// starts the manifest's attempt, prints the handle and waits to be killed.
func controlPlane() {
	d, err := local.New(local.Options{Root: os.Getenv("KOYA_TEST_ROOT"), AgentPath: os.Getenv("KOYA_TEST_AGENT"), Env: testEnv})
	if err != nil {
		panic(err)
	}
	var m v1.TaskManifest
	b, _ := os.ReadFile(os.Getenv("KOYA_TEST_CONTROL_PLANE"))
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	h, err := backend.New(d).Start(context.Background(), &m)
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(h)
	fmt.Println(string(out))
	select {}
}

// The agent outlives a control plane killed with SIGKILL, and a new one
// recovers the attempt and sees it through.
func TestAgentSurvivesControlPlaneKill(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	openUp(t, root)
	t.Cleanup(func() { waitAgents(t, root) })
	m := srv.Manifest("survivor", "sh", "-c", "sleep 1; echo survived")
	mf := filepath.Join(t.TempDir(), "m.json")
	b, _ := json.Marshal(m)
	if err := os.WriteFile(mf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cp := exec.Command(os.Args[0], "-test.run=^$")
	cp.Env = append(os.Environ(), "KOYA_TEST_CONTROL_PLANE="+mf, "KOYA_TEST_ROOT="+root, "KOYA_TEST_AGENT="+agentBin)
	stdout, err := cp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cp.Stderr = os.Stderr
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	var h backend.Handle
	if err := json.NewDecoder(stdout).Decode(&h); err != nil {
		_ = cp.Process.Kill()
		t.Fatalf("reading the handle: %v", err)
	}
	_ = cp.Process.Kill() // SIGKILL
	_ = cp.Wait()

	b2 := backend.New(newDriver(t, root))
	ctx := context.Background()
	if err := b2.Recover(ctx, h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if st, err := b2.Status(ctx, h); err != nil || st.Phase != v1.Running {
		t.Fatalf("Status after the control plane died: %+v %v", st, err)
	}
	exit := srv.WaitExit(t, "survivor", 20*time.Second)
	if exit.Code != 0 || exit.Error != "" {
		t.Fatalf("exit %+v", exit)
	}
	var text string
	for _, l := range srv.Logs("survivor") {
		text += l.Text + "\n"
	}
	if !strings.Contains(text, "survived") {
		t.Errorf("log: %q", text)
	}
}

// Status tells a dead agent without a result (killed with the machine) as
// Lost; Cleanup then removes the directory.
func TestLostAgent(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	b := backend.New(newDriver(t, root))
	ctx := context.Background()
	h, err := b.Start(ctx, srv.Manifest("doomed", "sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ PID int }
	_ = json.Unmarshal(h.State, &st)
	if !backendtest.Eventually(5*time.Second, func() bool { return len(srv.Events("doomed")) > 0 }) {
		t.Fatal("never started")
	}
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
	if !backendtest.Eventually(5*time.Second, func() bool { s, _ := b.Status(ctx, h); return s.Phase == v1.Lost }) {
		s, _ := b.Status(ctx, h)
		t.Fatalf("status %s, want Lost", s.Phase)
	}
	if err := b.Cleanup(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "doomed")); err == nil {
		t.Error("the attempt directory is still there")
	}
}

// handlePID is the agent host a handle's attempt went to.
func handlePID(t *testing.T, h backend.Handle) int {
	t.Helper()
	var st struct{ PID int }
	if err := json.Unmarshal(h.State, &st); err != nil || st.PID == 0 {
		t.Fatalf("handle state %s: no host pid (%v)", h.State, err)
	}
	return st.PID
}

// The attempts of a root share one agent host process, and each still
// reports on its own.
func TestOneHostForManyAttempts(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	b := backend.New(newDriver(t, root))
	ctx := context.Background()
	pids := map[int]bool{}
	for i := range 20 {
		id := fmt.Sprintf("many-%d", i)
		h, err := b.Start(ctx, srv.Manifest(id, "sh", "-c", fmt.Sprintf("echo hello %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		pids[handlePID(t, h)] = true
	}
	if len(pids) != 1 {
		t.Errorf("attempts went to %d agent hosts, want 1: %v", len(pids), pids)
	}
	for i := range 20 {
		id := fmt.Sprintf("many-%d", i)
		if exit := srv.WaitExit(t, id, 20*time.Second); exit.Code != 0 || exit.Error != "" {
			t.Errorf("%s: exit %+v", id, exit)
		}
		var text string
		for _, l := range srv.Logs(id) {
			text += l.Text
		}
		if want := fmt.Sprintf("hello %d", i); text != want {
			t.Errorf("%s: log %q, want %q", id, text, want)
		}
	}
}

// A driver with another agent binary drains the running host, which sees
// its attempt through, and starts a host of its own.
func TestHostOfAnotherVersionIsReplaced(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	ctx := context.Background()
	old := backend.New(newDriver(t, root))
	h1, err := old.Start(ctx, srv.Manifest("old", "sh", "-c", "sleep 1; echo done"))
	if err != nil {
		t.Fatal(err)
	}

	// The same agent under another name and time is another version.
	bin := filepath.Join(t.TempDir(), "koya-agent-next")
	b, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	next, err := local.New(local.Options{Root: root, AgentPath: bin, Env: testEnv})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := backend.New(next).Start(ctx, srv.Manifest("new", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if p1, p2 := handlePID(t, h1), handlePID(t, h2); p1 == p2 {
		t.Fatalf("both attempts in host %d; want the old host replaced", p1)
	}
	for _, id := range []string{"old", "new"} {
		if exit := srv.WaitExit(t, id, 20*time.Second); exit.Code != 0 || exit.Error != "" {
			t.Errorf("%s: exit %+v", id, exit)
		}
	}
	if st, err := backend.New(next).Status(ctx, h1); err != nil || st.Phase != v1.Succeeded {
		t.Errorf("status of the old host's attempt: %+v %v", st, err)
	}
}

// The agent host removes the directories of delivered attempts once they
// are older than KOYA_AGENT_KEEP (successes) or KOYA_AGENT_KEEP_FAILED;
// running attempts stay.
func TestHostSweepsFinishedAttempts(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	env := append(append([]string(nil), testEnv...), "KOYA_AGENT_KEEP=1s", "KOYA_AGENT_KEEP_FAILED=1h")
	openUp(t, root)
	d, err := local.New(local.Options{Root: root, AgentPath: agentBin, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	b := backend.New(d)
	ctx := context.Background()
	for _, m := range []*v1.TaskManifest{srv.Manifest("ok", "true"), srv.Manifest("bad", "false"), srv.Manifest("long", "sleep", "4")} {
		if _, err := b.Start(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	srv.WaitExit(t, "ok", 10*time.Second)
	srv.WaitExit(t, "bad", 10*time.Second)
	gone := func(id string) bool { _, err := os.Stat(filepath.Join(root, id)); return os.IsNotExist(err) }
	if !backendtest.Eventually(10*time.Second, func() bool { return gone("ok") }) {
		t.Fatal("the succeeded attempt's directory is still there")
	}
	if gone("bad") || gone("long") {
		t.Errorf("a failed (kept 1h) or running attempt's directory was removed")
	}
	srv.WaitExit(t, "long", 20*time.Second)
}

// Run as root, the local backend runs each task as an unprivileged user
// of its own: it cannot read another attempt's files, the agent's files
// of its own attempt (the token), the control plane's database or the
// KEK, and its connections to the cloud metadata address are refused.
func TestTaskIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("task users need root")
	}
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	b := backend.New(newDriver(t, root))
	ctx := context.Background()
	db := filepath.Join(filepath.Dir(root), "koya.db") // where the data directory keeps it
	kek := filepath.Join(t.TempDir(), "kek")
	for p, v := range map[string]string{db: "DB-CONTENT", kek: "KEK-CONTENT"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Start(ctx, srv.Manifest("first", "sh", "-c", "echo private > mine.txt; sleep 3")); err != nil {
		t.Fatal(err)
	}
	if !backendtest.Eventually(10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(root, "first", agent.WorkDirName, "mine.txt"))
		return err == nil
	}) {
		t.Fatal("the first task never wrote its file")
	}
	probe := fmt.Sprintf(`echo "uid=$(id -u)"; for f in %s %s %s %s; do cat "$f" || echo "refused $f"; done`,
		filepath.Join(root, "first", agent.WorkDirName, "mine.txt"), filepath.Join(root, "second", agent.ManifestFile), db, kek)
	if _, err := b.Start(ctx, srv.Manifest("second", "sh", "-c", probe)); err != nil {
		t.Fatal(err)
	}
	srv.WaitExit(t, "second", 20*time.Second)
	lines := logLines(srv, "second")
	text := strings.Join(lines, "\n")
	// stdout and stderr lines may interleave either way: look for the uid.
	uid := -1
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "uid="); ok {
			uid, _ = strconv.Atoi(v)
		}
	}
	if uid < sandbox.TaskUIDBase {
		t.Errorf("the task ran as uid %d, want a task user:\n%s", uid, text)
	}
	for _, leak := range []string{"private", "DB-CONTENT", "KEK-CONTENT", srv.Manifest("second", "x").Token} {
		if strings.Contains(text, leak) {
			t.Errorf("the task read %q:\n%s", leak, text)
		}
	}
	if n := strings.Count(text, "refused "); n != 4 {
		t.Errorf("%d of 4 reads refused:\n%s", n, text)
	}

	// The host blocked the metadata address for task users when it
	// started; the connection is only tried once the rule is seen.
	if _, err := exec.LookPath("iptables"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("iptables is missing: scripts/test.sh installs it")
		}
		t.Skip("iptables is not installed")
	}
	rules, _ := exec.Command("iptables", "-w", "-S", "OUTPUT").Output()
	if !strings.Contains(string(rules), "169.254.169.254") {
		t.Fatalf("no rule for the metadata address:\n%s", rules)
	}
	if _, err := b.Start(ctx, srv.Manifest("metadata", "bash", "-c", "exec 3<>/dev/tcp/169.254.169.254/80 && echo connected")); err != nil {
		t.Fatal(err)
	}
	exit := srv.WaitExit(t, "metadata", 20*time.Second)
	lines = logLines(srv, "metadata")
	if exit.Code == 0 || !strings.Contains(strings.Join(lines, "\n"), "refused") {
		t.Errorf("metadata connection: exit %+v, log %q; want refused", exit, lines)
	}
}

// A task user's working directory is its attempt's: an absolute
// workingDir is refused rather than handed to the task user.
func TestTaskUserWorkingDirStaysInside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("task users need root")
	}
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	t.Cleanup(func() { waitAgents(t, root) })
	b := backend.New(newDriver(t, root))
	victim := t.TempDir()
	m := srv.Manifest("abs", "true")
	m.WorkDir = victim
	if _, err := b.Start(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	exit := srv.WaitExit(t, "abs", 20*time.Second)
	if exit.Code == 0 || !strings.Contains(exit.Error, "workingDir") {
		t.Errorf("exit %+v, want the workingDir refused", exit)
	}
	if st, err := os.Stat(victim); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the directory named by workingDir changed owner")
	}
}

// logLines is the text of an attempt's log lines, in order of arrival.
func logLines(srv *backendtest.FakeServer, id string) []string {
	var lines []string
	for _, l := range srv.Logs(id) {
		lines = append(lines, l.Text)
	}
	return lines
}
