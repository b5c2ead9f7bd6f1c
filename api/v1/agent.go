package v1

import (
	"encoding/json"
	"time"
)

// TaskManifest is everything the in-task agent needs to run one attempt,
// fixed when the attempt is dispatched so that the agent never has to ask
// the control plane what to do.
type TaskManifest struct {
	AttemptID string `json:"attemptId"`
	Project   string `json:"project"`
	RunID     string `json:"run"`
	Step      string `json:"step"`
	Index     int    `json:"index"`
	Number    int    `json:"number"`
	// Server is the control plane's base URL; Token authorises this attempt only.
	Server string `json:"server"`
	Token  string `json:"token"`

	Command []string          `json:"command"` // rendered: templates resolved
	Env     map[string]string `json:"env,omitempty"`
	WorkDir string            `json:"workingDir,omitempty"`
	Image   string            `json:"image,omitempty"`
	// Inputs maps a local path (relative to the task's working directory) to
	// the artifacts to place there.
	Inputs []InputSpec `json:"inputs,omitempty"`
	// Outputs maps an output name to the path the command writes it to.
	Outputs   map[string]string `json:"outputs,omitempty"`
	Timeout   Duration          `json:"timeout,omitempty"`
	Resources Resources         `json:"resources,omitzero"`
	Network   string            `json:"network,omitempty"`
	// Secrets names the project secrets the agent fetches before the
	// command starts (never their values: those are asked for by token).
	Secrets []string `json:"secrets,omitempty"`
	// NodeSelector and Tolerations are the step's placement on the
	// kubernetes backend (the project's defaults are added there).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// InputSpec places artifacts at Path: one artifact as a file or directory,
// or several (a fan-out step's outputs) as Path/0, Path/1, ...
//
// A datalake input names its reference in Datalake; the engine pins it to
// Artifacts when the task is created. A query's files go to Path/Names[i]
// (their paths in the channel) rather than Path/i.
type InputSpec struct {
	Name      string   `json:"name"`
	Path      string   `json:"path"`
	Artifacts []Output `json:"artifacts"`
	Many      bool     `json:"many,omitempty"`
	Datalake  string   `json:"datalake,omitempty"`
	Names     []string `json:"names,omitempty"`
}

// EventType is what an agent reports.
type EventType string

const (
	EventStarted   EventType = "started"   // user command launched
	EventHeartbeat EventType = "heartbeat" // still alive
	EventOutput    EventType = "output"    // an output uploaded (Output set)
	EventExited    EventType = "exited"    // final: Exit set; no event follows
)

// AgentEvent is one sequenced report of an attempt. Seq starts at 1 and
// grows by one; the control plane applies each (attempt, seq) at most once.
type AgentEvent struct {
	Seq    int64     `json:"seq"`
	Type   EventType `json:"type"`
	Time   time.Time `json:"time"`
	Name   string    `json:"name,omitempty"` // output name
	Output *Output   `json:"output,omitempty"`
	Exit   *Exit     `json:"exit,omitempty"`
	PID    int       `json:"pid,omitempty"`
}

// AgentEventBatch is the body of POST /api/v1/agent/attempts/{id}/events.
type AgentEventBatch struct {
	Events []AgentEvent `json:"events"`
}

// AgentEventAck says up to which seq the control plane has applied events,
// and whether the attempt should stop (cancelled).
type AgentEventAck struct {
	Applied int64 `json:"applied"`
	Cancel  bool  `json:"cancel,omitempty"`
}

// LogChunk is the body of POST /api/v1/agent/attempts/{id}/logs: lines with
// their own sequence numbers (idempotent on resend).
type LogChunk struct {
	Lines []AgentLogLine `json:"lines"`
}

type AgentLogLine struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
}

// AgentSecrets is the answer of GET /api/v1/agent/attempts/{id}/secrets:
// the values of exactly the secrets the attempt's step lists.
type AgentSecrets struct {
	Secrets []AgentSecret `json:"secrets"`
}

// AgentSecret is one secret's value (base64 in JSON: values are bytes).
type AgentSecret struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Value   []byte `json:"value"`
}

// RawJSON is a helper alias for free JSON values in documents.
type RawJSON = json.RawMessage

// Exit.Error values with a meaning the engine acts on.
const (
	// ExitCancelled: the attempt was stopped on request; never retried.
	ExitCancelled = "cancelled"
	// ExitLost: the task's process vanished without a result; retried within
	// the step's limit whatever retry.when says, since the user's code never
	// told how it ended.
	ExitLost = "lost: the task's process ended without reporting a result"
)
