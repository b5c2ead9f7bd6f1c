package container_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
	"github.com/koya-dev/koya/internal/backend/container"
)

// The tests need a Docker API: Podman's (scripts/podman.sh sets it up and
// prints its address) or Docker's, named by KOYA_TEST_DOCKER or
// DOCKER_HOST, with the images koya-test/busybox and koya-test/entrypoint.
var (
	engineHost string
	agentBin   string // the static agent, built once
	skipWhy    string
)

const (
	testImage       = "koya-test/busybox"
	entrypointImage = "koya-test/entrypoint"
	// probeIface holds the test's own addresses on this machine: the
	// metadata address and one that containers with egress reach (a
	// documentation address, TEST-NET-1).
	probeIface = "koyameta"
	probeAddr  = "192.0.2.10"
	metaAddr   = "169.254.169.254"
)

func TestMain(m *testing.M) {
	engineHost = os.Getenv("KOYA_TEST_DOCKER")
	if engineHost == "" {
		engineHost = os.Getenv("DOCKER_HOST")
	}
	if engineHost == "" {
		skipWhy = "no container engine: set KOYA_TEST_DOCKER (or DOCKER_HOST) to a Docker API socket; `bash scripts/podman.sh` sets Podman up and prints it (scripts/test.sh does)"
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "koya-container-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The agent alone (the same code as `koya agent`), static: it runs in
	// images without a libc.
	agentBin = filepath.Join(dir, "koya")
	build := exec.Command("go", "build", "-o", agentBin, "github.com/koya-dev/koya/internal/agent/cmd/koya-agent-test")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	if probeCreated {
		_ = exec.Command("ip", "link", "del", probeIface).Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func needEngine(t testing.TB) {
	t.Helper()
	if skipWhy != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(skipWhy)
		}
		t.Skip(skipWhy)
	}
}

// testEnv makes agents quick to notice things.
var testEnv = []string{"KOYA_AGENT_HEARTBEAT=200ms", "KOYA_AGENT_KILL_GRACE=1s", "KOYA_AGENT_BACKOFF_MAX=300ms", "KOYA_AGENT_GIVE_UP=1m"}

func newDriver(t testing.TB, root string, tweak ...func(*container.Options)) *container.Driver {
	t.Helper()
	needEngine(t)
	o := container.Options{Host: engineHost, Root: root, AgentPath: agentBin, Env: testEnv, DefaultImage: testImage}
	for _, f := range tweak {
		f(&o)
	}
	d, err := container.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		removeContainers(t, d)
		d.Close()
	})
	return d
}

// removeContainers removes what the tests of a driver's root left.
func removeContainers(t testing.TB, d *container.Driver) {
	ctx := context.Background()
	res, err := d.Client().ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", container.LabelRoot+"="+d.RootID())})
	if err != nil {
		t.Logf("listing containers: %v", err)
		return
	}
	for _, c := range res.Items {
		var err error
		for i := 0; i < 20; i++ {
			if _, err = d.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // Podman refuses a container caught stopping
		}
		if err != nil {
			t.Errorf("removing container %s: %v", c.Names, err)
		}
	}
}

// engineLogs is the agent's own log (the container's output).
func engineLogs(d *container.Driver, attemptID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := d.Client().ContainerLogs(ctx, d.ContainerName(attemptID), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	var b strings.Builder
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 8 && line[0] <= 2 { // multiplexed: 8-byte headers
			line = line[8:]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func TestConformance(t *testing.T) {
	needEngine(t)
	probeInterface(t)
	drivers := sync.Map{}
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, env backendtest.Env) backend.Driver {
			d := newDriver(t, filepath.Join(env.Dir, "attempts"))
			drivers.Store(env.Dir, d)
			return d
		},
		Processes:       true,
		SurvivesRestart: true,
		Wait:            60 * time.Second,
		Debug: func(env backendtest.Env, id string) string {
			d, ok := drivers.Load(env.Dir)
			if !ok {
				return ""
			}
			return engineLogs(d.(*container.Driver), id)
		},
		NetworkProbe: func(t *testing.T, env backendtest.Env) []string {
			addr, _ := listen(t, probeAddr)
			host, port, _ := net.SplitHostPort(addr)
			return []string{"sh", "-c", "nc -w 3 " + host + " " + port + " </dev/null && echo connected"}
		},
		Mark: func(t *testing.T, env backendtest.Env) (string, func() int) {
			addr, count := listen(t, probeAddr)
			host, port, _ := net.SplitHostPort(addr)
			return "echo ran | nc -w 3 " + host + " " + port, count
		},
	})
}

// probeInterface puts the test's addresses on an interface of this
// machine (a dummy, or an empty bridge where the kernel has no dummy
// driver), idempotently; it stays for the other tests of the run.
func probeInterface(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("adding the probe addresses needs root")
	}
	probeOnce.Do(func() {
		if exec.Command("ip", "link", "show", probeIface).Run() != nil {
			if out, err := exec.Command("ip", "link", "add", probeIface, "type", "dummy").CombinedOutput(); err != nil {
				if out2, err2 := exec.Command("ip", "link", "add", probeIface, "type", "bridge").CombinedOutput(); err2 != nil {
					probeErr = fmt.Errorf("ip link add: %s / %s", out, out2)
					return
				}
			}
			probeCreated = true
		}
		for _, a := range []string{metaAddr + "/32", probeAddr + "/32"} {
			out, err := exec.Command("ip", "addr", "add", a, "dev", probeIface).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "File exists") && !strings.Contains(string(out), "already assigned") {
				probeErr = fmt.Errorf("ip addr add %s: %s", a, out)
				return
			}
		}
		if out, err := exec.Command("ip", "link", "set", probeIface, "up").CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("ip link set up: %s", out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
}

var (
	probeOnce    sync.Once
	probeErr     error
	probeCreated bool // by this process: removed at the end
)

// listen serves TCP on host (a port of its own) for the test's life; it
// counts the connections that said "ran".
func listen(t testing.TB, host string) (addr string, ran func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.TrimSpace(line) == "ran" {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}
