package server

import (
	"net/http"
	"slices"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
)

// route is one entry of the API: it registers the handler and documents
// it in the OpenAPI document, from the same values.
type route struct {
	method, path string
	id           string // OpenAPI operationId
	summary      string
	access       access
	role         v1.Role // project routes: the least role (default: viewer to read, editor to change)
	query        []param
	body         any    // the request body's Go type (a zero value); nil: none
	bodyType     string // content type of a non-JSON body
	status       int    // success status (default 200)
	resp         any    // the JSON response's Go type; nil: none
	respType     string // content type of a non-JSON response
	event        any    // a text/event-stream's event data type (also offered by the route)
	handler      func(http.ResponseWriter, *http.Request) error
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// needs is the least role a project route asks for.
func (rt route) needs() v1.Role {
	switch {
	case rt.role != "":
		return rt.role
	case rt.method == "GET":
		return v1.RoleViewer
	}
	return v1.RoleEditor
}

// param is a documented query parameter.
type param struct {
	name, typ, doc string
}

const (
	pProject = "/api/v1/projects/{project}"
	pRun     = pProject + "/runs/{run}"
	pAgent   = "/api/v1/agent/attempts/{id}"
)

// table is the API. Its order is the OpenAPI document's.
func (s *Server) table() []route {
	return slices.Concat(s.coreRoutes(), s.keyRoutes(), s.secretRoutes(), s.dataRoutes(), s.triggerRoutes())
}

func (s *Server) coreRoutes() []route {
	return []route{
		{method: "GET", path: "/healthz", id: "health", summary: "Liveness: answers while the server runs.", access: public,
			resp: client.Health{}, handler: s.health},
		{method: "GET", path: "/metrics", id: "metrics", summary: "Prometheus metrics (admin token).", access: admin,
			respType: "text/plain", handler: s.serveMetrics},
		{method: "GET", path: "/api/v1/openapi.json", id: "openapi", summary: "This document.", access: user,
			resp: map[string]any{}, handler: s.openapi},

		{method: "GET", path: "/api/v1/projects", id: "listProjects", summary: "Projects the token opens.", access: user,
			resp: []v1.Project{}, handler: s.listProjects},
		{method: "POST", path: "/api/v1/projects", id: "createProject", summary: "Create or update a project (admin).", access: admin,
			body: v1.Project{}, resp: v1.Project{}, handler: s.createProject},
		{method: "GET", path: pProject, id: "getProject", summary: "One project.", access: project,
			resp: v1.Project{}, handler: s.getProject},
		{method: "POST", path: "/api/v1/apply", id: "apply", access: user,
			summary: "Create or update every object of a YAML or JSON multi-document body; objects without metadata.project go to ?project=.",
			query:   []param{{"dryRun", "boolean", "report what would change, change nothing"}, {"project", "string", "project of objects that name none"}, {"filename", "string", "name used in error positions"}},
			body:    "", bodyType: "application/yaml", resp: client.ApplyResult{}, handler: s.apply},

		{method: "GET", path: "/api/v1/whoami", id: "whoami", summary: "The caller: principal, token scope and memberships.", access: user,
			resp: client.Whoami{}, handler: s.whoami},
		{method: "GET", path: "/api/v1/users", id: "listUsers", summary: "Users and service accounts (admin).", access: admin,
			resp: []client.User{}, handler: s.listUsers},
		{method: "POST", path: "/api/v1/users", id: "createUser", summary: "Create a user (admin).", access: admin,
			body: client.UserRequest{}, status: http.StatusCreated, resp: client.User{}, handler: s.createUser},
		{method: "DELETE", path: "/api/v1/users/{name}", id: "disableUser", summary: "Disable a user and revoke their tokens (admin).", access: admin,
			status: http.StatusNoContent, handler: s.disableUser},
		{method: "POST", path: "/api/v1/tokens", id: "createToken", access: user,
			summary: "Make a token for yourself, for anyone (admin) or for a service account of a project you own; its secret is shown once.",
			body:    client.TokenRequest{}, status: http.StatusCreated, resp: client.Token{}, handler: s.createToken},
		{method: "GET", path: "/api/v1/tokens", id: "listTokens", summary: "Tokens of the caller, or of ?subject= (admin, or owner of the service account's project).", access: user,
			query: []param{{"subject", "string", "whose tokens (default: the caller's)"}}, resp: []client.Token{}, handler: s.listTokens},
		{method: "DELETE", path: "/api/v1/tokens/{id}", id: "revokeToken", summary: "Revoke a token.", access: user,
			status: http.StatusNoContent, handler: s.revokeToken},
		{method: "GET", path: "/api/v1/audit", id: "listAudit", access: user,
			summary: "The audit log, newest first: everything for administrators, a project's entries for its owners.",
			query: []param{{"project", "string", "only this project's entries (required unless admin)"}, {"actor", "string", "only this principal's"},
				{"action", "string", "only this action, or actions starting with it when it ends with '.'"}, {"since", "string", "only entries at or after this RFC 3339 time"},
				{"before", "integer", "only entries before this seq (paging)"}, {"limit", "integer", "at most this many (default 100)"}},
			resp: []client.AuditEntry{}, handler: s.listAudit},

		{method: "GET", path: pProject + "/members", id: "listMembers", summary: "A project's members and their roles.", access: project,
			resp: []client.Member{}, handler: s.listMembers},
		{method: "PUT", path: pProject + "/members/{principal}", id: "setMember", summary: "Give a user or service account a role in the project (owner).", access: project, role: v1.RoleOwner,
			body: client.MemberRequest{}, resp: client.Member{}, handler: s.setMember},
		{method: "DELETE", path: pProject + "/members/{principal}", id: "removeMember", summary: "Take a principal out of the project (owner).", access: project, role: v1.RoleOwner,
			status: http.StatusNoContent, handler: s.removeMember},
		{method: "GET", path: pProject + "/serviceaccounts", id: "listServiceAccounts", summary: "A project's service accounts.", access: project,
			resp: []client.User{}, handler: s.listServiceAccounts},
		{method: "POST", path: pProject + "/serviceaccounts", id: "createServiceAccount", summary: "Create a service account <project>:<name> with a role (owner).", access: project, role: v1.RoleOwner,
			body: client.ServiceAccountRequest{}, status: http.StatusCreated, resp: client.User{}, handler: s.createServiceAccount},
		{method: "DELETE", path: pProject + "/serviceaccounts/{name}", id: "deleteServiceAccount", summary: "Disable a service account, revoke its tokens, remove its membership (owner).", access: project, role: v1.RoleOwner,
			status: http.StatusNoContent, handler: s.deleteServiceAccount},

		{method: "GET", path: pProject + "/workflows", id: "listWorkflows", summary: "A project's workflows.", access: project,
			resp: []v1.Workflow{}, handler: s.listWorkflows},
		{method: "GET", path: pProject + "/workflows/{name}", id: "getWorkflow", summary: "One workflow.", access: project,
			resp: v1.Workflow{}, handler: s.getWorkflow},
		{method: "DELETE", path: pProject + "/workflows/{name}", id: "deleteWorkflow", summary: "Delete a workflow (its runs stay).", access: project,
			status: http.StatusNoContent, handler: s.deleteWorkflow},

		{method: "POST", path: pProject + "/runs", id: "submitRun", summary: "Start a run of a workflow.", access: project,
			body: client.SubmitRequest{}, status: http.StatusCreated, resp: v1.Run{}, handler: s.submitRun},
		{method: "GET", path: pProject + "/runs", id: "listRuns", summary: "Runs, newest first.", access: project,
			query: []param{{"workflow", "string", "only runs of this workflow"}, {"phase", "string", "only runs in this phase"},
				{"limit", "integer", "at most this many (default 100)"}, {"before", "string", "only runs older than this run id (paging)"}},
			resp: []v1.Run{}, handler: s.listRuns},
		{method: "GET", path: pRun, id: "getRun", summary: "A run with its steps' statuses.", access: project,
			resp: v1.Run{}, handler: s.getRun},
		{method: "GET", path: pRun + "/tasks", id: "listTasks", summary: "A run's tasks (items of its steps).", access: project,
			query: []param{{"step", "string", "only this step's tasks"}}, resp: []v1.Task{}, handler: s.listTasks},
		{method: "GET", path: pRun + "/attempts", id: "listAttempts", summary: "A run's attempts.", access: project,
			resp: []v1.Attempt{}, handler: s.listAttempts},
		{method: "POST", path: pRun + "/cancel", id: "cancelRun", summary: "Ask a run to stop.", access: project,
			resp: v1.Run{}, handler: s.cancelRun},
		{method: "POST", path: pRun + "/retry", id: "retryRun", summary: "Run again what did not succeed in an ended run.", access: project,
			resp: v1.Run{}, handler: s.retryRun},
		{method: "GET", path: pRun + "/logs", id: "runLogs", access: project,
			summary: "A run's log lines: a JSON list, or with Accept: text/event-stream a stream of them (follow=1: live until the run ends).",
			query: []param{{"step", "string", "only this step"}, {"index", "integer", "only this item of a foreach step"},
				{"after", "integer", "only lines after this cursor"}, {"limit", "integer", "at most this many lines (JSON only; default 1000)"},
				{"follow", "boolean", "keep streaming new lines until the run ends (event stream only)"}},
			resp: []v1.LogLine{}, event: v1.LogLine{}, handler: s.runLogs},
		{method: "GET", path: pRun + "/watch", id: "watchRun", summary: "An event stream of the run, sent on every change until it ends.", access: project,
			event: v1.Run{}, handler: s.watchRun},
		{method: "GET", path: pRun + "/artifacts/{step}/{index}/{output}", id: "downloadArtifact", summary: "The bytes of a task's output (a tar stream for a directory).", access: project,
			respType: "application/octet-stream", handler: s.downloadArtifact},

		{method: "POST", path: pAgent + "/events", id: "agentEvents", summary: "An agent reports its attempt's events (agent token).", access: agent,
			body: v1.AgentEventBatch{}, resp: v1.AgentEventAck{}, handler: s.agentEvents},
		{method: "POST", path: pAgent + "/logs", id: "agentLogs", summary: "An agent sends log lines (agent token).", access: agent,
			body: v1.LogChunk{}, status: http.StatusNoContent, handler: s.agentLogs},
		{method: "PUT", path: pAgent + "/outputs/{name}", id: "agentPutOutput", summary: "An agent uploads an output (agent token).", access: agent,
			query: []param{{"dir", "boolean", "the body is a tar stream of a directory"}},
			body:  "", bodyType: "application/octet-stream", resp: v1.Output{}, handler: s.agentPutOutput},
		{method: "GET", path: pAgent + "/artifacts", id: "agentGetArtifact", summary: "An agent downloads an input artifact of its project (agent token).", access: agent,
			query: []param{{"ref", "string", "the artifact's ref"}}, respType: "application/octet-stream", handler: s.agentGetArtifact},
	}
}
