package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets this test binary be the agent that the local backend
// starts ("<binary> agent --manifest ..."), as the koya binary is in
// production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(Main(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// harness runs `koya server` in this process on a loopback port (SQLite
// and artifacts in a temp dir, steps on the mock backend unless they name
// local) and runs CLI commands against it, as a user would.
type harness struct {
	t       *testing.T
	dir     string
	config  string
	url     string
	logs    *syncBuffer
	stop    context.CancelFunc
	stopped chan int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	// Tasks (unprivileged users when tests run as root) pass through the
	// data directory's parents, as they would through /var/lib.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, dir: dir, config: filepath.Join(dir, "config.yaml"), logs: &syncBuffer{}, stopped: make(chan int, 1)}
	t.Setenv("HOME", dir)
	t.Setenv("KOYA_CONFIG", h.config)
	t.Setenv("KOYA_KEK_FILE", filepath.Join(h.dir, "kek"))
	for _, k := range []string{"KOYA_SERVER", "KOYA_TOKEN", "KOYA_PROJECT"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		h.stopped <- Run(ctx, []string{"server", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
			"--backend", "mock", "--log-level", "debug"}, nil, h.logs, h.logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.stopped:
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	// The server writes the CLI config once it listens.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-h.stopped:
			t.Fatalf("the server exited with %d:\n%s", code, h.logs.String())
		default:
		}
		if cfg, err := loadConfig(h.config); err == nil {
			if x, ok := cfg.context("local"); ok {
				h.url = x.Server
				if _, _, code := h.run("get", "projects"); code == 0 {
					return h
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server did not come up:\n%s", h.logs.String())
	return nil
}

// run runs one koya command and returns its stdout, stderr and exit code.
func (h *harness) run(args ...string) (string, string, int) {
	return h.runIn("", args...)
}

func (h *harness) runIn(stdin string, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// koya runs a command that must succeed and returns its stdout.
func (h *harness) koya(args ...string) string {
	h.t.Helper()
	out, errOut, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("koya %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// koyaJSON runs a command with -o json and decodes its output.
func (h *harness) koyaJSON(v any, args ...string) {
	h.t.Helper()
	out := h.koya(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("koya %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs a command that must fail with code and returns its stderr.
func (h *harness) fails(code int, args ...string) string {
	h.t.Helper()
	out, errOut, got := h.run(args...)
	if got != code {
		h.t.Fatalf("koya %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return errOut
}

func (h *harness) write(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
