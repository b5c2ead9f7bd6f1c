package v1

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
)

func parseFile(t *testing.T, name string) ([]Object, []*errs.Error) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	objs, perr := Parse(name, data)
	return objs, problems(t, perr)
}

// TestLintWhere pins the place and field path of the problems the lint
// files are about (the golden files hold the full messages).
func TestLintWhere(t *testing.T) {
	tests := []struct {
		file, where, path, contains string
	}{
		{"cycle.yaml", "cycle.yaml:10:15", "spec.steps[1].needs[0]", "needs form a cycle: prepare → evaluate → train → prepare"},
		{"cycle.yaml", "cycle.yaml:16:15", "spec.steps[3].needs[0]", `step "publish" cannot need itself`},
		{"cycle.yaml", "cycle.yaml:16:24", "spec.steps[3].needs[1]", `unknown step "evalute" (did you mean evaluate?)`},
		{"unknown_field.yaml", "unknown_field.yaml:8:7", "spec.steps[0].comand", `unknown field "comand": did you mean command?`},
		{"unknown_field.yaml", "unknown_field.yaml:10:7", "spec.steps[0].retries", "did you mean retry?"},
		{"unknown_field.yaml", "unknown_field.yaml:11:7", "spec.steps[0].colour", "the fields here are name, image, command"},
		{"bad_when.yaml", "bad_when.yaml:10:38", "spec.steps[0].when", "column 25: the expression ends too early"},
		{"bad_when.yaml", "bad_when.yaml:13:26", "spec.steps[0].retry.when", "column 11: token recognition error at: '= ' (CEL compares with ==)"},
		{"bad_when.yaml", "bad_when.yaml:17:13", "spec.steps[1].when", "must be true or false, but this expression is string"},
		{"bad_when.yaml", "bad_when.yaml:18:37", "spec.steps[1].retry.when", `column 6: exit has no field "oom_kiled" (did you mean oom_killed?)`},
		{"bad_when.yaml", "bad_when.yaml:18:37", "spec.steps[1].retry.when", "column 19: item is only defined in a step with foreach"},
		{"bad_when.yaml", "bad_when.yaml:22:14", "spec.steps[2].when", "column 1: exit is only defined in retry.when"},
		{"bad_template.yaml", "bad_template.yaml:9:55", "spec.steps[0].command[3]", `{{ params.ration }} at column 11: unknown param "ration" (did you mean ratio?)`},
		{"bad_template.yaml", "bad_template.yaml:13:44", "spec.steps[1].command[2]", `column 8: "{{" is not closed`},
		{"bad_template.yaml", "bad_template.yaml:18:27", "spec.steps[1].env.REPORT", `step "report" is not among the steps this one needs`},
		{"bad_template.yaml", "bad_template.yaml:21:97", "spec.steps[2].command[3]", `step "prepare" declares no output "dta" (did you mean data?)`},
		{"bad_template.yaml", "bad_template.yaml:22:28", "spec.steps[2].workingDir", "item is only defined in a step with foreach"},
		{"bad_template.yaml", "bad_template.yaml:24:66", "spec.steps[3].command[2]", "no matching overload for '_+_' applied to '(double, string)'"},
		{"bad_template.yaml", "bad_template.yaml:24:78", "spec.steps[3].command[3]", `"}}" without an opening "{{"`},
		{"tab.yaml", "tab.yaml:4:1", "", "YAML indents with spaces only"},
		{"bad_indent.yaml", "bad_indent.yaml:8:6", "", "check the indentation"},
		{"wrong_type.yaml", "wrong_type.yaml:9:22", "spec.steps[0].retry.limit", `expected an integer, got the string "three"`},
		{"wrong_type.yaml", "wrong_type.yaml:8:16", "spec.steps[0].command", "expected a list (write [python3, train.py])"},
		{"wrong_type.yaml", "wrong_type.yaml:10:16", "spec.steps[0].timeout", `"2 hours" is not a duration`},
		{"wrong_type.yaml", "wrong_type.yaml:13:14", "spec.steps[0].needs", "expected a list (write [prepare])"},
	}
	for _, tt := range tests {
		_, list := parseFile(t, tt.file)
		found := false
		for _, e := range list {
			prefix := ""
			if tt.path != "" {
				prefix = tt.path + ": "
			}
			if e.Where == tt.where && strings.HasPrefix(e.Message, prefix) && strings.Contains(e.Message, tt.contains) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error at %s about %s containing %q; got:\n%v", tt.file, tt.where, tt.path, tt.contains, errs.List(list))
		}
	}
}

