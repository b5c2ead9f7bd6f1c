package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

const workflows = `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: train}
spec:
  params:
    n: {type: integer, default: 2}
  steps:
    - name: prep
      command: ["true"]
    - name: fit
      needs: [prep]
      foreach: [1, 2, 3]
      command: [mock, --sleep, 20ms]
---
apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: broken}
spec:
  steps:
    - name: boom
      command: [exit, "3"]
---
apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: slow}
spec:
  steps:
    - name: wait
      command: [sleep, 1h]
`

// echo runs for real on the local backend, under the agent (this test
// binary, see TestMain): logs and an output artifact.
const echoWorkflow = `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: echo}
spec:
  params:
    who: {type: string}
  steps:
    - name: say
      backend: local
      command: [sh, -c, 'echo hello from {{ params.who }}; echo second line; mkdir -p out; echo "{\"ok\": true}" > out/result.json']
      outputs: {result: out/result.json}
`

func TestApplyRunGetDescribe(t *testing.T) {
	h := newHarness(t)
	dir := filepath.Join(h.dir, "wf")
	h.write("wf/a.yaml", workflows)

	out := h.koya("apply", "-f", dir)
	for _, want := range []string{"workflow/train created", "workflow/broken created", "workflow/slow created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply: missing %q in\n%s", want, out)
		}
	}
	if out := h.koya("apply", "-f", dir); strings.Count(out, "unchanged") != 3 {
		t.Errorf("re-apply:\n%s", out)
	}
	changed := strings.Replace(workflows, "default: 2", "default: 5", 1)
	if out, _, _ := h.runIn(changed, "apply", "-f", "-", "--dry-run"); !strings.Contains(out, "workflow/train configured (dry run)") {
		t.Errorf("dry run from stdin:\n%s", out)
	}

	if out := h.koya("get", "workflows"); !strings.Contains(out, "NAME") || !strings.Contains(out, "train") {
		t.Errorf("get workflows:\n%s", out)
	}
	var wfs []v1.Workflow
	h.koyaJSON(&wfs, "get", "workflows")
	if len(wfs) != 3 {
		t.Errorf("get workflows -o json: %d", len(wfs))
	}
	if out := h.koya("get", "workflows", "-o", "yaml"); !strings.Contains(out, "name: train") {
		t.Errorf("get workflows -o yaml:\n%s", out)
	}
	if out := h.koya("get", "projects"); !strings.Contains(out, "default") {
		t.Errorf("get projects:\n%s", out)
	}

	// A followed run prints one line per step change and its end.
	out = h.koya("run", "train", "-p", "n=3", "--follow")
	for _, want := range []string{"step prep", "step fit 3/3 Succeeded", "Succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("run --follow: missing %q in\n%s", want, out)
		}
	}
	// A failed one exits 1.
	out, _, code := h.run("run", "broken", "--follow")
	if code != 1 || !strings.Contains(out, "Failed") {
		t.Fatalf("run broken --follow: exit %d\n%s", code, out)
	}
	// ... and says which task failed, how, and where its logs are.
	for _, want := range []string{"boom[0]", "code 3", "logs: koya logs broken-"} {
		if !strings.Contains(out, want) {
			t.Errorf("run broken --follow: missing %q in\n%s", want, out)
		}
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs")
	if len(runs) != 2 || runs[0].Spec.Workflow != "broken" {
		t.Fatalf("get runs: %+v", runs)
	}
	broken := runs[0].Metadata.Name
	if runs[1].Spec.Params["n"] != float64(3) {
		t.Errorf("param n = %v", runs[1].Spec.Params["n"])
	}
	if out := h.koya("get", "runs", "--phase", "Failed"); !strings.Contains(out, broken) || strings.Contains(out, runs[1].Metadata.Name) {
		t.Errorf("get runs --phase Failed:\n%s", out)
	}
	var one v1.Run
	h.koyaJSON(&one, "get", "run", broken)
	if one.Status.Phase != v1.Failed || len(one.Status.Steps) != 1 {
		t.Errorf("get run: %+v", one.Status)
	}
	out = h.koya("describe", "run", broken)
	for _, want := range []string{"Workflow:", "Steps:", "boom", "Attempts:", "code 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe: missing %q in\n%s", want, out)
		}
	}
	if out := h.koya("describe", "run", broken, "-o", "yaml"); !strings.Contains(out, "attempts:") {
		t.Errorf("describe -o yaml:\n%s", out)
	}

	// Retry re-runs what failed: it fails again.
	if _, _, code := h.run("retry", broken, "--follow"); code != 1 {
		t.Errorf("retry --follow of a failing run: exit %d", code)
	}
	var d runDescription
	h.koyaJSON(&d, "describe", "run", broken)
	if len(d.Attempts) < 2 {
		t.Errorf("after a retry: %d attempts", len(d.Attempts))
	}

	// Cancel a long run.
	var slow v1.Run
	h.koyaJSON(&slow, "run", "slow")
	h.koya("cancel", slow.Metadata.Name)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r v1.Run
		h.koyaJSON(&r, "get", "run", slow.Metadata.Name)
		if r.Status.Phase == v1.Cancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled run is %s", r.Status.Phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogsAndArtifacts(t *testing.T) {
	h := newHarness(t)
	h.koya("apply", "-f", h.write("echo.yaml", echoWorkflow))
	out := h.koya("run", "echo", "-p", "who=koya", "--follow")
	if !strings.Contains(out, "Succeeded") {
		t.Fatalf("run echo:\n%s", out)
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs", "--workflow", "echo")
	id := runs[0].Metadata.Name

	if out := h.koya("logs", id); out != "hello from koya\nsecond line\n" {
		t.Errorf("logs:\n%q", out)
	}
	if out := h.koya("logs", id, "--step", "say", "-f"); !strings.Contains(out, "hello from koya") {
		t.Errorf("logs -f of an ended run:\n%q", out)
	}
	// ls names what get takes; its digest is the file's.
	if out := h.koya("artifacts", "ls", id); !strings.Contains(out, "say[0]") || !strings.Contains(out, "result") || !strings.Contains(out, "file") {
		t.Errorf("artifacts ls:\n%s", out)
	}
	var arts []artifactRow
	h.koyaJSON(&arts, "artifacts", "ls", id, "--step", "say")
	if len(arts) != 1 || arts[0].Output != "result" || arts[0].Size != int64(len(`{"ok": true}`)+1) {
		t.Errorf("artifacts ls -o json: %+v", arts)
	}
	dest := filepath.Join(h.dir, "result.json")
	h.koya("artifacts", "get", id, "say", "result", "-o", dest)
	if b, err := os.ReadFile(dest); err == nil && len(arts) == 1 && arts[0].Digest != fmt.Sprintf("sha256:%x", sha256.Sum256(b)) {
		t.Errorf("ls digest %s is not the downloaded file's", arts[0].Digest)
	}
	if b, err := os.ReadFile(dest); err != nil || strings.TrimSpace(string(b)) != `{"ok": true}` {
		t.Errorf("artifact: %q %v", b, err)
	}
	if errOut := h.fails(ExitNotFound, "artifacts", "get", id, "say", "nope"); !strings.Contains(errOut, "error: ") {
		t.Errorf("missing output: %s", errOut)
	}
}

