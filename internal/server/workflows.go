package server

import (
	"bytes"
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
	if _, err := s.store.GetProject(r.Context(), wf.Metadata.Project); err != nil && !(dry && projectDeclared) {
		if errs.Is(err, errs.NotFound) {
			return res, errs.At(errs.NotFound, "metadata.project", "project %q does not exist; apply a Project document first or name another", wf.Metadata.Project)
		}
		return res, err
	}
	wf.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"}
	old, err := s.store.GetWorkflow(r.Context(), wf.Metadata.Project, wf.Metadata.Name)
	exists := err == nil
	if err != nil && !errs.Is(err, errs.NotFound) {
		return res, err
	}
	if dry {
		switch {
		case !exists:
			res.Action = client.Created
		case sameJSON(old.Spec, wf.Spec) && sameJSON(old.Metadata.Labels, wf.Metadata.Labels):
			res.Action, res.Version = client.Unchanged, old.Metadata.Version
		default:
			res.Action, res.Version = client.Configured, old.Metadata.Version+1
		}
		return res, nil
	}
	stored, changed, err := s.store.PutWorkflow(r.Context(), wf)
	if err != nil {
		return res, err
	}
	res.Version = stored.Metadata.Version
	switch {
	case !changed:
		res.Action = client.Unchanged
	case !exists:
		res.Action = client.Created
	default:
		res.Action = client.Configured
	}
	return res, nil
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