// Errors that only repeat a decoding problem are not reported twice.
func TestLintNoEcho(t *testing.T) {
	for _, file := range []string{"unknown_field.yaml", "wrong_type.yaml"} {
		_, list := parseFile(t, file)
		for _, e := range list {
			if strings.Contains(e.Message, "a step needs a command") || strings.Contains(e.Message, "required field is missing") {
				t.Errorf("%s: echo of a decoding problem: %v", file, e)
			}
		}
	}
}

func TestParseValid(t *testing.T) {
	objs, list := parseFile(t, "valid.yaml")
	if len(list) > 0 {
		t.Fatalf("valid.yaml: %v", errs.List(list))
	}
	if len(objs) != 1 {
		t.Fatalf("%d objects", len(objs))
	}
	wf, ok := objs[0].(*Workflow)
	if !ok {
		t.Fatalf("%T", objs[0])
	}
	if wf.GetTypeMeta().Kind != "Workflow" || wf.GetMetadata().Name != "build-model" || wf.Metadata.Project != "churn" {
		t.Errorf("envelope: %+v %+v", wf.TypeMeta, wf.Metadata)
	}
	s := wf.Spec
	if got := s.Params["split_ratio"]; got.Type != "number" || got.Default != 0.8 {
		t.Errorf("split_ratio: %+v", got)
	}
	if got := s.Params["metric"].Enum; !reflect.DeepEqual(got, []any{"roc_auc", "f1", "accuracy"}) {
		t.Errorf("enum: %v", got)
	}
	if len(s.Steps) != 2 {
		t.Fatalf("steps: %d", len(s.Steps))
	}
	train := s.Steps[1]
	wantItems := []any{map[string]any{"C": 0.1}, map[string]any{"C": 1.0}, map[string]any{"C": 10.0}}
	if !reflect.DeepEqual(train.Foreach, wantItems) {
		t.Errorf("foreach: %#v", train.Foreach)
	}
	if train.Retry == nil || train.Retry.Limit != 3 || train.Retry.Backoff.Duration != 10*time.Second || train.Retry.When == "" {
		t.Errorf("retry: %+v", train.Retry)
	}
	if train.Timeout.Duration != 2*time.Hour || train.Resources != (Resources{CPU: 2, Memory: "4Gi"}) {
		t.Errorf("timeout %v resources %+v", train.Timeout, train.Resources)
	}
	if train.Backend != "auto" || train.Network != "none" || !train.Cache || train.Inputs["train"] != "{{ steps.split.outputs.train }}" {
		t.Errorf("train: %+v", train)
	}
}

func TestParseMulti(t *testing.T) {
	objs, list := parseFile(t, "multi.yaml")
	if len(list) > 0 {
		t.Fatalf("multi.yaml: %v", errs.List(list))
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects", len(objs))
	}
	p, ok := objs[0].(*Project)
	if !ok || p.Metadata.Name != "churn" || p.Spec.DefaultBackend != "local" {
		t.Errorf("project: %#v", objs[0])
	}
	wf := objs[1].(*Workflow)
	// The alias *small repeats the anchored resources.
	if r := wf.Spec.Steps[1].Resources; r != (Resources{CPU: 0.5, Memory: "512Mi"}) {
		t.Errorf("aliased resources: %+v", r)
	}
	if wf.Spec.Steps[2].Retry.MaxBackoff.Duration != time.Minute {
		t.Errorf("maxBackoff: %v", wf.Spec.Steps[2].Retry.MaxBackoff)
	}
}

// The repository's own example workflow parses clean.
func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/model-builder/workflow.yaml")
	if err != nil {
		t.Skip(err)
	}
	if _, err := Parse("workflow.yaml", data); err != nil {
		t.Fatal(err)
	}
}

