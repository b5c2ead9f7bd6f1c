package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// The config commands list, switch and edit contexts, and never print a
// token.
func TestConfigContexts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv("KOYA_CONFIG", path)
	run := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	if _, errOut, code := run("config", "current-context"); code != ExitNotFound || !strings.Contains(errOut, "no current context") {
		t.Errorf("empty config: exit %d, %s", code, errOut)
	}
	cfg := Config{CurrentContext: "local", Contexts: []Context{
		{Name: "local", Server: "http://127.0.0.1:7070", Token: "koya_secret_local", Project: "default"},
		{Name: "lab", Server: "http://127.0.0.1:9090", Token: "koya_secret_lab"},
	}}
	if err := cfg.save(path); err != nil {
		t.Fatal(err)
	}

	out, _, _ := run("config", "get-contexts")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "*") || !strings.Contains(lines[1], "local") || strings.HasPrefix(lines[2], "*") {
		t.Errorf("get-contexts:\n%s", out)
	}
	jsonOut, _, _ := run("config", "get-contexts", "-o", "json")
	var views []contextView
	if err := json.Unmarshal([]byte(jsonOut), &views); err != nil || len(views) != 2 || !views[0].Current {
		t.Errorf("get-contexts -o json: %v\n%s", err, jsonOut)
	}
	if strings.Contains(out+jsonOut, "koya_secret") {
		t.Errorf("a token was printed:\n%s%s", out, jsonOut)
	}

	if _, errOut, code := run("config", "use-context", "nope"); code != ExitNotFound || !strings.Contains(errOut, "there are local, lab") {
		t.Errorf("use-context nope: exit %d, %s", code, errOut)
	}
	if out, errOut, code := run("config", "use-context", "lab"); code != 0 || !strings.Contains(out, `switched to context "lab"`) {
		t.Fatalf("use-context lab: exit %d, %s%s", code, out, errOut)
	}
	if out, _, _ := run("config", "current-context"); strings.TrimSpace(out) != "lab" {
		t.Errorf("current-context: %q", out)
	}
	run("config", "set-project", "vision")
	run("config", "set-project", "ops", "--context", "local")
	got, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	lab, _ := got.context("lab")
	local, _ := got.context("local")
	if lab.Project != "vision" || local.Project != "ops" || lab.Token != "koya_secret_lab" {
		t.Errorf("after set-project: %+v", got)
	}

	// Deleting the current context leaves none current.
	if out, _, code := run("config", "delete-context", "lab"); code != 0 || !strings.Contains(out, "use-context") {
		t.Errorf("delete-context lab: exit %d, %s", code, out)
	}
	got, _ = loadConfig(path)
	if len(got.Contexts) != 1 || got.Contexts[0].Name != "local" || got.CurrentContext != "" {
		t.Errorf("after delete-context: %+v", got)
	}
	if _, errOut, code := run("config", "set-project", "x"); code != ExitNotFound || !strings.Contains(errOut, "no current context") {
		t.Errorf("set-project with no current context: exit %d, %s", code, errOut)
	}
}
