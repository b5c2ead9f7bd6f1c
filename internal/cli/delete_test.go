package cli

import (
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
)

// koya delete removes workflows by name or as files name them; their runs
// stay; a missing one is an error unless --ignore-not-found; projects are
// refused.
func TestDelete(t *testing.T) {
	h := newHarness(t)
	file := h.write("wf.yaml", workflows)
	h.koya("apply", "-f", file)
	h.koya("run", "train", "--follow")

	if out := h.koya("delete", "workflow", "train"); !strings.Contains(out, "workflow/train deleted from project default") {
		t.Errorf("delete workflow train: %s", out)
	}
	var wfs []v1.Workflow
	h.koyaJSON(&wfs, "get", "workflows")
	if len(wfs) != 2 {
		t.Errorf("after deleting one of three: %d workflows", len(wfs))
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs")
	if len(runs) != 1 || runs[0].Spec.Workflow != "train" {
		t.Errorf("the deleted workflow's run must stay: %+v", runs)
	}

	// -f deletes what the file holds; train is gone already.
	if errOut := h.fails(ExitNotFound, "delete", "-f", file); !strings.Contains(errOut, "not found: workflow/train") {
		t.Errorf("delete -f with one missing: %s", errOut)
	}
	h.koyaJSON(&wfs, "get", "workflows")
	if len(wfs) != 0 {
		t.Errorf("after delete -f: %d workflows", len(wfs))
	}
	if out := h.koya("delete", "-f", file, "--ignore-not-found"); out != "" {
		t.Errorf("--ignore-not-found: %q", out)
	}

	// Triggers by name, or as files hold them: the triggers before the
	// workflow they run.
	triggers := h.write("t.yaml", triggerDocs)
	h.koya("apply", "-f", triggers)
	if out := h.koya("delete", "trigger", "hook"); !strings.Contains(out, "trigger/hook deleted") {
		t.Errorf("delete trigger hook: %s", out)
	}
	out := h.koya("delete", "-f", triggers, "--ignore-not-found")
	if i, j := strings.Index(out, "trigger/cats deleted"), strings.Index(out, "workflow/infer deleted"); i < 0 || j < i {
		t.Errorf("delete -f of triggers: %s", out)
	}
	if out := h.koya("trigger", "ls"); strings.Contains(out, "cats") {
		t.Errorf("trigger ls after delete:\n%s", out)
	}

	project := h.write("p.yaml", "apiVersion: koya.dev/v1\nkind: Project\nmetadata: {name: ml}\n")
	if errOut := h.fails(ExitFailed, "delete", "-f", project); !strings.Contains(errOut, "not a Project") {
		t.Errorf("delete -f of a project: %s", errOut)
	}
	if errOut := h.fails(ExitUsage, "delete", "run", "x"); !strings.Contains(errOut, `not "run"`) {
		t.Errorf("delete run: %s", errOut)
	}
}
