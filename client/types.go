package client

// The request and response bodies of the API that are not resources of
// api/v1. The server (internal/server) uses these same types, so the client
// and the server cannot disagree on them.

// Health is the body of GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// SubmitRequest is the body of POST /api/v1/projects/{project}/runs.
// Params are typed JSON values; ParamStrings are strings as typed on a
// command line (-p k=v), coerced by the server to the declared types.
type SubmitRequest struct {
	Workflow     string            `json:"workflow"`
	Params       map[string]any    `json:"params,omitempty"`
	ParamStrings map[string]string `json:"paramStrings,omitempty"`
}

// Action is what apply did (or, in a dry run, would do) to one object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Applied reports one object of an apply.
type Applied struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Project string `json:"project,omitempty"`
	Action  Action `json:"action"`
	Version int64  `json:"version,omitempty"`
}

// ApplyResult is the body of POST /api/v1/apply's answer.
type ApplyResult struct {
	DryRun  bool      `json:"dryRun,omitempty"`
	Objects []Applied `json:"objects"`
}
