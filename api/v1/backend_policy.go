package v1

import (
	"fmt"
	"strings"
	"time"
)

// BackendRule is one rule of a project's backend policy: the steps that
// say backend: auto (or nothing) and match it run on Backend. Rules are
// tried in order and the first that matches wins; a step no rule matches
// runs on the project's defaultBackend.
//
// The anchor's rule, heavy or long steps to the big-instance backend and
// light ones to the fast-start one, reads:
//
//	backendPolicy:
//	  - {backend: kubernetes, atLeast: {gpu: 1, cpu: 4, memory: 16Gi, timeout: 1h}}
//	  - {backend: container}
type BackendRule struct {
	Backend string `json:"backend"`
	// AtLeast matches a step that asks for at least one of its amounts
	// (resources.cpu, resources.memory, resources.gpu, timeout). Without
	// it the rule matches every step.
	AtLeast *Threshold `json:"atLeast,omitempty"`
}

// Threshold is a step's size from which a rule applies. Zero fields are
// not compared.
type Threshold struct {
	CPU     float64  `json:"cpu,omitempty"`
	Memory  string   `json:"memory,omitempty"`
	GPU     int      `json:"gpu,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

// ChooseBackend applies a project's policy to a step that leaves the
// choice to it and says why: "rule 1: gpu 1 ≥ 1". available says which
// backends this control plane has: a rule naming another is passed over
// (and the reason says so). def is the project's default backend.
func ChooseBackend(step *Step, policy []BackendRule, def string, available func(string) bool) (string, string) {
	var passed []string
	for i, r := range policy {
		why, ok := r.matches(step)
		if !ok {
			continue
		}
		if available != nil && !available(r.Backend) {
			passed = append(passed, fmt.Sprintf("rule %d (%s) not configured here", i+1, r.Backend))
			continue
		}
		return r.Backend, strings.Join(append(passed, fmt.Sprintf("auto: rule %d: %s", i+1, why)), "; ")
	}
	return def, strings.Join(append(passed, "auto: project default "+def), "; ")
}

// matches says whether step reaches the rule's threshold, and how.
func (r BackendRule) matches(s *Step) (string, bool) {
	t := r.AtLeast
	if t == nil {
		return "every step", true
	}
	var hits []string
	if t.CPU > 0 && s.Resources.CPU >= t.CPU {
		hits = append(hits, fmt.Sprintf("cpu %g ≥ %g", s.Resources.CPU, t.CPU))
	}
	if t.GPU > 0 && s.Resources.GPU >= t.GPU {
		hits = append(hits, fmt.Sprintf("gpu %d ≥ %d", s.Resources.GPU, t.GPU))
	}
	if t.Memory != "" {
		want, err1 := MemoryBytes(t.Memory)
		got, err2 := MemoryBytes(s.Resources.Memory)
		if err1 == nil && err2 == nil && want > 0 && got >= want {
			hits = append(hits, fmt.Sprintf("memory %s ≥ %s", s.Resources.Memory, t.Memory))
		}
	}
	if t.Timeout.Duration > 0 && s.Timeout.Duration >= t.Timeout.Duration {
		hits = append(hits, fmt.Sprintf("timeout %s ≥ %s", shortDuration(s.Timeout.Duration), shortDuration(t.Timeout.Duration)))
	}
	return strings.Join(hits, ", "), len(hits) > 0
}

func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// backendPolicy checks a project's backend policy.
func (v *validator) backendPolicy(p string, rules []BackendRule) {
	for i, r := range rules {
		rp := joinIndex(p, i)
		switch {
		case r.Backend == "":
			v.add(joinField(rp, "backend"), "name the backend the rule's steps run on: one of %s", strings.Join(backends[1:], ", "))
		case r.Backend == "auto":
			v.add(joinField(rp, "backend"), "a rule picks a backend; auto is what steps say to use the policy")
		default:
			v.oneOf(joinField(rp, "backend"), r.Backend, "backend", backends)
		}
		if t := r.AtLeast; t != nil {
			tp := joinField(rp, "atLeast")
			v.resources(tp, Resources{CPU: t.CPU, Memory: t.Memory, GPU: t.GPU})
			if t.Timeout.Duration < 0 {
				v.add(joinField(tp, "timeout"), "must not be negative")
			}
			if t.CPU == 0 && t.Memory == "" && t.GPU == 0 && t.Timeout.Duration == 0 {
				v.add(tp, "give at least one of cpu, memory, gpu, timeout (or leave atLeast out to match every step)")
			}
		}
		if r.AtLeast == nil && i < len(rules)-1 {
			v.add(joinIndex(p, i+1), "rule %d matches every step, so the rules after it never apply", i+1)
		}
	}
}
