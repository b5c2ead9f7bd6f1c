package v1

import (
	"regexp"
	"strings"
)

// Placement on the Kubernetes backend. A step's nodeSelector and
// tolerations (fields of Step) place its pods; a project's (fields of
// ProjectSpec) are the defaults of its steps: a step's nodeSelector keys
// win over the project's, and the tolerations of both apply. Other
// backends ignore them.

// Toleration lets a step's pods run on nodes with a matching taint (the
// Kubernetes toleration, e.g. {key: nvidia.com/gpu, operator: Exists,
// effect: NoSchedule}).
type Toleration struct {
	Key string `json:"key,omitempty"`
	// Operator is Equal (the default: key and value match) or Exists (any
	// value; Value must be empty; with no Key, every taint).
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	// Effect is NoSchedule, PreferNoSchedule or NoExecute; empty matches all.
	Effect string `json:"effect,omitempty"`
	// TolerationSeconds bounds how long a NoExecute taint is tolerated.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

var (
	// qualifiedName is a Kubernetes label key: an optional DNS subdomain
	// prefix and '/', then a name of at most 63 characters.
	qualifiedName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	// labelValue is a Kubernetes label value (empty allowed).
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)

	tolerationOperators = []string{"Equal", "Exists"}
	taintEffects        = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// validKubeKey: a label key Kubernetes accepts (prefix ≤ 253 characters).
func validKubeKey(k string) bool {
	if !qualifiedName.MatchString(k) {
		return false
	}
	prefix, _, found := strings.Cut(k, "/")
	return !found || len(prefix) <= 253
}

// scheduling checks nodeSelector and tolerations at p's fields.
func (v *validator) scheduling(p string, nodeSelector map[string]string, tolerations []Toleration) {
	for _, k := range sortedKeys(nodeSelector) {
		kp := joinKey(joinField(p, "nodeSelector"), k)
		if !validKubeKey(k) {
			v.add(kp, "%q is not a node label key: an optional DNS prefix and '/', then letters, digits, '-', '_' and '.' (at most 63), e.g. cloud.google.com/gke-accelerator", k)
		}
		if !labelValue.MatchString(nodeSelector[k]) {
			v.add(kp, "%q is not a label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", nodeSelector[k])
		}
	}
	for i, t := range tolerations {
		tp := joinIndex(joinField(p, "tolerations"), i)
		if t.Key != "" && !validKubeKey(t.Key) {
			v.add(joinField(tp, "key"), "%q is not a taint key: an optional DNS prefix and '/', then letters, digits, '-', '_' and '.'", t.Key)
		}
		v.oneOf(joinField(tp, "operator"), t.Operator, "operator", tolerationOperators)
		v.oneOf(joinField(tp, "effect"), t.Effect, "effect", taintEffects)
		switch {
		case t.Operator == "Exists" && t.Value != "":
			v.add(joinField(tp, "value"), "must be empty with operator Exists (which matches any value)")
		case t.Key == "" && t.Operator != "Exists":
			v.add(joinField(tp, "operator"), "a toleration without a key must say operator: Exists (it then tolerates every taint)")
		case t.Value != "" && !labelValue.MatchString(t.Value):
			v.add(joinField(tp, "value"), "%q is not a taint value: at most 63 letters, digits, '-', '_' and '.'", t.Value)
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			v.add(joinField(tp, "tolerationSeconds"), "applies to effect NoExecute only")
		}
	}
}
