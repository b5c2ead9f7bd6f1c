package container_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
	"github.com/koya-dev/koya/internal/backend/container"
)

// run starts m on d and waits for its exit; it returns the exit and the
// task's log.
func run(t *testing.T, d *container.Driver, srv *backendtest.FakeServer, m *v1.TaskManifest) (v1.Exit, string) {
	t.Helper()
	if _, err := backend.New(d).Start(context.Background(), m); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log of %s:\n%s", m.AttemptID, engineLogs(d, m.AttemptID))
		}
	})
	exit := srv.WaitExit(t, m.AttemptID, 60*time.Second)
	return exit, logText(srv, m.AttemptID)
}

func logText(srv *backendtest.FakeServer, id string) string {
	var b strings.Builder
	for _, l := range srv.Logs(id) {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

func inspect(t *testing.T, d *container.Driver, id string) client.ContainerInspectResult {
	t.Helper()
	res, err := d.Client().ContainerInspect(context.Background(), d.ContainerName(id), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspecting the container of %s: %v", id, err)
	}
	return res
}

// Containers run locked down: a non-root user, no capabilities, no new
// privileges, the default seccomp profile, a read-only root with a
// writable /tmp, the step's limits, labels; the token stays outside.
func TestLockedDown(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	d := newDriver(t, filepath.Join(t.TempDir(), "attempts"))
	m := srv.Manifest("locked", "sh", "-c", `echo "uid=$(id -u) gid=$(id -g)"
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
touch /in-root 2>/dev/null && echo root-writable
touch /tmp/x && echo tmp-writable
touch /koya/koya 2>/dev/null && echo agent-writable
grep -o '"server":"[^"]*"' /koya/run/manifest.json
env`)
	m.Resources = v1.Resources{Memory: "128Mi", CPU: 0.5}
	exit, text := run(t, d, srv, m)
	if exit.Code != 0 || exit.Error != "" {
		t.Fatalf("exit %+v\n%s", exit, text)
	}
	for _, want := range []string{"uid=65534 gid=65534\n", "CapEff:\t0000000000000000\n", "CapBnd:\t0000000000000000\n",
		"NoNewPrivs:\t1\n", "Seccomp:\t2\n", "tmp-writable\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the task's log lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"\nroot-writable\n", "\nagent-writable\n", m.Token} {
		if strings.Contains(text, bad) {
			t.Errorf("the task's log holds %q:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, `"server":"`+container.ServerInContainer+`"`) {
		t.Errorf("the container's manifest does not point at the relay:\n%s", text)
	}

	c := inspect(t, d, "locked").Container
	hc := c.HostConfig
	if c.Config.User != "65534:65534" {
		t.Errorf("user %q", c.Config.User)
	}
	// Docker keeps "ALL"; Podman lists the capabilities it dropped.
	if !slices.Contains(hc.CapDrop, "ALL") && !(slices.Contains(hc.CapDrop, "SETUID") && slices.Contains(hc.CapDrop, "NET_RAW") && slices.Contains(hc.CapDrop, "DAC_OVERRIDE")) || len(hc.CapAdd) > 0 {
		t.Errorf("CapDrop %v CapAdd %v, want all dropped", hc.CapDrop, hc.CapAdd)
	}
	if !slices.ContainsFunc(hc.SecurityOpt, func(s string) bool { return strings.HasPrefix(s, "no-new-privileges") }) {
		t.Errorf("SecurityOpt %v, want no-new-privileges", hc.SecurityOpt)
	}
	if slices.ContainsFunc(hc.SecurityOpt, func(s string) bool { return strings.Contains(s, "unconfined") }) || hc.Privileged {
		t.Errorf("SecurityOpt %v, privileged %v", hc.SecurityOpt, hc.Privileged)
	}
	if !hc.ReadonlyRootfs {
		t.Errorf("the root filesystem is writable")
	}
	if hc.Memory != 128<<20 || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 4096 {
		t.Errorf("limits: memory %d, nano cpus %d, pids %v", hc.Memory, hc.NanoCPUs, hc.PidsLimit)
	}
	for k, v := range map[string]string{container.LabelAttempt: "locked", container.LabelProject: "p", container.LabelRun: "run-locked",
		container.LabelStep: "step", container.LabelRoot: d.RootID()} {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, c.Config.Labels[k], v)
		}
	}
	raw, _ := json.Marshal(c)
	if strings.Contains(string(raw), m.Token) {
		t.Errorf("the container's configuration holds the attempt token")
	}
	b, err := os.ReadFile(filepath.Join(d.Root(), "locked", "run", "manifest.json"))
	if err != nil || strings.Contains(string(b), m.Token) {
		t.Errorf("the container's manifest holds the attempt token (%v)", err)
	}
}

// The image's ENTRYPOINT comes before the step's command, which replaces
// the image's CMD.
func TestEntrypointFromImage(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	d := newDriver(t, root)
	m := srv.Manifest("entry", `echo "step-cmd $KOYA_STEP"`)
	m.Image = entrypointImage
	exit, text := run(t, d, srv, m)
	if exit.Code != 0 || exit.Error != "" {
		t.Fatalf("exit %+v\n%s", exit, text)
	}
	if text != "step-cmd step\n" {
		t.Errorf("log %q, want the step's command run by the image's entrypoint /bin/sh -c", text)
	}
	var cm v1.TaskManifest
	b, err := os.ReadFile(filepath.Join(root, "entry", "run", "manifest.json"))
	if err != nil || json.Unmarshal(b, &cm) != nil {
		t.Fatalf("the container's manifest: %v", err)
	}
	if want := []string{"/bin/sh", "-c", `echo "step-cmd $KOYA_STEP"`}; !slices.Equal(cm.Command, want) {
		t.Errorf("command %q, want %q", cm.Command, want)
	}
	if cm.Token != "" {
		t.Errorf("the container's manifest holds a token")
	}
	// The engine's own entrypoint is the agent.
	c := inspect(t, d, "entry").Container
	if !slices.Equal(c.Config.Entrypoint, []string{"/koya/koya"}) {
		t.Errorf("container entrypoint %q", c.Config.Entrypoint)
	}
}

// A step naming an image the engine does not have (and cannot pull here)
// fails at Start with an error naming it.
func TestMissingImage(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	d := newDriver(t, filepath.Join(t.TempDir(), "attempts"))
	m := srv.Manifest("noimage", "true")
	m.Image = "localhost/koya-test/does-not-exist:1"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := backend.New(d).Start(ctx, m)
	if err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Fatalf("Start: %v, want an error naming the image", err)
	}
}

// No container reaches the cloud metadata address, which the host
// reaches, while a container with egress reaches another address of the
// host: the block is specific.
func TestMetadataBlocked(t *testing.T) {
	probeInterface(t)
	srv := backendtest.NewFakeServer(t)
	d := newDriver(t, filepath.Join(t.TempDir(), "attempts"))
	rules, err := exec.Command("iptables", "-w", "-t", "raw", "-S", "PREROUTING").CombinedOutput()
	if err != nil || strings.Count(string(rules), metaAddr) != 1 {
		t.Fatalf("raw PREROUTING rules (want one for %s): %v\n%s", metaAddr, err, rules)
	}
	meta, _ := listen(t, metaAddr)
	probe, _ := listen(t, probeAddr)
	c, err := net.DialTimeout("tcp", meta, 2*time.Second)
	if err != nil {
		t.Fatalf("the host cannot reach %s itself: the test proves nothing: %v", meta, err)
	}
	c.Close()
	mh, mp, _ := net.SplitHostPort(meta)
	ph, pp, _ := net.SplitHostPort(probe)
	m := srv.Manifest("metadata", "sh", "-c",
		"nc -w 3 "+ph+" "+pp+" </dev/null && echo reached-probe; nc -w 3 "+mh+" "+mp+" </dev/null && echo reached-metadata; true")
	exit, text := run(t, d, srv, m)
	if exit.Code != 0 {
		t.Fatalf("exit %+v\n%s", exit, text)
	}
	if !strings.Contains(text, "reached-probe") {
		t.Fatalf("the container could not reach the host's %s: the test proves nothing\n%s", probe, text)
	}
	if strings.Contains(text, "reached-metadata") {
		t.Errorf("the container reached the metadata address %s\n%s", meta, text)
	}
}

// A network: none container has loopback only: it reaches neither the
// host's 127.0.0.1 nor its other addresses, yet its agent reports.
func TestNetworkNoneIsolated(t *testing.T) {
	probeInterface(t)
	srv := backendtest.NewFakeServer(t)
	d := newDriver(t, filepath.Join(t.TempDir(), "attempts"))
	local, _ := listen(t, "127.0.0.1")
	probe, _ := listen(t, probeAddr)
	script := "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' | sed 's/^/iface=/'\n"
	for _, a := range []string{local, probe, net.JoinHostPort(metaAddr, "80")} {
		h, p, _ := net.SplitHostPort(a)
		script += "nc -w 3 " + h + " " + p + " </dev/null && echo connected-" + a + "\n"
	}
	m := srv.Manifest("isolated", "sh", "-c", script+"true")
	m.Network = "none"
	exit, text := run(t, d, srv, m)
	if exit.Code != 0 {
		t.Fatalf("exit %+v\n%s", exit, text)
	}
	if strings.Contains(text, "connected-") {
		t.Errorf("a network: none container connected:\n%s", text)
	}
	if !strings.Contains(text, "iface=lo\n") || strings.Count(text, "iface=") != 1 {
		t.Errorf("interfaces: want lo only:\n%s", text)
	}
	if mode := inspect(t, d, "isolated").Container.HostConfig.NetworkMode; mode != "none" {
		t.Errorf("network mode %q", mode)
	}
}

// The control plane goes away while a task runs (its relay with it): the
// agent keeps its reports, and a new driver over the same root recovers
// the container from its labels, serves the relay again and gets them all.
func TestRecoverAfterControlPlaneDies(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	root := filepath.Join(t.TempDir(), "attempts")
	d1 := newDriver(t, root)
	const n = 15
	m := srv.Manifest("survivor", "sh", "-c", "for i in $(seq 1 15); do echo line $i; sleep 0.2; done")
	h, err := backend.New(d1).Start(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !backendtest.Eventually(60*time.Second, func() bool { return len(srv.Logs("survivor")) > 0 }) {
		t.Fatalf("no log line arrived\n%s", engineLogs(d1, "survivor"))
	}
	d1.Close() // the relay goes with it
	time.Sleep(1500 * time.Millisecond)
	if srv.Exit("survivor") != nil {
		t.Fatal("the task ended before the control plane came back: the test proves nothing")
	}
	d2 := backend.New(newDriver(t, root))
	if err := d2.Recover(context.Background(), h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	exit := srv.WaitExit(t, "survivor", 60*time.Second)
	if exit.Code != 0 || exit.Error != "" {
		t.Fatalf("exit %+v", exit)
	}
	lines := srv.Logs("survivor")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), n, logText(srv, "survivor"))
	}
	if st, err := d2.Status(context.Background(), h); err != nil || st.Phase != v1.Succeeded {
		t.Errorf("status %+v %v", st, err)
	}
	if err := d2.Cleanup(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "survivor")); !os.IsNotExist(err) {
		t.Errorf("the attempt directory is still there: %v", err)
	}
}

