package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/spf13/cobra"
)

// Flags win over KOYA_* variables, which win over the config's context.
func TestConnectionPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	t.Setenv("KOYA_CONFIG", path)
	cfg := Config{CurrentContext: "a", Contexts: []Context{
		{Name: "a", Server: "http://a", Token: "ta", Project: "pa"},
		{Name: "b", Server: "http://b", Token: "tb", Project: "pb"},
	}}
	if err := cfg.save(path); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config mode: %v %v", info.Mode(), err)
	}
	for _, k := range []string{"KOYA_SERVER", "KOYA_TOKEN", "KOYA_PROJECT"} {
		t.Setenv(k, "")
	}
	got := func(c conn) string {
		r, err := c.resolve()
		if err != nil {
			return "error: " + err.Error()
		}
		return r.server + " " + r.token + " " + r.project
	}
	if s := got(conn{}); s != "http://a ta pa" {
		t.Errorf("current context: %s", s)
	}
	if s := got(conn{context: "b"}); s != "http://b tb pb" {
		t.Errorf("--context b: %s", s)
	}
	t.Setenv("KOYA_PROJECT", "penv")
	t.Setenv("KOYA_TOKEN", "tenv")
	if s := got(conn{}); s != "http://a tenv penv" {
		t.Errorf("env over config: %s", s)
	}
	if s := got(conn{project: "pflag", server: "http://flag"}); s != "http://flag tenv pflag" {
		t.Errorf("flags over env: %s", s)
	}
	if s := got(conn{context: "nope"}); !strings.Contains(s, `no context "nope"`) {
		t.Errorf("unknown context: %s", s)
	}
}

// A server flag comes from the command line, else its KOYA_ variable, else
// the --config file.
func TestServerFlagSources(t *testing.T) {
	var addr, db, objects, config string
	var maxRunning int
	cmd := &cobra.Command{Use: "server"}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "")
	cmd.Flags().StringVar(&db, "db", "", "")
	cmd.Flags().StringVar(&objects, "objects", "", "")
	cmd.Flags().StringVar(&config, "config", "", "")
	cmd.Flags().IntVar(&maxRunning, "max-running", 0, "")
	if err := cmd.Flags().Parse([]string{"--addr", "0.0.0.0:9"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"KOYA_ADDR": "10.0.0.1:1", "KOYA_DB": "postgres://env/db", "KOYA_MAX_RUNNING": "7",
		"KOYA_CONFIG": "/cli/config.yaml", // the CLI's config, not --config
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := flagsFromEnv(cmd.Flags(), lookup); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(file, []byte("addr: 1.2.3.4:5\ndb: postgres://file/db\nobjects: file:///o\n"), 0o600)
	if err := flagsFromFile(cmd.Flags(), file); err != nil {
		t.Fatal(err)
	}
	if addr != "0.0.0.0:9" || db != "postgres://env/db" || maxRunning != 7 || objects != "file:///o" || config != "" {
		t.Errorf("addr %s (the command line wins), db %s and max-running %d (the environment), objects %s (the file), config %q (never from KOYA_CONFIG)",
			addr, db, maxRunning, objects, config)
	}

	os.WriteFile(file, []byte("adr: x\n"), 0o600)
	if err := flagsFromFile(cmd.Flags(), file); err == nil || !strings.Contains(err.Error(), `"adr" is not a flag`) {
		t.Errorf("unknown key: %v", err)
	}
	fresh := &cobra.Command{Use: "server"}
	fresh.Flags().IntVar(&maxRunning, "max-running", 0, "")
	env["KOYA_MAX_RUNNING"] = "lots"
	if err := flagsFromEnv(fresh.Flags(), lookup); err == nil || !strings.Contains(err.Error(), "KOYA_MAX_RUNNING") {
		t.Errorf("a bad value names its variable: %v", err)
	}
}

func TestShortDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 42 * time.Second: "42s", 150 * time.Second: "2m30s", 3 * time.Minute: "3m",
		25 * time.Minute: "25m", 5 * time.Hour: "5h", 72 * time.Hour: "3d",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %s, want %s", d, got, want)
		}
	}
}

// The terminal view redraws the table in place: it moves the cursor up
// over the lines it drew before.
func TestLiveTableRedraws(t *testing.T) {
	var b bytes.Buffer
	lt := &liveTable{w: &b}
	run := v1.Run{Status: v1.RunStatus{Steps: []v1.StepStatus{{Name: "a", Phase: v1.Running}, {Name: "b", Phase: v1.Pending}}}}
	lt.show(run)
	if strings.Contains(b.String(), "\x1b[3A") {
		t.Fatalf("first draw moved the cursor: %q", b.String())
	}
	b.Reset()
	run.Status.Steps[0].Phase = v1.Succeeded
	lt.show(run)
	if !strings.HasPrefix(b.String(), "\x1b[3A") || !strings.Contains(b.String(), "Succeeded") {
		t.Fatalf("redraw: %q", b.String())
	}
}
