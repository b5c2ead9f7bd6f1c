package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

const twoDocs = `apiVersion: koya.dev/v1
kind: Project
metadata: {name: ml}
spec: {description: models}
---
apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: hello, project: ml}
spec:
  steps:
    - name: say
      command: ["true"]
`

func (e *env) apply(body, query string) (client.ApplyResult, *http.Response) {
	e.t.Helper()
	resp := e.do("POST", "/api/v1/apply"+query, e.admin, strings.NewReader(body), "Content-Type", "application/yaml")
	var res client.ApplyResult
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			e.t.Fatal(err)
		}
	}
	return res, resp
}

func actions(res client.ApplyResult) string {
	var s []string
	for _, o := range res.Objects {
		s = append(s, fmt.Sprintf("%s/%s=%s", o.Kind, o.Name, o.Action))
	}
	return strings.Join(s, " ")
}

func TestApply(t *testing.T) {
	e := newEnv(t)
	res, resp := e.apply(twoDocs, "?dryRun=1")
	if resp.StatusCode != 200 || actions(res) != "Project/ml=created Workflow/hello=created" || !res.DryRun {
		t.Fatalf("dry run: %d %s", resp.StatusCode, actions(res))
	}
	if _, err := e.store.GetProject(context.Background(), "ml"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a dry run created the project: %v", err)
	}
	if res, _ = e.apply(twoDocs, ""); actions(res) != "Project/ml=created Workflow/hello=created" {
		t.Fatalf("apply: %s", actions(res))
	}
	if res, _ = e.apply(twoDocs, ""); actions(res) != "Project/ml=unchanged Workflow/hello=unchanged" {
		t.Fatalf("re-apply: %s", actions(res))
	}
	changed := strings.Replace(twoDocs, `["true"]`, `["false"]`, 1)
	if res, _ = e.apply(changed, "?dryRun=true"); actions(res) != "Project/ml=unchanged Workflow/hello=configured" {
		t.Fatalf("dry change: %s", actions(res))
	}
	if res, _ = e.apply(changed, ""); actions(res) != "Project/ml=unchanged Workflow/hello=configured" || res.Objects[1].Version != 2 {
		t.Fatalf("change: %s %+v", actions(res), res.Objects)
	}
	// A workflow without a project goes to ?project=.
	noProject := "apiVersion: koya.dev/v1\nkind: Workflow\nmetadata: {name: w2}\nspec:\n  steps: [{name: a, command: [\"true\"]}]\n"
	if res, _ = e.apply(noProject, "?project=p"); actions(res) != "Workflow/w2=created" || res.Objects[0].Project != "p" {
		t.Fatalf("default project: %s %+v", actions(res), res.Objects)
	}
	// A project token cannot apply into another project, nor make projects;
	// nothing of a refused body is written.
	resp = e.do("POST", "/api/v1/apply?project=q", e.tokP, strings.NewReader(noProject))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("project token into q: %d", resp.StatusCode)
	}
	mixed := noProject + "---\n" + strings.Replace(noProject, "w2", "w3", 1) + "---\napiVersion: koya.dev/v1\nkind: Project\nmetadata: {name: evil}\n"
	resp = e.do("POST", "/api/v1/apply?project=p", e.tokP, strings.NewReader(mixed))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("project token making a project: %d", resp.StatusCode)
	}
	if _, err := e.store.GetWorkflow(context.Background(), "p", "w3"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("part of a refused apply was written: %v", err)
	}
	// Syntax errors are invalid, with a place.
	_, resp = e.apply("kind: [unclosed", "?filename=bad.yaml")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad YAML: %d", resp.StatusCode)
	}
	if got := errorOf(t, resp); got.Code != errs.Invalid || !strings.Contains(got.Error(), "bad.yaml") {
		t.Errorf("bad YAML error: %+v", got)
	}
}

