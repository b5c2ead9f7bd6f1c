// Package v1 holds koya's public resource types (apiVersion koya.dev/v1):
// the envelope every object shares, the Workflow kind, runs and their parts,
// and the wire types the in-task agent speaks.
package v1

import (
	"encoding/json"
	"time"
)

const APIVersion = "koya.dev/v1"

// ObjectMeta names an object and the project (tenant) it belongs to.
type ObjectMeta struct {
	Name    string            `json:"name"`
	Project string            `json:"project,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Set by the server.
	Version   int64     `json:"version,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// TypeMeta is the kind and version every document starts with.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Project is a tenant. Members, roles, quotas and keys slot in here later.
type Project struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ProjectSpec `json:"spec"`
}

type ProjectSpec struct {
	Description string `json:"description,omitempty"`
	// DefaultBackend is used by steps that say backend: auto (or nothing)
	// and match no rule of BackendPolicy.
	DefaultBackend string `json:"defaultBackend,omitempty"`
	// BackendPolicy picks the backend of steps that say backend: auto (or
	// nothing) by their size: see BackendRule.
	BackendPolicy []BackendRule `json:"backendPolicy,omitempty"`
	// Quota caps what the project's tasks use at once; tasks over it wait.
	Quota *Quota `json:"quota,omitempty"`
	// NodeSelector and Tolerations are the defaults of the project's
	// steps on the kubernetes backend (see scheduling.go).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// Quota is a project's limits. Zero fields do not limit. A task whose
// start would go over one waits (its step says which quota and its use)
// until the project's running tasks leave room.
type Quota struct {
	MaxRunning int     `json:"maxRunning,omitempty"` // tasks running at once
	CPU        float64 `json:"cpu,omitempty"`        // cores asked by running tasks (resources.cpu)
	Memory     string  `json:"memory,omitempty"`     // memory asked by running tasks (resources.memory), e.g. 64Gi
	// Storage caps the bytes of artifacts the project stores, e.g. 500Gi:
	// an upload that would pass it is refused (quota_exceeded).
	Storage string `json:"storage,omitempty"`
}

// Workflow is a DAG of containerised steps.
type Workflow struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkflowSpec `json:"spec"`
}

type WorkflowSpec struct {
	Description string               `json:"description,omitempty"`
	Params      map[string]ParamSpec `json:"params,omitempty"`
	Steps       []Step               `json:"steps"`
	// Parallelism caps how many attempts of one run execute at once (0: no cap
	// beyond the backend's own).
	Parallelism int `json:"parallelism,omitempty"`
}

// ParamSpec declares one run parameter.
type ParamSpec struct {
	Type        string `json:"type"` // string | number | integer | boolean | object | array
	Default     any    `json:"default,omitempty"`
	Enum        []any  `json:"enum,omitempty"`
	Description string `json:"description,omitempty"`
}

// Step is one node of the DAG. Strings may hold templates "{{ expr }}" whose
// expr is CEL over params, item, steps.<name>.outputs and run.
type Step struct {
	Name    string            `json:"name"`
	Image   string            `json:"image,omitempty"`
	Command []string          `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	WorkDir string            `json:"workingDir,omitempty"`
	Needs   []string          `json:"needs,omitempty"`
	// Foreach is a static list, or a template string whose value is a list
	// (e.g. "{{ steps.grid.outputs.params }}").
	Foreach any `json:"foreach,omitempty"`
	// Parallelism caps concurrent items of a foreach step.
	Parallelism int `json:"parallelism,omitempty"`
	// When is a CEL guard; false skips the step (and its dependents see it skipped).
	When      string            `json:"when,omitempty"`
	Retry     *RetryPolicy      `json:"retry,omitempty"`
	Timeout   Duration          `json:"timeout,omitempty"`
	Resources Resources         `json:"resources,omitzero"`
	Inputs    map[string]string `json:"inputs,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	Secrets   []string          `json:"secrets,omitempty"`
	Backend   string            `json:"backend,omitempty"` // local | container | kubernetes | auto | mock
	Network   string            `json:"network,omitempty"` // none | egress
	Cache     bool              `json:"cache,omitempty"`
	// NodeSelector and Tolerations place the step's pods on the
	// kubernetes backend (see scheduling.go).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// RetryPolicy: When is CEL over exit.code, exit.signal, exit.oom_killed,
// exit.timed_out, attempt, params. Empty When retries any failure.
type RetryPolicy struct {
	Limit   int      `json:"limit"`
	Backoff Duration `json:"backoff,omitempty"`
	// MaxBackoff caps exponential growth (backoff doubles per attempt).
	MaxBackoff Duration `json:"maxBackoff,omitempty"`
	When       string   `json:"when,omitempty"`
}

// Resources a step asks for. Memory is a Kubernetes-style quantity (4Gi, 512Mi).
type Resources struct {
	CPU    float64 `json:"cpu,omitempty"`
	Memory string  `json:"memory,omitempty"`
	GPU    int     `json:"gpu,omitempty"`
}

// Duration is a time.Duration written as "10s", "2h" in documents.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) {
	if d.Duration == 0 {
		return []byte(`""`), nil
	}
	return json.Marshal(d.Duration.String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		d.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	if s == "" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d Duration) IsZero() bool { return d.Duration == 0 }
