package v1

import (
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
)

// base is a valid workflow each case breaks in one way.
func base() *Workflow {
	return &Workflow{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: "Workflow"},
		Metadata: ObjectMeta{Name: "wf", Project: "p"},
		Spec: WorkflowSpec{
			Params: map[string]ParamSpec{
				"ratio":  {Type: "number", Default: 0.8},
				"seed":   {Type: "integer", Default: float64(42)},
				"metric": {Type: "string", Default: "f1", Enum: []any{"f1", "auc"}},
			},
			Steps: []Step{
				{Name: "grid", Command: []string{"grid", "{{ outputs.grid }}"}, Outputs: map[string]string{"grid": "out/grid.json"}},
				{Name: "prep", Command: []string{"prep", "--ratio={{ params.ratio }}"}, Outputs: map[string]string{"data": "out/data"}},
				{
					Name: "train", Needs: []string{"prep", "grid"},
					Foreach:   "{{ steps.grid.outputs.grid }}",
					Command:   []string{"train", "{{ inputs.data }}", "{{ item.C }}", "{{ params.seed + 1 }}"},
					Env:       map[string]string{"METRIC": "{{ params.metric }}", "RUN": "{{ run.id }}"},
					WorkDir:   "w/{{ steps.prep.phase }}",
					Inputs:    map[string]string{"data": "{{ steps.prep.outputs.data }}"},
					Outputs:   map[string]string{"model": "out/model.pkl"},
					When:      "params.metric != 'none' && steps.grid.outputs.grid.size() > 0",
					Retry:     &RetryPolicy{Limit: 3, Backoff: Duration{time.Second}, When: "exit.code in [137, 143] && attempt < 3 && params.seed > 0"},
					Resources: Resources{CPU: 0.5, Memory: "1.5Gi", GPU: 1},
					Backend:   "local", Network: "none", Secrets: []string{"API_KEY"},
				},
				{Name: "report", Needs: []string{"train"}, Command: []string{"report", "{{ inputs.data }}"},
					Inputs: map[string]string{"data": "{{ steps.prep.outputs.data }}"}},
			},
		},
	}
}

func TestValidateBase(t *testing.T) {
	if list := base().Validate(); len(list) > 0 {
		t.Fatalf("base workflow: %v", list)
	}
}

