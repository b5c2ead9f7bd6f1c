package local_test

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
var testEnv = []string{"KOYA_AGENT_HEARTBEAT=200ms", "KOYA_AGENT_KILL_GRACE=1s", "KOYA_AGENT_BACKOFF_MAX=300ms", "KOYA_AGENT_GIVE_UP=1m"}

func newDriver(t *testing.T, root string) *local.Driver {
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

// waitAgents waits for every agent under root to exit, killing stragglers.
func waitAgents(t *testing.T, root string) {
	dirs, _ := os.ReadDir(root)
	for _, e := range dirs {
		var st struct {
			PID   int    `json:"pid"`
			Start uint64 `json:"start"`
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), agent.PIDFile))
		if err != nil || json.Unmarshal(b, &st) != nil {
			continue
		}
		if !backendtest.Eventually(10*time.Second, func() bool { return !sandbox.Alive(st.PID, st.Start) }) {
			t.Errorf("agent of %s still runs after the test: killing it", e.Name())
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
		}
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
