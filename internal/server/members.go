package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.store.ListMemberships(r.Context(), store.MembershipFilter{Project: r.PathValue("project")})
	if err != nil {
		return err
	}
	out := []client.Member{}
	for _, m := range ms {
		out = append(out, memberOut(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// setMember gives a principal a role in the project (or changes it).
func (s *Server) setMember(w http.ResponseWriter, r *http.Request) error {
	var req client.MemberRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if !req.Role.Valid() {
		return errs.At(errs.Invalid, "role", "%q is not a role: use one of %s", req.Role, rolesList())
	}
	ctx, project := r.Context(), r.PathValue("project")
	p, err := s.store.GetPrincipal(ctx, r.PathValue("principal"))
	if errs.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "no user or service account named %q", r.PathValue("principal"))
	}
	if err != nil {
		return err
	}
	if p.Kind == store.KindService && p.Project != project {
		return errs.E(errs.Invalid, "service account %s belongs to project %s", p.Name, p.Project)
	}
	if req.Role != v1.RoleOwner {
		if err := s.keepAnOwner(ctx, project, p.Name); err != nil {
			return err
		}
	}
	m := store.Membership{Project: project, Principal: p.Name, Role: req.Role, CreatedAt: s.clock().UTC()}
	if old, err := s.store.GetMembership(ctx, project, p.Name); err == nil {
		m.CreatedAt = old.CreatedAt
	}
	if err := s.store.PutMembership(ctx, m); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "member.set",
		Object: "member/" + p.Name, Detail: "role " + string(req.Role)})
	writeJSON(w, http.StatusOK, memberOut(m))
	return nil
}

// removeMember takes a principal out of the project: its tokens open
// nothing there from the next request on.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	ctx, project, name := r.Context(), r.PathValue("project"), r.PathValue("principal")
	if _, err := s.store.GetMembership(ctx, project, name); err != nil {
		return err
	}
	if err := s.keepAnOwner(ctx, project, name); err != nil {
		return err
	}
	if err := s.store.DeleteMembership(ctx, project, name); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "member.remove", Object: "member/" + name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keepAnOwner refuses a change that would leave the project without an
// owner other than administrators (name stops being an owner).
func (s *Server) keepAnOwner(ctx context.Context, project, name string) error {
	ms, err := s.store.ListMemberships(ctx, store.MembershipFilter{Project: project})
	if err != nil {
		return err
	}
	owners, wasOwner := 0, false
	for _, m := range ms {
		if m.Role == v1.RoleOwner {
			owners++
			wasOwner = wasOwner || m.Principal == name
		}
	}
	if wasOwner && owners == 1 {
		return errs.E(errs.Conflict, "%s is the last owner of project %s: make someone else owner first", name, project)
	}
	return nil
}

func rolesList() string {
	var rs []string
	for _, r := range v1.Roles {
		rs = append(rs, string(r))
	}
	return strings.Join(rs, ", ")
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.store.ListPrincipals(r.Context())
	if err != nil {
		return err
	}
	out := []client.User{}
	for _, p := range ps {
		if p.Kind == store.KindService && p.Project == r.PathValue("project") {
			out = append(out, userOut(p))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createServiceAccount makes "<project>:<name>" with a role in the
// project; its tokens are made with POST /api/v1/tokens.
func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request) error {
	var req client.ServiceAccountRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name, "service account name"); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = v1.RoleEditor
	}
	if !req.Role.Valid() {
		return errs.At(errs.Invalid, "role", "%q is not a role: use one of %s", req.Role, rolesList())
	}
	ctx, project := r.Context(), r.PathValue("project")
	p := store.Principal{Name: project + ":" + req.Name, Kind: store.KindService, Project: project, CreatedAt: s.clock().UTC()}
	if _, err := s.store.GetPrincipal(ctx, p.Name); err == nil {
		return errs.E(errs.Conflict, "service account %s exists", p.Name)
	} else if !errs.Is(err, errs.NotFound) {
		return err
	}
	err := s.store.Tx(ctx, func(q store.Querier) error {
		if err := q.PutPrincipal(ctx, p); err != nil {
			return err
		}
		return q.PutMembership(ctx, store.Membership{Project: project, Principal: p.Name, Role: req.Role, CreatedAt: p.CreatedAt})
	})
	if err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "serviceaccount.create",
		Object: "serviceaccount/" + p.Name, Detail: "role " + string(req.Role)})
	writeJSON(w, http.StatusCreated, userOut(p))
	return nil
}

// deleteServiceAccount disables the account, revokes its tokens and
// removes its membership (the principal stays, for the audit log's sake).
func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	name := project + ":" + r.PathValue("name")
	p, err := s.store.GetPrincipal(ctx, name)
	if err != nil || p.Kind != store.KindService || p.Disabled {
		return errs.E(errs.NotFound, "service account %s not found", name)
	}
	var n int
	err = s.store.Tx(ctx, func(q store.Querier) error {
		p.Disabled = true
		if err := q.PutPrincipal(ctx, p); err != nil {
			return err
		}
		var err error
		if n, err = q.RevokeTokensOf(ctx, name); err != nil {
			return err
		}
		if err := q.DeleteMembership(ctx, project, name); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "serviceaccount.delete",
		Object: "serviceaccount/" + name, Detail: plural(n, "token") + " revoked"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listAudit: an administrator reads everything; a project owner reads
// their project's entries (?project= is then required).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	ctx, q := r.Context(), r.URL.Query()
	f := store.AuditFilter{Project: q.Get("project"), Actor: q.Get("actor"), Action: q.Get("action")}
	if !callerOf(ctx).admin() {
		if f.Project == "" {
			return errs.At(errs.Invalid, "project", "name a project (?project=): only administrators read the whole audit log")
		}
		if err := s.requireRole(ctx, f.Project, v1.RoleOwner, "audit of "+f.Project); err != nil {
			return err
		}
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errs.At(errs.Invalid, "since", "%q is not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)", v)
		}
		f.Since = &t
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errs.At(errs.Invalid, "before", "%q is not a non-negative integer", v)
		}
		f.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errs.At(errs.Invalid, "limit", "%q is not an integer from 1 to 1000", v)
		}
		f.Limit = n
	}
	es, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	out := []client.AuditEntry{}
	for _, e := range es {
		out = append(out, client.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Project: e.Project, Action: e.Action,
			Object: e.Object, Outcome: e.Outcome, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
