package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, "/healthz", nil, nil, &h)
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (map[string]any, error) {
	var doc map[string]any
	return doc, c.do(ctx, http.MethodGet, "/api/v1/openapi.json", nil, nil, &doc)
}

// Projects lists the projects the token opens.
func (c *Client) Projects(ctx context.Context) ([]v1.Project, error) {
	var ps []v1.Project
	return ps, c.do(ctx, http.MethodGet, "/api/v1/projects", nil, nil, &ps)
}

// GetProject returns one project.
func (c *Client) GetProject(ctx context.Context, name string) (v1.Project, error) {
	var p v1.Project
	return p, c.do(ctx, http.MethodGet, projectPath(name), nil, nil, &p)
}

// CreateProject creates or updates a project (admin token).
func (c *Client) CreateProject(ctx context.Context, p v1.Project) (v1.Project, error) {
	var out v1.Project
	return out, c.do(ctx, http.MethodPost, "/api/v1/projects", nil, p, &out)
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	Project  string // for documents that name no project
	Filename string // shown in error positions
	DryRun   bool
}

// Apply sends YAML or JSON documents (several, separated by ---) to be
// created or updated.
func (c *Client) Apply(ctx context.Context, docs io.Reader, o ApplyOptions) (ApplyResult, error) {
	q := url.Values{}
	if o.Project != "" {
		q.Set("project", o.Project)
	}
	if o.Filename != "" {
		q.Set("filename", o.Filename)
	}
	if o.DryRun {
		q.Set("dryRun", "1")
	}
	var res ApplyResult
	resp, err := c.send(ctx, request{method: http.MethodPost, path: "/api/v1/apply", query: q, body: docs, contentType: "application/yaml"})
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	return res, decodeBody(resp, &res)
}

// ListWorkflows lists a project's workflows.
func (c *Client) ListWorkflows(ctx context.Context, project string) ([]v1.Workflow, error) {
	var out []v1.Workflow
	if err := need(project); err != nil {
		return nil, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "workflows"), nil, nil, &out)
}

// GetWorkflow returns one workflow.
func (c *Client) GetWorkflow(ctx context.Context, project, name string) (v1.Workflow, error) {
	var out v1.Workflow
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "workflows", name), nil, nil, &out)
}

// DeleteWorkflow deletes a workflow.
func (c *Client) DeleteWorkflow(ctx context.Context, project, name string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, projectPath(project, "workflows", name), nil, nil, nil)
}

// SubmitRun starts a run.
func (c *Client) SubmitRun(ctx context.Context, project string, req SubmitRequest) (v1.Run, error) {
	var out v1.Run
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, projectPath(project, "runs"), nil, req, &out)
}

// RunFilter narrows ListRuns.
type RunFilter struct {
	Workflow string
	Phase    v1.Phase
	Limit    int
	Before   string // a run id: only older runs (paging)
}

// ListRuns lists a project's runs, newest first.
func (c *Client) ListRuns(ctx context.Context, project string, f RunFilter) ([]v1.Run, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("workflow", f.Workflow)
	set("phase", string(f.Phase))
	set("before", f.Before)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []v1.Run
	return out, c.do(ctx, http.MethodGet, projectPath(project, "runs"), q, nil, &out)
}

// GetRun returns a run with its steps' statuses.
func (c *Client) GetRun(ctx context.Context, project, run string) (v1.Run, error) {
	var out v1.Run
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, runPath(project, run), nil, nil, &out)
}

// Tasks lists a run's tasks (of one step if step is not empty).
func (c *Client) Tasks(ctx context.Context, project, run, step string) ([]v1.Task, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	var q url.Values
	if step != "" {
		q = url.Values{"step": {step}}
	}
	var out []v1.Task
	return out, c.do(ctx, http.MethodGet, runPath(project, run, "tasks"), q, nil, &out)
}

// Attempts lists a run's attempts.
func (c *Client) Attempts(ctx context.Context, project, run string) ([]v1.Attempt, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	var out []v1.Attempt
	return out, c.do(ctx, http.MethodGet, runPath(project, run, "attempts"), nil, nil, &out)
}

// Cancel asks a run to stop.
func (c *Client) Cancel(ctx context.Context, project, run string) (v1.Run, error) {
	var out v1.Run
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, runPath(project, run, "cancel"), nil, nil, &out)
}

// Retry runs again what did not succeed in an ended run.
func (c *Client) Retry(ctx context.Context, project, run string) (v1.Run, error) {
	var out v1.Run
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, runPath(project, run, "retry"), nil, nil, &out)
}

// Artifact is a download in progress; close it.
type Artifact struct {
	io.ReadCloser
	Size   int64  // -1 if unknown
	Digest string // sha256:<hex>, when the server knows it
	Dir    bool   // a tar stream of a directory
}

// DownloadArtifact opens the bytes of a task's output.
func (c *Client) DownloadArtifact(ctx context.Context, project, run, step string, index int, output string) (*Artifact, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: runPath(project, run, "artifacts", step, strconv.Itoa(index), output), accept: "*/*"})
	if err != nil {
		return nil, err
	}
	return &Artifact{ReadCloser: resp.Body, Size: resp.ContentLength, Digest: resp.Header.Get("X-Koya-Digest"),
		Dir: resp.Header.Get("Content-Type") == "application/x-tar"}, nil
}
