package server

import (
	"fmt"
	"io"
	"net/http"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
)

// apply creates or updates every object of a YAML or JSON multi-document
// body. Every object is checked (syntax, validity, access) before any is
// written, so that a file with a mistake changes nothing.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dry, err := boolParam(q.Get("dryRun"))
	if err != nil {
		return errs.At(errs.Invalid, "dryRun", "%v", err)
	}
	filename := q.Get("filename")
	if filename == "" {
		filename = "body"
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return normalise(err)
	}
	objs, err := v1.Parse(filename, data)
	if err != nil {
		return err
	}
	c := callerOf(r.Context())
	defProject := q.Get("project")
	var problems errs.List
	var projects []v1.Project
	var workflows []v1.Workflow
	var triggers []v1.Trigger
	for i, o := range objs {
		where := fmt.Sprintf("%s: document %d", filename, i+1)
		switch o := o.(type) {
		case *v1.Project:
			if !c.admin() {
				problems = append(problems, errs.At(errs.Forbidden, where, "creating or changing a project needs an administrator's token"))
				continue
			}
			projects = append(projects, *o)
		case *v1.Workflow:
			wf := *o
			if wf.Metadata.Project == "" {
				wf.Metadata.Project = defProject
			}
			if wf.Metadata.Project == "" {
				problems = append(problems, errs.At(errs.Invalid, where+": metadata.project", "name the project (metadata.project, or ?project= / koya --project)"))
				continue
			}
			if err := s.requireRole(r.Context(), wf.Metadata.Project, v1.RoleEditor, "apply workflow/"+wf.Metadata.Name); err != nil {
				if !errs.Is(err, errs.Forbidden) {
					return err
				}
				problems = append(problems, errs.At(errs.Forbidden, where, "%s", errs.Public(err).Message))
				continue
			}
			workflows = append(workflows, wf)
		case *v1.Trigger:
			tr := *o
			if tr.Metadata.Project == "" {
				tr.Metadata.Project = defProject
			}
			if tr.Metadata.Project == "" {
				problems = append(problems, errs.At(errs.Invalid, where+": metadata.project", "name the project (metadata.project, or ?project= / koya --project)"))
				continue
			}
			if err := s.requireRole(r.Context(), tr.Metadata.Project, v1.RoleEditor, "apply trigger/"+tr.Metadata.Name); err != nil {
				if !errs.Is(err, errs.Forbidden) {
					return err
				}
				problems = append(problems, errs.At(errs.Forbidden, where, "%s", errs.Public(err).Message))
				continue
			}
			triggers = append(triggers, tr)
		default:
			problems = append(problems, errs.At(errs.Invalid, where, "kind %q cannot be applied yet (Project and Workflow can)", o.GetTypeMeta().Kind))
		}
	}
	if err := firstCodeList(problems); err != nil {
		return err
	}
	res := client.ApplyResult{DryRun: dry, Objects: []client.Applied{}}
	declared := map[string]bool{}
	for _, p := range projects { // projects first: workflows may live in them
		a, err := s.putProject(r, p, dry)
		if err != nil {
			return err
		}
		declared[p.Metadata.Name] = true
		res.Objects = append(res.Objects, a)
	}
	for _, wf := range workflows {
		a, err := s.putWorkflow(r, wf, dry, declared[wf.Metadata.Project])
		if err != nil {
			return err
		}
		res.Objects = append(res.Objects, a)
	}
	for _, tr := range triggers { // after workflows: they name one
		a, err := s.putTrigger(r, tr, dry, declared[tr.Metadata.Project])
		if err != nil {
			return err
		}
		res.Objects = append(res.Objects, a)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// firstCodeList reports a list of problems under the code of its first
// (forbidden wins, so that the status says what matters most).
func firstCodeList(l errs.List) error {
	if len(l) == 0 {
		return nil
	}
	for _, e := range l {
		if e.Code == errs.Forbidden {
			return &errs.Error{Code: errs.Forbidden, Message: l.Error(), Err: l}
		}
	}
	return l.Err()
}
