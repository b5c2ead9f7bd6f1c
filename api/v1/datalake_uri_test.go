package v1

import (
	"strings"
	"testing"
)

func TestParseDatalakeURI(t *testing.T) {
	good := []struct {
		in   string
		want DatalakeURI
	}{
		{"datalake://churn/raw/a/b.csv", DatalakeURI{Project: "churn", Channel: "raw", Path: "a/b.csv"}},
		{"datalake://churn/raw?query=label+%3D+%22cat%22&sort=created+desc", DatalakeURI{Project: "churn", Channel: "raw", Query: `label = "cat"`, Sort: "created desc", IsQuery: true}},
		{"datalake://churn/raw?query=", DatalakeURI{Project: "churn", Channel: "raw", IsQuery: true}},
	}
	for _, g := range good {
		got, err := ParseDatalakeURI(g.in)
		if err != nil || got != g.want {
			t.Errorf("ParseDatalakeURI(%q) = %+v, %v; want %+v", g.in, got, err, g.want)
		}
		again, err := ParseDatalakeURI(got.String())
		if err != nil || again != got {
			t.Errorf("%q: String() %q parses to %+v, %v", g.in, got.String(), again, err)
		}
	}
	bad := map[string]string{
		"s3://x/y/z":                 "is not a datalake reference",
		"datalake://churn":           "names no project and channel",
		"datalake:///raw/x":          "names no project and channel",
		"datalake://churn/raw/":      "names no file",
		"datalake://churn/raw/x?q=1": "both a path and a query",
		"datalake://churn/raw?q=1":   `unknown parameter "q"`,
	}
	for in, want := range bad {
		if _, err := ParseDatalakeURI(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDatalakeURI(%q) = %v; want an error containing %q", in, err, want)
		}
	}
}

func TestValidateDatalakeRefs(t *testing.T) {
	step := func(w *Workflow, name string) *Step {
		for i := range w.Spec.Steps {
			if w.Spec.Steps[i].Name == name {
				return &w.Spec.Steps[i]
			}
		}
		t.Fatalf("no step %s", name)
		return nil
	}
	w := base()
	w.Spec.Params["dataset"] = ParamSpec{Type: "string", Default: "a.csv"}
	step(w, "prep").Inputs = map[string]string{
		"raw":  "datalake://p/raw/{{ params.dataset }}",
		"cats": `datalake://p/raw?query=label = "cat"`,
	}
	step(w, "train").Foreach = `datalake://p/raw?query=label = "cat"`
	step(w, "train").Inputs["img"] = "{{ item.uri }}"
	if list := w.Validate(); len(list) > 0 {
		t.Fatalf("valid datalake references refused:\n%v", list)
	}
}
