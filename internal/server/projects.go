package server

import (
	"net/http"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, client.Health{Status: "ok", Version: s.cfg.Version})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.MetricsHandler().ServeHTTP(w, r)
	return nil
}

// listProjects shows an admin every project, anyone else those they are
// a member of (and a token narrowed to one project that one).
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c := callerOf(ctx)
	out := []v1.Project{}
	ps, err := s.store.ListProjects(ctx)
	if err != nil {
		return err
	}
	member := map[string]bool{}
	if !c.Principal.Admin {
		ms, err := s.store.ListMemberships(ctx, store.MembershipFilter{Principal: c.Principal.Name})
		if err != nil {
			return err
		}
		for _, m := range ms {
			member[m.Project] = true
		}
	}
	for _, p := range ps {
		name := p.Metadata.Name
		if (c.Principal.Admin || member[name]) && (c.Token.Project == "" || c.Token.Project == name) {
			out = append(out, p)
		}
	}
	for i := range out {
		out[i].TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.GetProject(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	p.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var p v1.Project
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &p); err != nil {
		return err
	}
	if _, err := s.putProject(r, p, false); err != nil {
		return err
	}
	stored, err := s.store.GetProject(r.Context(), p.Metadata.Name)
	if err != nil {
		return err
	}
	stored.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}
	writeJSON(w, http.StatusOK, stored)
	return nil
}

// putProject creates or updates p and says what it did (dry: only says).
func (s *Server) putProject(r *http.Request, p v1.Project, dry bool) (client.Applied, error) {
	res := client.Applied{Kind: "Project", Name: p.Metadata.Name}
	// A JSON body may leave the envelope out; a wrong one is still refused.
	if p.APIVersion == "" && p.Kind == "" {
		p.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}
	}
	if err := p.Validate().Err(); err != nil {
		return res, err
	}
	p.Metadata.Project = ""
	old, err := s.store.GetProject(r.Context(), p.Metadata.Name)
	switch {
	case errs.Is(err, errs.NotFound):
		res.Action = client.Created
	case err != nil:
		return res, err
	case sameJSON(old.Spec, p.Spec) && sameJSON(old.Metadata.Labels, p.Metadata.Labels):
		res.Action = client.Unchanged
		return res, nil
	default:
		res.Action = client.Configured
	}
	if dry {
		return res, nil
	}
	return res, s.store.PutProject(r.Context(), p)
}
