package v1

import (
	"strings"
	"testing"
	"time"
)

func TestChooseBackend(t *testing.T) {
	policy := []BackendRule{
		{Backend: "kubernetes", AtLeast: &Threshold{GPU: 1, CPU: 4, Memory: "16Gi", Timeout: Duration{time.Hour}}},
		{Backend: "container"},
	}
	only := func(names ...string) func(string) bool {
		return func(b string) bool {
			for _, n := range names {
				if n == b {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name      string
		step      Step
		policy    []BackendRule
		available func(string) bool
		want      string
		why       string
	}{
		{"gpu", Step{Resources: Resources{GPU: 1}}, policy, nil, "kubernetes", "auto: rule 1: gpu 1 ≥ 1"},
		{"memory", Step{Resources: Resources{Memory: "32Gi"}}, policy, nil, "kubernetes", "memory 32Gi ≥ 16Gi"},
		{"long", Step{Timeout: Duration{2 * time.Hour}}, policy, nil, "kubernetes", "timeout 2h ≥ 1h"},
		{"two reasons", Step{Resources: Resources{CPU: 8, GPU: 2}}, policy, nil, "kubernetes", "cpu 8 ≥ 4, gpu 2 ≥ 1"},
		{"light", Step{Resources: Resources{CPU: 1, Memory: "1Gi"}, Timeout: Duration{time.Minute}}, policy, nil, "container", "auto: rule 2: every step"},
		{"just under", Step{Resources: Resources{CPU: 3.9, Memory: "15Gi"}}, policy, nil, "container", "rule 2"},
		{"no policy", Step{Resources: Resources{GPU: 1}}, nil, nil, "local", "auto: project default local"},
		{"not configured", Step{Resources: Resources{GPU: 1}}, policy, only("container", "local"), "container", "rule 1 (kubernetes) not configured here; auto: rule 2: every step"},
		{"none configured", Step{}, policy[1:], only("local"), "local", "rule 1 (container) not configured here; auto: project default local"},
	}
	for _, tt := range tests {
		got, why := ChooseBackend(&tt.step, tt.policy, "local", tt.available)
		if got != tt.want || !strings.Contains(why, tt.why) {
			t.Errorf("%s: %s (%s), want %s (%s)", tt.name, got, why, tt.want, tt.why)
		}
	}
}

func TestValidateBackendPolicy(t *testing.T) {
	p := Project{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: "Project"}, Metadata: ObjectMeta{Name: "p"},
		Spec: ProjectSpec{BackendPolicy: []BackendRule{
			{Backend: "container"},
			{Backend: "kubernetes", AtLeast: &Threshold{Memory: "16GB"}},
			{Backend: "auto"},
			{Backend: "podman"},
			{Backend: "local", AtLeast: &Threshold{}},
		}}}
	got := p.Validate().Error()
	for _, want := range []string{
		"spec.backendPolicy[1]: rule 1 matches every step",
		"spec.backendPolicy[1].atLeast.memory", "did you mean 16G",
		"spec.backendPolicy[2].backend: a rule picks a backend",
		"spec.backendPolicy[3].backend",
		"spec.backendPolicy[4].atLeast: give at least one",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
