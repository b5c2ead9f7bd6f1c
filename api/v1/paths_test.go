package v1

import "testing"

func TestPaths(t *testing.T) {
	if got := joinKey(joinIndex(joinField("spec", "steps"), 2), "env"); got != "spec.steps[2].env" {
		t.Error(got)
	}
	if got := joinKey("spec.steps[0].env", "MY-VAR"); got != `spec.steps[0].env["MY-VAR"]` {
		t.Error(got)
	}
	for path, parent := range map[string]string{
		"spec.steps[1].retry.when":   "spec.steps[1].retry",
		"spec.steps[1]":              "spec.steps",
		`spec.env["a[0].b"]`:         "spec.env",
		`spec.env["q\"[x]"]`:         "spec.env",
		"spec":                       "",
		"":                           "",
		`metadata.labels["k"].extra`: `metadata.labels["k"]`,
	} {
		if got := parentPath(path); got != parent {
			t.Errorf("parentPath(%q) = %q, want %q", path, got, parent)
		}
	}
	for _, tt := range []struct {
		path, base string
		want       bool
	}{
		{"spec.steps[0].command[1]", "spec.steps[0].command", true},
		{"spec.steps[0].command", "spec.steps[0].command", true},
		{"spec.steps[0].commands", "spec.steps[0].command", false},
		{"spec.steps[10]", "spec.steps[1]", false},
		{"anything", "", true},
	} {
		if got := within(tt.path, tt.base); got != tt.want {
			t.Errorf("within(%q, %q) = %v", tt.path, tt.base, got)
		}
	}
}
