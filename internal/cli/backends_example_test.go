package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend/kubernetes/kubetest"
)

// TestExampleRunsOnEveryBackend applies examples/backends/hello.yaml once
// per backend, unchanged, to a server whose default backend is that one,
// and runs it to success: local processes; containers (Podman's Docker
// API from scripts/podman.sh, $KOYA_TEST_DOCKER: skipped when absent,
// failed when $CI is set); Kubernetes against the test API server with
// kwok (scripts/kube.sh, $KOYA_TEST_KUBECONFIG), where the run completes
// from the pods' statuses alone: no agent runs under kwok.
func TestExampleRunsOnEveryBackend(t *testing.T) {
	example, err := filepath.Abs("../../examples/backends/hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("local", func(t *testing.T) {
		h := newHarnessArgs(t, "--backend", "local")
		runExample(t, h, example, true)
	})
	t.Run("container", func(t *testing.T) {
		host := os.Getenv("KOYA_TEST_DOCKER")
		if host == "" {
			msg := "no container engine: set KOYA_TEST_DOCKER (bash scripts/podman.sh prints it)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		agent := filepath.Join(t.TempDir(), "koya")
		build := exec.Command("go", "build", "-o", agent, "github.com/koya-dev/koya/cmd/koya")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building a static agent: %v\n%s", err, out)
		}
		// Short: relay sockets live under it (a Unix socket path is ≤ 107 bytes).
		data, err := os.MkdirTemp("", "kx")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(data) })
		if err := os.Chmod(data, 0o711); err != nil {
			t.Fatal(err)
		}
		h := newHarnessArgs(t, "--backend", "container", "--container-host", host, "--container-agent", agent,
			"--container-allow-metadata", "--data-dir", data)
		runExample(t, h, example, true)
	})
	t.Run("kubernetes", func(t *testing.T) {
		kubetest.Config(t) // skips (or fails under $CI) without a test cluster
		prefix := "kx" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")) + "-"
		h := newHarnessArgs(t, "--backend", "kubernetes", "--kubeconfig", os.Getenv(kubetest.EnvKubeconfig),
			"--kubernetes-agent-image", "koya/agent:kwok", "--kubernetes-kwok", "--kubernetes-namespace-prefix", prefix)
		runExample(t, h, example, false)
	})
}

func runExample(t *testing.T, h *harness, example string, logs bool) {
	t.Helper()
	h.koya("apply", "-f", example)
	out, errOut, code := h.run("run", "hello", "--follow")
	if code != 0 || !strings.Contains(out, "Succeeded") {
		var runs []v1.Run
		h.koyaJSON(&runs, "get", "runs", "--workflow", "hello")
		detail := ""
		if len(runs) > 0 {
			detail, _, _ = h.run("describe", "run", runs[0].Metadata.Name)
		}
		t.Fatalf("run hello: exit %d\n%s%s\n%s", code, out, errOut, detail)
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs", "--workflow", "hello")
	if len(runs) != 1 || runs[0].Status.Phase != v1.Succeeded {
		t.Fatalf("runs %+v", runs)
	}
	if !logs {
		return // kwok runs no command: nothing is logged
	}
	text := h.koya("logs", runs[0].Metadata.Name)
	for _, want := range []string{"hello from greet", "2 squared is 4", "3 squared is 9"} {
		if !strings.Contains(text, want) {
			t.Errorf("logs lack %q:\n%s", want, text)
		}
	}
}

// newHarnessArgs is newHarness with the server's backend flags.
func newHarnessArgs(t *testing.T, serverArgs ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, dir: dir, config: filepath.Join(dir, "config.yaml"), logs: &syncBuffer{}, stopped: make(chan int, 1)}
	t.Setenv("HOME", dir)
	t.Setenv("KOYA_CONFIG", h.config)
	t.Setenv("KOYA_KEK_FILE", filepath.Join(h.dir, "kek"))
	for _, k := range []string{"KOYA_SERVER", "KOYA_TOKEN", "KOYA_PROJECT", "KUBECONFIG", "DOCKER_HOST"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--log-level", "debug"}, serverArgs...)
	go func() { h.stopped <- Run(ctx, args, nil, h.logs, h.logs) }()
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
	deadline := time.Now().Add(60 * time.Second)
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
