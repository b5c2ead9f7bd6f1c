package v1

import (
	"encoding/json"
	"time"
)

// Phase is the lifecycle state of a run, a step, a task or an attempt.
type Phase string

const (
	Pending   Phase = "Pending"   // not started: waiting for needs, capacity or a retry's backoff
	Running   Phase = "Running"   // at least one attempt executing
	Succeeded Phase = "Succeeded" // done, outputs recorded
	Failed    Phase = "Failed"    // done, no more retries
	Skipped   Phase = "Skipped"   // when-guard false, or a need was skipped
	Cancelled Phase = "Cancelled" // stopped on request
	Cached    Phase = "Cached"    // a task whose outputs came from the cache (counts as succeeded)
	Lost      Phase = "Lost"      // an attempt whose process vanished without reporting
)

// Done reports whether p is final.
func (p Phase) Done() bool {
	switch p {
	case Succeeded, Failed, Skipped, Cancelled, Cached, Lost:
		return true
	}
	return false
}

// Ok reports whether p is a successful final phase.
func (p Phase) Ok() bool { return p == Succeeded || p == Cached }

// Run is one execution of a workflow.
type Run struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"` // Name is the run id
	Spec     RunSpec    `json:"spec"`
	Status   RunStatus  `json:"status"`
}

type RunSpec struct {
	Workflow        string         `json:"workflow"`
	WorkflowVersion int64          `json:"workflowVersion,omitempty"`
	Params          map[string]any `json:"params,omitempty"`
	// RetryOf is the run this one re-executes (koya retry): its succeeded
	// tasks are reused, the rest run again.
	RetryOf string `json:"retryOf,omitempty"`
}

type RunStatus struct {
	Phase      Phase        `json:"phase"`
	Message    string       `json:"message,omitempty"`
	StartedAt  *time.Time   `json:"startedAt,omitempty"`
	FinishedAt *time.Time   `json:"finishedAt,omitempty"`
	Steps      []StepStatus `json:"steps,omitempty"`
}

// StepStatus summarises one step of a run; a foreach step counts its items.
type StepStatus struct {
	Name       string        `json:"name"`
	Phase      Phase         `json:"phase"`
	Message    string        `json:"message,omitempty"`
	Items      int           `json:"items"`
	Counts     map[Phase]int `json:"counts,omitempty"`
	Backend    string        `json:"backend,omitempty"`
	StartedAt  *time.Time    `json:"startedAt,omitempty"`
	FinishedAt *time.Time    `json:"finishedAt,omitempty"`
}

// Task is one item of a step (a step without foreach has exactly one, index 0).
type Task struct {
	RunID      string            `json:"run"`
	Step       string            `json:"step"`
	Index      int               `json:"index"`
	Item       json.RawMessage   `json:"item,omitempty"`
	Phase      Phase             `json:"phase"`
	Attempts   int               `json:"attempts"`
	Message    string            `json:"message,omitempty"`
	Exit       *Exit             `json:"exit,omitempty"`
	Outputs    map[string]Output `json:"outputs,omitempty"`
	Backend    string            `json:"backend,omitempty"`
	StartedAt  *time.Time        `json:"startedAt,omitempty"`
	FinishedAt *time.Time        `json:"finishedAt,omitempty"`
}

// Attempt is one execution of a task on a backend.
type Attempt struct {
	ID         string     `json:"id"`
	RunID      string     `json:"run"`
	Step       string     `json:"step"`
	Index      int        `json:"index"`
	Number     int        `json:"number"`
	Phase      Phase      `json:"phase"`
	Backend    string     `json:"backend"`
	Reason     string     `json:"reason,omitempty"` // why this backend was chosen
	Exit       *Exit      `json:"exit,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Exit is the typed result of a user command.
type Exit struct {
	Code       int     `json:"code"`
	Signal     int     `json:"signal,omitempty"`
	OOMKilled  bool    `json:"oomKilled,omitempty"`
	TimedOut   bool    `json:"timedOut,omitempty"`
	Duration   float64 `json:"durationSeconds,omitempty"`
	PeakMemory int64   `json:"peakMemoryBytes,omitempty"`
	// Error is set when the agent itself failed (inputs could not be fetched,
	// outputs missing) rather than the user command.
	Error string `json:"error,omitempty"`
}

// Output is one produced artifact: a file or a directory (stored as tar).
type Output struct {
	Ref    string `json:"ref"` // object key inside the project's store
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Dir    bool   `json:"dir,omitempty"`
	// Value is the parsed JSON content of a small JSON output (≤ 1 MiB),
	// usable in foreach and when expressions.
	Value json.RawMessage `json:"value,omitempty"`
	// Sealed is how the control plane keeps Value: encrypted with the
	// project's key (the database never holds it in clear). The engine
	// unseals it to render templates; the API shows Value.
	Sealed []byte `json:"sealed,omitempty"`
}

// LogLine is one line of a task's output as served to readers.
type LogLine struct {
	Attempt string    `json:"attempt"`
	Step    string    `json:"step"`
	Index   int       `json:"index"`
	Stream  string    `json:"stream"` // stdout | stderr | system
	Time    time.Time `json:"time"`
	Seq     int64     `json:"seq"`
	Text    string    `json:"text"`
	// Cursor orders lines across attempts; pass the last one seen to read on.
	Cursor int64 `json:"cursor"`
}