func TestValidate(t *testing.T) {
	step := func(w *Workflow, name string) *Step {
		for i := range w.Spec.Steps {
			if w.Spec.Steps[i].Name == name {
				return &w.Spec.Steps[i]
			}
		}
		panic(name)
	}
	tests := []struct {
		name     string
		break_   func(w *Workflow)
		path     string
		contains string
	}{
		{"api version", func(w *Workflow) { w.APIVersion = "v1" }, "apiVersion", `"v1" is not supported: use koya.dev/v1`},
		{"kind", func(w *Workflow) { w.Kind = "" }, "kind", "missing: write kind: Workflow"},
		{"workflow name", func(w *Workflow) { w.Metadata.Name = "Build_Model" }, "metadata.name", `e.g. "build-model"`},
		{"workflow name empty", func(w *Workflow) { w.Metadata.Name = "" }, "metadata.name", "a workflow name is required"},
		{"workflow name long", func(w *Workflow) { w.Metadata.Name = strings.Repeat("a", 64) }, "metadata.name", "1 to 63"},
		{"project name", func(w *Workflow) { w.Metadata.Project = "-p" }, "metadata.project", "not a valid project name"},
		{"label", func(w *Workflow) { w.Metadata.Labels = map[string]string{"bad key": "v"} }, `metadata.labels["bad key"]`, "label key"},
		{"no steps", func(w *Workflow) { w.Spec.Steps = nil }, "spec.steps", "at least one step"},
		{"parallelism", func(w *Workflow) { w.Spec.Parallelism = -1 }, "spec.parallelism", "0 (no cap) or more"},
		{"step name dash", func(w *Workflow) { step(w, "report").Name = "make-report" }, "spec.steps[3].name",
			`step name "make-report" cannot contain '-': expressions refer to it as steps.make-report, where '-' would read as minus; use "make_report"`},
		{"step name case", func(w *Workflow) { step(w, "report").Name = "Report" }, "spec.steps[3].name", "a lowercase letter, then"},
		{"duplicate step", func(w *Workflow) { step(w, "report").Name = "prep" }, "spec.steps[3].name", `duplicate step name "prep" (spec.steps[1] has it too)`},
		{"unknown need", func(w *Workflow) { step(w, "report").Needs = []string{"trian"} }, "spec.steps[3].needs[0]", `unknown step "trian" (did you mean train?)`},
		{"need twice", func(w *Workflow) { step(w, "report").Needs = []string{"train", "train"} }, "spec.steps[3].needs[1]", "listed twice"},
		{"cycle", func(w *Workflow) { step(w, "grid").Needs = []string{"report"} }, "spec.steps[2].needs[1]", "needs form a cycle: grid → report → train → grid"},
		{"param name", func(w *Workflow) { w.Spec.Params["split-ratio"] = ParamSpec{Type: "number"} }, `spec.params["split-ratio"]`, `use "split_ratio"`},
		{"param type", func(w *Workflow) { w.Spec.Params["x"] = ParamSpec{Type: "float"} }, "spec.params.x.type", `unknown type "float"`},
		{"param no type", func(w *Workflow) { w.Spec.Params["x"] = ParamSpec{} }, "spec.params.x.type", "a param needs a type"},
		{"param default type", func(w *Workflow) { w.Spec.Params["x"] = ParamSpec{Type: "integer", Default: 1.5} }, "spec.params.x.default", "must be an integer, not the number 1.5"},
		{"param default enum", func(w *Workflow) { w.Spec.Params["x"] = ParamSpec{Type: "string", Default: "c", Enum: []any{"a", "b"}} }, "spec.params.x.default", `"c" is not one of the enum values: "a", "b"`},
		{"param enum type", func(w *Workflow) { w.Spec.Params["x"] = ParamSpec{Type: "number", Enum: []any{1.0, "two"}} }, "spec.params.x.enum[1]", `must be a number, not the string "two"`},
		{"command", func(w *Workflow) { step(w, "report").Command = nil }, "spec.steps[3].command", "a step needs a command"},
		{"command empty program", func(w *Workflow) { step(w, "report").Command = []string{" "} }, "spec.steps[3].command[0]", "cannot be empty"},
		{"retry limit", func(w *Workflow) { step(w, "train").Retry.Limit = 101 }, "spec.steps[2].retry.limit", "between 0 and 100"},
		{"retry backoff", func(w *Workflow) { step(w, "train").Retry.Backoff = Duration{-time.Second} }, "spec.steps[2].retry.backoff", "must not be negative"},
		{"retry when bad", func(w *Workflow) { step(w, "train").Retry.When = "exit.code >" }, "spec.steps[2].retry.when", "column 12:"},
		{"retry when steps", func(w *Workflow) { step(w, "train").Retry.When = "steps.prep.phase == 'x'" }, "spec.steps[2].retry.when", `step "prep" is not among the steps`},
		{"timeout", func(w *Workflow) { step(w, "train").Timeout = Duration{-time.Second} }, "spec.steps[2].timeout", "must not be negative"},
		{"backend", func(w *Workflow) { step(w, "train").Backend = "docker" }, "spec.steps[2].backend", `unknown backend "docker"`},
		{"network", func(w *Workflow) { step(w, "train").Network = "egres" }, "spec.steps[2].network", "(did you mean egress?)"},
		{"cpu", func(w *Workflow) { step(w, "train").Resources.CPU = -1 }, "spec.steps[2].resources.cpu", "0 or more"},
		{"gpu", func(w *Workflow) { step(w, "train").Resources.GPU = -1 }, "spec.steps[2].resources.gpu", "0 or more"},
		{"memory", func(w *Workflow) { step(w, "train").Resources.Memory = "lots" }, "spec.steps[2].resources.memory", `"lots" is not a memory size`},
		{"foreach type", func(w *Workflow) { step(w, "train").Foreach = map[string]any{"a": 1.0} }, "spec.steps[2].foreach", "not a mapping"},
		{"foreach two templates", func(w *Workflow) { step(w, "train").Foreach = "{{ params.seed }}{{ params.seed }}" }, "spec.steps[2].foreach", "exactly one template"},
		{"foreach not list", func(w *Workflow) { step(w, "train").Foreach = "{{ params.metric }}" }, "spec.steps[2].foreach", "must be a list, but this expression is string"},
		{"foreach item", func(w *Workflow) { step(w, "train").Foreach = "{{ item }}" }, "spec.steps[2].foreach", "item is only defined"},
		{"item without foreach", func(w *Workflow) { step(w, "train").Foreach = nil }, "spec.steps[2].command[2]", "item is only defined in a step with foreach"},
		{"when not bool", func(w *Workflow) { step(w, "train").When = "params.seed" }, "spec.steps[2].when", "must be true or false, but this expression is int"},
		{"when item", func(w *Workflow) { step(w, "train").When = "item.C > 1" }, "spec.steps[2].when", "item is only defined"},
		{"when inputs", func(w *Workflow) { step(w, "train").When = "inputs.data == ''" }, "spec.steps[2].when", `unknown input "data"`},
		{"when exit", func(w *Workflow) { step(w, "train").When = "attempt > 1" }, "spec.steps[2].when", "attempt is only defined in retry.when"},
		{"template param", func(w *Workflow) { step(w, "prep").Command[1] = "{{ params.nosuch }}" }, "spec.steps[1].command[1]", `unknown param "nosuch"; declared params: metric, ratio, seed`},
		{"template args", func(w *Workflow) { step(w, "prep").Args = []string{"{{ params.ratio"} }, "spec.steps[1].args[0]", "is not closed"},
		{"template env key", func(w *Workflow) { step(w, "prep").Env = map[string]string{"MY-VAR": "x"} }, `spec.steps[1].env["MY-VAR"]`, "not an environment variable name"},
		{"template output", func(w *Workflow) { step(w, "prep").WorkDir = "{{ outputs.nope }}" }, "spec.steps[1].workingDir", `{{ outputs.nope }} at column 12: unknown output "nope"; outputs of this step usable here: data`},
		{"template steps not needed", func(w *Workflow) { step(w, "prep").Command[1] = "{{ steps.grid.outputs.grid }}" }, "spec.steps[1].command[1]", `step "grid" is not among the steps this one needs`},
		{"template typed", func(w *Workflow) { step(w, "prep").Command[1] = "{{ params.metric + 1 }}" }, "spec.steps[1].command[1]", "no matching overload for '_+_' applied to '(string, int)'"},
		{"image template", func(w *Workflow) { step(w, "prep").Image = "img:{{ params.seed }}" }, "spec.steps[1].image", "templates are not rendered"},
		{"input datalake no path", func(w *Workflow) { step(w, "train").Inputs["raw"] = "datalake://churn/raw" }, "spec.steps[2].inputs.raw", "names no file"},
		{"input datalake path and query", func(w *Workflow) { step(w, "train").Inputs["raw"] = "datalake://churn/raw/x?query=a" }, "spec.steps[2].inputs.raw", "both a path and a query"},
		{"input datalake param", func(w *Workflow) { step(w, "train").Inputs["raw"] = "datalake://churn/raw/{{ params.nosuch }}" }, "spec.steps[2].inputs.raw", `unknown param "nosuch"`},
		{"input item without foreach", func(w *Workflow) { step(w, "prep").Inputs = map[string]string{"img": "{{ item.uri }}"} }, "spec.steps[1].inputs.img", "item is only defined"},
		{"foreach datalake file", func(w *Workflow) { step(w, "train").Foreach = "datalake://churn/raw/x.csv" }, "spec.steps[2].foreach", "a datalake foreach is a query"},
		{"input plain", func(w *Workflow) { step(w, "train").Inputs["raw"] = "data/x.csv" }, "spec.steps[2].inputs.raw", `"data/x.csv" is not an input reference`},
		{"input extra text", func(w *Workflow) { step(w, "train").Inputs["raw"] = "x{{ steps.prep.outputs.data }}" }, "spec.steps[2].inputs.raw", "is not an input reference"},
		{"input not needed", func(w *Workflow) { step(w, "grid").Inputs = map[string]string{"d": "{{ steps.prep.outputs.data }}"} }, "spec.steps[0].inputs.d", `step "prep" is not among the steps this one needs`},
		{"input unknown step", func(w *Workflow) { step(w, "train").Inputs["d"] = "{{ steps.prepp.outputs.data }}" }, "spec.steps[2].inputs.d", `unknown step "prepp" (did you mean prep?)`},
		{"input unknown output", func(w *Workflow) { step(w, "train").Inputs["d"] = "{{ steps.prep.outputs.model }}" }, "spec.steps[2].inputs.d", `step "prep" declares no output "model"; its outputs: data`},
		{"input name", func(w *Workflow) { step(w, "train").Inputs["my-data"] = "{{ steps.prep.outputs.data }}" }, `spec.steps[2].inputs["my-data"]`, "cannot contain '-'"},
		{"output absolute", func(w *Workflow) { step(w, "prep").Outputs["data"] = "/tmp/data" }, "spec.steps[1].outputs.data", "is absolute"},
		{"output dotdot", func(w *Workflow) { step(w, "prep").Outputs["data"] = "out/../../x" }, "spec.steps[1].outputs.data", "leaves the working directory"},
		{"output unclean", func(w *Workflow) { step(w, "prep").Outputs["data"] = "./out//data/" }, "spec.steps[1].outputs.data", `not a clean path: write "out/data"`},
		{"output dot", func(w *Workflow) { step(w, "prep").Outputs["data"] = "." }, "spec.steps[1].outputs.data", "whole working directory"},
		{"output empty", func(w *Workflow) { step(w, "prep").Outputs["data"] = "" }, "spec.steps[1].outputs.data", "needs the path"},
		{"output template", func(w *Workflow) { step(w, "prep").Outputs["data"] = "out/{{ item }}" }, "spec.steps[1].outputs.data", "templates are not rendered"},
		{"secret", func(w *Workflow) { step(w, "train").Secrets = []string{"API_KEY", "API_KEY"} }, "spec.steps[2].secrets[1]", "listed twice"},
		{"secret name", func(w *Workflow) { step(w, "train").Secrets = []string{"api-key"} }, "spec.steps[2].secrets[0]", "is not a secret name"},
		{"step parallelism", func(w *Workflow) { step(w, "train").Parallelism = -2 }, "spec.steps[2].parallelism", "0 (no cap) or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base()
			tt.break_(w)
			list := w.Validate()
			for _, e := range list {
				if e.Where == tt.path && strings.Contains(e.Message, tt.contains) {
					if e.Code != errs.Invalid {
						t.Errorf("code %s", e.Code)
					}
					return
				}
			}
			t.Errorf("want %s: ...%s...; got:\n%v", tt.path, tt.contains, list)
		})
	}
}

// Every problem is reported at once.
func TestValidateAllAtOnce(t *testing.T) {
	w := base()
	w.Metadata.Name = ""
	w.Spec.Steps[0].Command = nil
	w.Spec.Steps[3].Backend = "x"
	if list := w.Validate(); len(list) != 3 {
		t.Errorf("want 3 problems, got %d: %v", len(list), list)
	}
}

func TestValidateProject(t *testing.T) {
	p := &Project{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: "Project"}, Metadata: ObjectMeta{Name: "churn"}, Spec: ProjectSpec{DefaultBackend: "kubernetes"}}
	if list := p.Validate(); len(list) > 0 {
		t.Fatal(list)
	}
	p.Spec.DefaultBackend = "k8s"
	p.Kind = "Workflow"
	list := p.Validate()
	if len(list) != 2 || list[0].Where != "kind" || list[1].Where != "spec.defaultBackend" {
		t.Errorf("got %v", list)
	}
}
