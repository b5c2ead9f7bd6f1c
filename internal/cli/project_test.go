package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
)

// TestProjectKeys: a run's log and output are readable through a rotation,
// the move of the old data, and the old key's disabling.
func TestProjectKeys(t *testing.T) {
	h := newHarness(t)
	h.koya("apply", "-f", h.write("echo.yaml", echoWorkflow))
	if out := h.koya("run", "echo", "-p", "who=koya", "--follow"); !strings.Contains(out, "Succeeded") {
		t.Fatalf("run echo:\n%s", out)
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs", "--workflow", "echo")
	id := runs[0].Metadata.Name

	var pk client.ProjectKeys
	h.koyaJSON(&pk, "project", "keys")
	if len(pk.Keys) != 1 || pk.Keys[0].Artifacts != 1 || pk.Keys[0].LogLines != 2 {
		t.Fatalf("keys: %+v", pk)
	}
	old := pk.Keys[0].ID
	if out := h.koya("project", "keys"); !strings.Contains(out, "primary") || !strings.Contains(out, "LOG LINES") {
		t.Errorf("keys table:\n%s", out)
	}
	if errOut := h.fails(ExitFailed, "project", "disable-key", fmt.Sprint(old)); !strings.Contains(errOut, "primary") {
		t.Errorf("disable the primary: %s", errOut)
	}

	out, errOut, code := h.run("project", "rotate-key", "--wait")
	if code != 0 || !strings.Contains(errOut, "moving data to key") || !strings.Contains(out, "moved 3 of 3 items") {
		t.Fatalf("rotate-key --wait: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	h.koya("project", "disable-key", fmt.Sprint(old))
	h.koyaJSON(&pk, "project", "keys")
	if len(pk.Keys) != 2 || pk.Keys[0].Enabled || !pk.Keys[1].Primary || pk.Keys[1].Artifacts != 1 || pk.Keys[1].LogLines != 2 {
		t.Fatalf("keys after the rotation: %+v", pk)
	}
	if out := h.koya("logs", id); out != "hello from koya\nsecond line\n" {
		t.Errorf("logs after the rotation:\n%q", out)
	}
	dest := filepath.Join(h.dir, "result.json")
	h.koya("artifacts", "get", id, "say", "result", "-o", dest)
	if b, err := os.ReadFile(dest); err != nil || strings.TrimSpace(string(b)) != `{"ok": true}` {
		t.Errorf("artifact after the rotation: %q %v", b, err)
	}
	h.fails(ExitUsage, "project", "disable-key", "nope")
	if audit := h.koya("audit", "--action", "key."); !strings.Contains(audit, "key.rotate") || !strings.Contains(audit, "key.disable") {
		t.Errorf("audit:\n%s", audit)
	}
}