func TestExitCodesAndAuth(t *testing.T) {
	h := newHarness(t)
	if errOut := h.fails(ExitNotFound, "get", "run", "nope"); !strings.HasPrefix(errOut, "error: ") {
		t.Errorf("not found: %q", errOut)
	}
	h.fails(ExitUsage, "get", "runs", "--nope")
	h.fails(ExitUsage, "get", "run")
	h.fails(ExitUsage, "frobnicate")
	h.fails(ExitUsage, "get", "runs", "-o", "xml")
	h.fails(ExitForbidden, "get", "runs", "--token", "wrong")

	// No token at all: the server says unauthenticated.
	t.Setenv("KOYA_CONFIG", filepath.Join(h.dir, "empty.yaml"))
	if errOut := h.fails(ExitForbidden, "get", "runs", "--server", h.url, "--project", "default"); !strings.Contains(errOut, "token") {
		t.Errorf("no token: %q", errOut)
	}
	t.Setenv("KOYA_CONFIG", h.config)

	// A project token opens its project only; an agent token no user route.
	st, err := storeopen.Open(context.Background(), filepath.Join(h.dir, "data", "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mint := func(tk store.Token) string {
		secret := "test-" + uuid.NewString()
		tk.ID, tk.Hash, tk.CreatedAt = uuid.NewString(), store.HashSecret(secret), time.Now().UTC()
		if err := st.CreateToken(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	if err := st.PutProject(context.Background(), v1.Project{Metadata: v1.ObjectMeta{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	// A user made and given a role with the CLI; their token opens that
	// project only, and stops working the moment they are taken out of it.
	h.koya("user", "create", "alice")
	h.koya("member", "set", "alice", "viewer")
	proj := strings.TrimSpace(h.koya("token", "create", "--for", "alice", "--description", "test"))
	if !strings.HasPrefix(proj, "koya_") {
		t.Fatalf("token create printed %q", proj)
	}
	h.koya("get", "runs", "--token", proj)
	if errOut := h.fails(ExitForbidden, "get", "runs", "--token", proj, "--project", "other"); !strings.Contains(errOut, "does not open") {
		t.Errorf("other project: %q", errOut)
	}
	if errOut := h.fails(ExitForbidden, "cancel", "x", "--token", proj); !strings.Contains(errOut, "editor") {
		t.Errorf("a viewer cancelling: %q", errOut)
	}
	if out := h.koya("member", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "viewer") {
		t.Errorf("member list:\n%s", out)
	}
	h.koya("member", "remove", "alice")
	h.fails(ExitForbidden, "get", "runs", "--token", proj)
	audit := h.koya("audit")
	for _, want := range []string{"member.set", "member.remove", "access.denied"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
	if audit := h.koya("audit", "--all", "--action", "token."); !strings.Contains(audit, "token.create") || strings.Contains(audit, "member.") {
		t.Errorf("audit --all --action token.:\n%s", audit)
	}
	agentTok := mint(store.Token{Project: "default", AttemptID: "a1", Subject: "attempt:a1"})
	h.fails(ExitForbidden, "get", "runs", "--token", agentTok)

	// lint is offline: every problem as file:line:col, exit 1.
	bad := h.write("bad.yaml", "apiVersion: koya.dev/v1\nkind: Workflow\nmetadata: {name: Bad_Name}\nspec:\n  steps: []\n")
	out, _, code := h.run("lint", "-f", bad)
	if code != ExitFailed || !strings.Contains(out, bad+":") {
		t.Errorf("lint: exit %d\n%s", code, out)
	}
	if out := h.koya("lint", "-f", h.write("good.yaml", echoWorkflow)); out != "" {
		t.Errorf("lint of a good file: %q", out)
	}
	if out := h.koya("schema"); !strings.Contains(out, "Workflow") {
		t.Errorf("schema: %.200s", out)
	}
	if out := h.koya("version"); !strings.Contains(out, "koya ") || !strings.Contains(out, "server ") {
		t.Errorf("version: %q", out)
	}
}
