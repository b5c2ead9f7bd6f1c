package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store/pgtest"
)

// The durability promise: kill -9 of the control plane while a 50-step
// workflow runs, restart it, and the run completes with every step run
// exactly once and no status lost. Tasks run under agents on the local
// backend, detached from the server, so they keep running while it is down
// and deliver what they have to the next server.
//
// It runs on the embedded SQLite and on PostgreSQL (given to the server
// as KOYA_DB, as a deployment would).
func TestKillNineDuringRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers and 50 tasks")
	}
	t.Run("sqlite", func(t *testing.T) { killNineDuringRun(t, newHarness(t)) })
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.Fresh(t)
		h := newHarness(t, "KOYA_DB="+db)
		if log, _ := os.ReadFile(filepath.Join(h.dir, "server.log")); !bytes.Contains(log, []byte("db=postgres")) {
			t.Fatalf("the server did not take KOYA_DB:\n%s", log)
		}
		killNineDuringRun(t, h)
	})
}

func killNineDuringRun(t *testing.T, h *harness) {
	side := t.TempDir() // each step appends one line to side/<step>: the execution count
	// Steps may run as unprivileged task users (tests as root): the
	// directory is theirs to write in (sticky, like /tmp).
	if err := os.Chmod(side, 0o1777); err != nil {
		t.Fatal(err)
	}

	var wf strings.Builder
	wf.WriteString("apiVersion: koya.dev/v1\nkind: Workflow\nmetadata: {name: fifty}\nspec:\n  steps:\n")
	// Five layers of ten: each step needs two of the layer before, so the
	// run has work in flight at every kill.
	for layer := range 5 {
		for i := range 10 {
			name := fmt.Sprintf("l%d_s%d", layer, i)
			fmt.Fprintf(&wf, "    - name: %s\n      command: [sh, -c, 'echo run >> %s/%s; sleep 0.4']\n", name, side, name)
			if layer > 0 {
				fmt.Fprintf(&wf, "      needs: [l%d_s%d, l%d_s%d]\n", layer-1, i, layer-1, (i+1)%10)
			}
		}
	}
	path := filepath.Join(h.dir, "fifty.yaml")
	if err := os.WriteFile(path, []byte(wf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	h.koya("apply", "-f", path)
	var run v1.Run
	h.koyaJSON(&run, "run", "fifty", "-o", "json")

	// Kill at several points: early, in the middle, near the end.
	for _, atLeast := range []int{3, 20, 38} {
		h.waitSucceeded(run.Metadata.Name, atLeast)
		h.kill9()
		time.Sleep(700 * time.Millisecond) // tasks go on without a control plane
		h.start()
	}
	final := h.waitDone(run.Metadata.Name, 3*time.Minute)
	if final.Status.Phase != v1.Succeeded {
		t.Fatalf("run ended %s: %s", final.Status.Phase, final.Status.Message)
	}
	if len(final.Status.Steps) != 50 {
		t.Fatalf("%d step statuses, want 50", len(final.Status.Steps))
	}
	for _, s := range final.Status.Steps {
		if s.Phase != v1.Succeeded {
			t.Errorf("step %s is %s (%s)", s.Name, s.Phase, s.Message)
		}
		b, err := os.ReadFile(filepath.Join(side, s.Name))
		if err != nil {
			t.Errorf("step %s never ran: %v", s.Name, err)
			continue
		}
		if n := strings.Count(string(b), "run"); n != 1 {
			t.Errorf("step %s ran %d times", s.Name, n)
		}
	}
}

// harness runs the real koya binary: a server on a fixed loopback port (so
// that agents find it again after a restart) and CLI commands against it.
type harness struct {
	t      *testing.T
	bin    string
	dir    string
	addr   string
	env    []string
	server *exec.Cmd
}

// newHarness starts a server with this environment added (KOYA_DB=...).
func newHarness(t *testing.T, env ...string) *harness {
	t.Helper()
	h := &harness{t: t, bin: koyaBinary(t), dir: t.TempDir(), addr: freeAddr(t)}
	// Tasks (unprivileged users when tests run as root) pass through the
	// data directory's parents, as they would through /var/lib.
	for _, d := range []string{h.dir, filepath.Dir(h.dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	h.env = append(os.Environ(), "HOME="+h.dir, "KOYA_CONFIG="+filepath.Join(h.dir, "config.yaml"),
		"KOYA_SERVER=", "KOYA_TOKEN=", "KOYA_PROJECT=")
	h.env = append(h.env, env...)
	h.start()
	t.Cleanup(func() {
		if h.server != nil && h.server.Process != nil {
			_ = h.server.Process.Signal(syscall.SIGTERM)
			_ = h.server.Wait()
		}
	})
	return h
}

func (h *harness) start() {
	h.t.Helper()
	log, err := os.OpenFile(filepath.Join(h.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "server", "--addr", h.addr, "--data-dir", filepath.Join(h.dir, "data"))
	cmd.Env, cmd.Stdout, cmd.Stderr = h.env, log, log
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.server = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := h.run("get", "projects"); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "server.log"))
	h.t.Fatalf("server did not come up on %s:\n%s", h.addr, b)
}

func (h *harness) kill9() {
	h.t.Helper()
	if err := h.server.Process.Signal(syscall.SIGKILL); err != nil {
		h.t.Fatal(err)
	}
	_ = h.server.Wait()
	h.server = nil
}

func (h *harness) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("koya %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (h *harness) koya(args ...string) string {
	h.t.Helper()
	out, err := h.run(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) koyaJSON(v any, args ...string) {
	h.t.Helper()
	if err := json.Unmarshal([]byte(h.koya(args...)), v); err != nil {
		h.t.Fatalf("koya %s: %v", strings.Join(args, " "), err)
	}
}

func (h *harness) getRun(id string) v1.Run {
	h.t.Helper()
	var r v1.Run
	h.koyaJSON(&r, "get", "run", id, "-o", "json")
	return r
}

func (h *harness) waitSucceeded(id string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		r := h.getRun(id)
		done := 0
		for _, s := range r.Status.Steps {
			if s.Phase == v1.Succeeded {
				done++
			}
		}
		if done >= n || r.Status.Phase.Done() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("run %s: fewer than %d steps succeeded in time", id, n)
}

func (h *harness) waitDone(id string, limit time.Duration) v1.Run {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if r := h.getRun(id); r.Status.Phase.Done() {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.t.Fatalf("run %s did not finish within %v", id, limit)
	return v1.Run{}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var builtKoya string

func TestMain(m *testing.M) {
	code := m.Run()
	if builtKoya != "" {
		os.RemoveAll(filepath.Dir(builtKoya))
	}
	os.Exit(code)
}

// koyaBinary builds cmd/koya once per test process.
func koyaBinary(t *testing.T) string {
	t.Helper()
	if builtKoya != "" {
		return builtKoya
	}
	dir, err := os.MkdirTemp("", "koya-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "koya")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	builtKoya = bin
	return bin
}
