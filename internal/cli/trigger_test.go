package cli

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

const triggerDocs = `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: infer}
spec:
  params:
    file: {type: string}
    label: {type: string, default: none}
  steps:
    - {name: infer, command: ["true"]}
---
apiVersion: koya.dev/v1
kind: Trigger
metadata: {name: cats}
spec:
  workflow: infer
  datalake: {channel: raw, events: [created], filter: 'label = "cat"'}
  params: {file: "{{ event.file.path }}", label: "{{ event.file.meta.label }}"}
  concurrency: 2
---
apiVersion: koya.dev/v1
kind: Trigger
metadata: {name: hook}
spec:
  workflow: infer
  webhook: {}
  params: {file: "{{ event.body.file }}"}
`

// Triggers as a user meets them: applied from YAML, started by uploads
// through 'koya data push' (only the files the filter matches), watched
// with 'koya trigger status', fired by hand and by a webhook with its own
// secret.
func TestTriggerCLI(t *testing.T) {
	h := newHarness(t)
	h.koya("data", "channel", "create", "raw")
	out := h.koya("apply", "-f", h.write("triggers.yaml", triggerDocs))
	if !strings.Contains(out, "trigger/cats created") || !strings.Contains(out, "trigger/hook created") {
		t.Fatalf("apply:\n%s", out)
	}
	for i, label := range []string{"cat", "dog", "cat", "cat"} {
		name := filepath.Join("up", "f"+string(rune('0'+i))+".txt")
		h.write(name, label)
		h.write(name+".json", `{"label":"`+label+`"}`)
	}
	h.koya("data", "push", filepath.Join(h.dir, "up"), "--channel", "raw")

	runsOf := func() []v1.Run {
		var runs []v1.Run
		h.koyaJSON(&runs, "get", "runs", "--workflow", "infer")
		return runs
	}
	waitRuns := func(n int) []v1.Run {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if runs := runsOf(); len(runs) >= n {
				return runs
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("fewer than %d runs after 20s: %+v\n%s", n, runsOf(), h.koya("trigger", "status"))
		return nil
	}
	runs := waitRuns(3)
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Spec.Params["label"] != "cat" {
			t.Errorf("run %s params %v: only cats match the filter", r.Metadata.Name, r.Spec.Params)
		}
		seen[r.Spec.Params["file"].(string)] = true
	}
	if len(seen) != 3 || !seen["f0.txt"] || !seen["f2.txt"] || !seen["f3.txt"] {
		t.Errorf("runs for %v, want f0, f2, f3", seen)
	}

	var st v1.Trigger
	h.koyaJSON(&st, "trigger", "status", "cats")
	if st.Status == nil || st.Status.Started != 3 {
		t.Errorf("status: %+v", st.Status)
	}
	if out := h.koya("trigger", "status"); !strings.Contains(out, "BACKLOG") || !strings.Contains(out, "cats") || !strings.Contains(out, "hook") {
		t.Errorf("status table:\n%s", out)
	}
	if out := h.koya("trigger", "ls"); !strings.Contains(out, "cats") || !strings.Contains(out, "infer") {
		t.Errorf("ls:\n%s", out)
	}

	// A webhook with the trigger's own secret (a bearer token of nobody).
	secret := regexp.MustCompile(`koya_whk_\S+`).FindString(h.koya("trigger", "webhook-secret", "hook"))
	req, _ := http.NewRequest("POST", h.url+"/api/v1/projects/default/triggers/hook/webhook", strings.NewReader(`{"file":"from-hook"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook with the secret %q: %s", secret, resp.Status)
	}
	runs = waitRuns(4)
	if runs[0].Spec.Params["file"] != "from-hook" {
		t.Errorf("webhook run params: %v", runs[0].Spec.Params)
	}
	req, _ = http.NewRequest("POST", h.url+"/api/v1/projects/default/triggers/hook/webhook", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook with a wrong secret: %v %v", resp.Status, err)
	}

	// By hand, on a file the filter would pass over: a person chose it.
	h.koya("trigger", "fire", "cats", "--file", "f1.txt")
	if runs = waitRuns(5); runs[0].Spec.Params["file"] != "f1.txt" {
		t.Errorf("fired run params: %v", runs[0].Spec.Params)
	}
	h.koya("trigger", "delete", "hook")
	if errOut := h.fails(ExitNotFound, "trigger", "status", "hook"); !strings.Contains(errOut, "hook") {
		t.Errorf("status of a deleted trigger: %s", errOut)
	}
}
