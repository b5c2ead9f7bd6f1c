package agent_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/backend/backendtest"
)

const secretValue = "s3cr3t-Value-42"

// A step's secret arrives as a variable and a file in memory; whatever the
// command prints of it reaches the log masked, and nothing of it stays on
// disk or in /dev/shm.
func TestSecretsDeliveredAndMasked(t *testing.T) {
	if !memoryBackedForTest(t, "/dev/shm") {
		t.Skip("no tmpfs at /dev/shm")
	}
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("sec", "sh", "-c", `echo "token=$MYSECRET"; printf 'part=%s' "$MYSECRET" >&2; echo "file=$(cat "$KOYA_SECRET_FILE_MYSECRET")"; echo "path=$KOYA_SECRET_FILE_MYSECRET"; stat -c %a "$KOYA_SECRET_FILE_MYSECRET"`)
	m.Secrets = []string{"MYSECRET"}
	srv.SetSecrets("sec", []v1.AgentSecret{{Name: "MYSECRET", Version: 1, Value: []byte(secretValue)}})
	dir, path := attemptDir(t, m)
	if code := agent.RunWith(context.Background(), path, quick()); code != agent.ExitDelivered {
		t.Fatalf("exit %d", code)
	}
	if x := srv.Exit("sec"); x == nil || !agent.ExitOK(*x) {
		t.Fatalf("exit %+v\n%s", x, logText(srv, "sec"))
	}
	text := logText(srv, "sec")
	for _, want := range []string{"token=***\n", "part=***\n", "file=***\n", "\n600\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "s3cr3t") {
		t.Errorf("the log shows the value:\n%s", text)
	}
	var file string
	for _, l := range strings.Split(text, "\n") {
		if p, ok := strings.CutPrefix(l, "path="); ok {
			file = p
		}
	}
	if !strings.HasPrefix(file, "/dev/shm/koya-sec-") {
		t.Errorf("secret file at %q", file)
	}
	if _, err := os.Stat(filepath.Dir(file)); err == nil {
		t.Errorf("%s outlived the command", filepath.Dir(file))
	}
	noValueUnder(t, dir)
	if srv.SecretRequests("sec") != 1 {
		t.Errorf("%d requests for secrets", srv.SecretRequests("sec"))
	}
}

// Where no memory-backed file system is at hand the task log says so and
// the secret comes as a variable only.
func TestSecretsWithoutTmpfs(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("nofs", "sh", "-c", `echo "token=$MYSECRET file=${KOYA_SECRET_FILE_MYSECRET:-none}"`)
	m.Secrets = []string{"MYSECRET"}
	srv.SetSecrets("nofs", []v1.AgentSecret{{Name: "MYSECRET", Version: 1, Value: []byte(secretValue)}})
	_, path := attemptDir(t, m)
	o := quick()
	o.SecretDir = t.TempDir() // on disk: refused
	if memoryBackedForTest(t, o.SecretDir) {
		t.Skip("the temporary directory is a tmpfs here")
	}
	agent.RunWith(context.Background(), path, o)
	text := logText(srv, "nofs")
	if !strings.Contains(text, "token=*** file=none") || !strings.Contains(text, "not a memory-backed file system") {
		t.Errorf("log:\n%s", text)
	}
	if entries, _ := os.ReadDir(o.SecretDir); len(entries) != 0 {
		t.Errorf("files left in %s: %v", o.SecretDir, entries)
	}
}

// A secret the control plane does not deliver fails the attempt before
// its command runs; a step without secrets never asks.
func TestSecretMissingFailsBeforeRunning(t *testing.T) {
	srv := backendtest.NewFakeServer(t)
	m := srv.Manifest("miss", "sh", "-c", "echo ran > ran")
	m.Secrets = []string{"NOPE"}
	dir, path := attemptDir(t, m)
	agent.RunWith(context.Background(), path, quick())
	x := srv.Exit("miss")
	if x == nil || x.Code != -1 || !strings.Contains(x.Error, "does not have") {
		t.Fatalf("exit %+v", x)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran")
	}
	if !strings.Contains(logText(srv, "miss"), "secrets: ") {
		t.Errorf("the log does not say why:\n%s", logText(srv, "miss"))
	}

	m = srv.Manifest("none", "true")
	_, path = attemptDir(t, m)
	agent.RunWith(context.Background(), path, quick())
	if srv.SecretRequests("none") != 0 {
		t.Error("a step without secrets asked for some")
	}
}

// noValueUnder fails if any file under dir holds the secret value.
func noValueUnder(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secretValue)) {
			t.Errorf("%s holds the secret value", p)
		}
		return nil
	})
}

func memoryBackedForTest(t *testing.T, dir string) bool {
	t.Helper()
	out, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	best, fstype := "", ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && (dir == f[1] || strings.HasPrefix(dir, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) >= len(best) {
			best, fstype = f[1], f[2]
		}
	}
	return fstype == "tmpfs" || fstype == "ramfs"
}