// The relay forwards the attempt's own agent routes only, with its token.
func TestRelayForwardsOwnRoutesOnly(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	d := newDriver(t, filepath.Join(t.TempDir(), "attempts"))
	srv.Manifest("other", "true")
	m := srv.Manifest("nosy", "sleep", "3")
	if _, err := backend.New(d).Start(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(d.Root(), "nosy", "sock", "agent.sock")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	get := func(path string) int {
		resp, err := hc.Get("http://relay" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/api/v1/agent/attempts/other/secrets", "/api/v1/agent/attempts/nosy/../other/secrets", "/api/v1/projects"} {
		if code := get(p); code != http.StatusForbidden {
			t.Errorf("GET %s through the relay: %d, want 403", p, code)
		}
	}
	if srv.SecretRequests("other") != 0 {
		t.Errorf("the relay forwarded another attempt's request")
	}
	// Its own route reaches the control plane, authenticated by the relay
	// (the fake answers 404 for a step without secrets, 401 without the token).
	if code := get("/api/v1/agent/attempts/nosy/secrets"); code != http.StatusNotFound || srv.SecretRequests("nosy") != 1 {
		t.Errorf("GET of its own secrets: %d (%d requests), want 404 from the control plane", code, srv.SecretRequests("nosy"))
	}
	srv.WaitExit(t, "nosy", 60*time.Second)
}