func TestErrorShapeAndLimits(t *testing.T) {
	e := newEnv(t)
	e.putWorkflow("p", "w", "true")
	resp := e.do("POST", "/api/v1/projects/p/runs", e.admin, strings.NewReader(`{"workflow":"w","paramz":{}}`))
	got := errorOf(t, resp)
	if resp.StatusCode != 400 || got.Code != errs.Invalid || got.Where != "paramz" {
		t.Errorf("unknown field: %d %+v", resp.StatusCode, got)
	}
	big := `{"workflow":"` + strings.Repeat("x", 9<<20) + `"}`
	resp = e.do("POST", "/api/v1/projects/p/runs", e.admin, strings.NewReader(big))
	if got := errorOf(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || got.Code != errs.TooLarge {
		t.Errorf("too large: %d %+v", resp.StatusCode, got)
	}
	resp = e.do("POST", "/api/v1/projects/p/runs", e.admin, strings.NewReader(`{"workflow":"nope"}`))
	if got := errorOf(t, resp); resp.StatusCode != 404 || got.Code != errs.NotFound {
		t.Errorf("unknown workflow: %d %+v", resp.StatusCode, got)
	}
	resp = e.do("GET", "/api/v1/projects/p/runs?limit=abc", e.admin, nil)
	if got := errorOf(t, resp); got.Where != "limit" {
		t.Errorf("bad limit: %+v", got)
	}
}

func TestRunLifecycle(t *testing.T) {
	e := newEnv(t)
	e.putWorkflow("p", "ok", "true")
	e.putWorkflow("p", "bad", "exit", "3")
	resp := e.do("POST", "/api/v1/projects/p/runs", e.tokP, strings.NewReader(`{"workflow":"ok"}`))
	var run v1.Run
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&run) != nil {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	// watch streams snapshots until the run is done.
	resp = e.do("GET", "/api/v1/projects/p/runs/"+run.Metadata.Name+"/watch", e.tokP, nil, "Accept", "text/event-stream")
	var last v1.Run
	events := readEvents(t, resp.Body, func(name string, data []byte) {
		if name == "run" {
			if err := json.Unmarshal(data, &last); err != nil {
				t.Fatal(err)
			}
		}
	})
	if events[len(events)-1] != "end" || last.Status.Phase != v1.Succeeded || len(last.Status.Steps) != 1 {
		t.Fatalf("watch: events %v, last %s %+v", events, last.Status.Phase, last.Status.Steps)
	}

	bad := e.submit("p", "bad")
	e.waitRun(bad, func(r store.Run) bool { return r.Phase.Done() })
	var runs []v1.Run
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects/p/runs?phase=Failed", e.tokP, nil).Body).Decode(&runs)
	if len(runs) != 1 || runs[0].Metadata.Name != bad {
		t.Fatalf("failed runs: %+v", runs)
	}
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects/p/runs?before="+bad, e.tokP, nil).Body).Decode(&runs)
	if len(runs) != 1 || runs[0].Metadata.Name != run.Metadata.Name {
		t.Fatalf("runs before %s: %+v", bad, runs)
	}
	var atts []v1.Attempt
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects/p/runs/"+bad+"/attempts", e.tokP, nil).Body).Decode(&atts)
	if len(atts) == 0 || atts[0].Exit == nil || atts[0].Exit.Code != 3 {
		t.Fatalf("attempts: %+v", atts)
	}
	var tasks []v1.Task
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects/p/runs/"+bad+"/tasks?step=main", e.tokP, nil).Body).Decode(&tasks)
	if len(tasks) != 1 || tasks[0].Phase != v1.Failed {
		t.Fatalf("tasks: %+v", tasks)
	}
	resp = e.do("POST", "/api/v1/projects/p/runs/"+bad+"/retry", e.tokP, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("retry: %d %+v", resp.StatusCode, errorOf(t, resp))
	}
	// Cancelling an ended run is a conflict.
	e.waitRun(bad, func(r store.Run) bool { return r.Phase.Done() })
	resp = e.do("POST", "/api/v1/projects/p/runs/"+bad+"/cancel", e.tokP, nil)
	if got := errorOf(t, resp); resp.StatusCode != http.StatusConflict {
		t.Errorf("cancel of an ended run: %d %+v", resp.StatusCode, got)
	}
}

// readEvents reads an event stream to its end, calling f per event, and
// returns the event names in order.
func readEvents(t *testing.T, r io.Reader, f func(name string, data []byte)) []string {
	t.Helper()
	var names []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			names = append(names, name)
			f(name, []byte(strings.TrimPrefix(line, "data: ")))
		}
	}
	return names
}
