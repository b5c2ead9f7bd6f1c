package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
)

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("project")
	if _, err := s.store.GetProject(r.Context(), p); err != nil {
		return err
	}
	wfs, err := s.store.ListWorkflows(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]v1.Workflow, 0, len(wfs))
	for _, wf := range wfs {
		wf.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}
		out = append(out, wf)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.store.GetWorkflow(r.Context(), r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	wf.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}
	writeJSON(w, http.StatusOK, wf)
	return nil
}

func (s *Server) deleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.DeleteWorkflow(r.Context(), r.PathValue("project"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putWorkflow validates wf and creates or updates it (dry: only says what
// it would do).
// projectDeclared says the project is applied in the same body (so that a
// dry run does not require it to exist yet).
func (s *Server) putWorkflow(r *http.Request, wf v1.Workflow, dry, projectDeclared bool) (client.Applied, error) {
	res := client.Applied{Kind: "Workflow", Name: wf.Metadata.Name, Project: wf.Metadata.Project}
	if wf.APIVersion == "" && wf.Kind == "" {
		wf.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}
	}
	if err := wf.Validate().Err(); err != nil {
		return res, err
	}
	if err := s.requireProject(r.Context(), wf.Metadata.Project, dry && projectDeclared); err != nil {
		return res, err
	}
	wf.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}
	old, err := s.store.GetWorkflow(r.Context(), wf.Metadata.Project, wf.Metadata.Name)
	exists := err == nil
	if err != nil && !errs.Is(err, errs.NotFound) {
		return res, err
	}
	if dry {
		res.Action, res.Version = dryAction(exists, sameJSON(old.Spec, wf.Spec) && sameJSON(old.Metadata.Labels, wf.Metadata.Labels), old.Metadata.Version)
		return res, nil
	}
	stored, changed, err := s.store.PutWorkflow(r.Context(), wf)
	if err != nil {
		return res, err
	}
	res.Action, res.Version = appliedAction(exists, changed), stored.Metadata.Version
	return res, nil
}

// requireProject checks that the project an applied object names exists;
// declared: a dry run that applies the project in the same body.
func (s *Server) requireProject(ctx context.Context, project string, declared bool) error {
	_, err := s.store.GetProject(ctx, project)
	if err == nil || declared {
		return nil
	}
	if errs.Is(err, errs.NotFound) {
		return errs.At(errs.NotFound, "metadata.project", "project %q does not exist; apply a Project document first or name another", project)
	}
	return err
}

// dryAction is what applying an object would do: create it, leave it
// (same spec and labels), or configure it as its next version.
func dryAction(exists, same bool, version int64) (client.Action, int64) {
	switch {
	case !exists:
		return client.Created, 0
	case same:
		return client.Unchanged, version
	}
	return client.Configured, version + 1
}

// appliedAction is what applying an object did.
func appliedAction(exists, changed bool) client.Action {
	switch {
	case !changed:
		return client.Unchanged
	case !exists:
		return client.Created
	}
	return client.Configured
}

// sameJSON compares two values as their JSON forms (nil and empty maps
// alike), which is what a stored document round-trips through.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	norm := func(b []byte) []byte {
		if string(b) == "null" || string(b) == "{}" {
			return nil
		}
		return b
	}
	return bytes.Equal(norm(ja), norm(jb))
}