func TestParseJSON(t *testing.T) {
	// Tab-indented JSON (what json.MarshalIndent(v, "", "\t") writes).
	good := "{\n\t\"apiVersion\": \"koya.dev/v1\",\n\t\"kind\": \"Workflow\",\n\t\"metadata\": {\"name\": \"j\"},\n" +
		"\t\"spec\": {\n\t\t\"steps\": [\n\t\t\t{\"name\": \"a\", \"command\": [\"echo\", \"{{ params.x }}\"], \"timeout\": \"5s\"}\n\t\t]\n\t}\n}\n"
	_, err := Parse("wf.json", []byte(good))
	list := problems(t, err)
	if len(list) != 1 || list[0].Where != "wf.json:7:49" || !strings.Contains(list[0].Message, `spec.steps[0].command[1]: {{ params.x }} at column 11: unknown param "x"`) {
		t.Errorf("got %v", err)
	}
	fixed := strings.Replace(good, "{{ params.x }}", "hi", 1)
	objs, err := Parse("wf.json", []byte(fixed))
	if err != nil || objs[0].(*Workflow).Spec.Steps[0].Timeout.Duration != 5*time.Second {
		t.Fatalf("%v %+v", err, objs)
	}

	_, err = Parse("bad.json", []byte("{\n  \"kind\": \"Workflow\",\n  \"spec\": {\"steps\": [1, 2}\n}"))
	list = problems(t, err)
	if len(list) != 1 || list[0].Where != "bad.json:3:26" || !strings.Contains(list[0].Message, "JSON syntax") {
		t.Errorf("got %v", err)
	}

	// A list of documents.
	objs, err = Parse("list.json", []byte(`[{"apiVersion": "koya.dev/v1", "kind": "Project", "metadata": {"name": "a"}},
	 {"apiVersion": "koya.dev/v1", "kind": "Project", "metadata": {"name": "b"}}]`))
	if err != nil || len(objs) != 2 || objs[1].GetMetadata().Name != "b" {
		t.Errorf("%v %v", err, objs)
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"empty", "", "f.yaml: no documents"},
		{"comments only", "# nothing\n", "f.yaml: no documents"},
		{"no kind", "apiVersion: koya.dev/v1\nmetadata: {name: a}\n", "f.yaml:1:1: kind: missing: every document names its kind, one of Project, Trigger, Workflow"},
		{"unknown kind", "apiVersion: koya.dev/v1\nkind: Workflw\n", `f.yaml:2:7: kind: unknown kind "Workflw" (did you mean Workflow?)`},
		{"scalar", "hello\n", "f.yaml:1:1: a document is a mapping with apiVersion, kind, metadata and spec, not the string \"hello\""},
		{"api version", "apiVersion: koya.dev/v2\nkind: Project\nmetadata: {name: p}\n", `f.yaml:1:13: apiVersion: "koya.dev/v2" is not supported: use koya.dev/v1`},
		{"missing api version", "kind: Project\nmetadata: {name: p}\n", "f.yaml:1:1: apiVersion: required field is missing: write apiVersion: koya.dev/v1"},
		{"missing name", "apiVersion: koya.dev/v1\nkind: Project\nmetadata: {project: x}\n", "f.yaml:3:11: metadata.name: required field is missing"},
		{"bad name", "apiVersion: koya.dev/v1\nkind: Project\nmetadata: {name: My_Project}\n", `f.yaml:3:18: metadata.name: "My_Project" is not a valid project name: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. "my-project"`},
		{"duplicate key", "apiVersion: koya.dev/v1\nkind: Project\nkind: Project\n", `f.yaml:3:1: YAML syntax: mapping key "kind" already defined at [2:1]`},
		{"unclosed quote", "apiVersion: \"koya.dev/v1\nkind: Project\n", "f.yaml:1:13: YAML syntax: could not find end character of double-quoted text"},
		{"second document", "apiVersion: koya.dev/v1\nkind: Project\nmetadata: {name: a}\n---\napiVersion: koya.dev/v1\nkind: Project\nmetadata: {name: a, extra: 1}\n",
			`f.yaml:7:21: metadata.extra: unknown field "extra"`},
		{"merge key", "base: &b {name: a}\napiVersion: koya.dev/v1\nkind: Project\nmetadata: {<<: *b, project: x}\n", `f.yaml:1:1: base: unknown field "base"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if errs.CodeOf(err) != errs.Invalid {
				t.Errorf("code %s", errs.CodeOf(err))
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxDocumentSize+1))
	if !errs.Is(err, errs.TooLarge) {
		t.Errorf("got %v", err)
	}
}
