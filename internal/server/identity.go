package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Identity routes: who the caller is, users (administrators manage them),
// tokens (anyone for themselves), project members and service accounts
// (project owners manage them). Every change is audited.

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context())
	ms, err := s.store.ListMemberships(r.Context(), store.MembershipFilter{Principal: c.Principal.Name})
	if err != nil {
		return err
	}
	out := client.Whoami{Subject: c.Principal.Name, Kind: c.Principal.Kind, Admin: c.admin(),
		Project: c.Token.Project, ExpiresAt: c.Token.ExpiresAt, Members: []client.Member{}}
	for _, m := range ms {
		out.Members = append(out.Members, memberOut(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.store.ListPrincipals(r.Context())
	if err != nil {
		return err
	}
	out := []client.User{}
	for _, p := range ps {
		out = append(out, userOut(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req client.UserRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name, "user name"); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.store.GetPrincipal(ctx, req.Name); err == nil {
		return errs.E(errs.Conflict, "a user or service account named %q exists", req.Name)
	} else if !errs.Is(err, errs.NotFound) {
		return err
	}
	p := store.Principal{Name: req.Name, Kind: store.KindUser, Admin: req.Admin, CreatedAt: s.clock().UTC()}
	if err := s.store.PutPrincipal(ctx, p); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Action: "user.create", Object: "user/" + p.Name,
		Detail: map[bool]string{true: "administrator", false: "user"}[p.Admin]})
	writeJSON(w, http.StatusCreated, userOut(p))
	return nil
}

// disableUser disables a user and revokes their tokens; memberships stay
// (so that enabling them again is possible) but open nothing while the
// user is disabled.
func (s *Server) disableUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.store.GetPrincipal(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if p.Kind != store.KindUser {
		return errs.E(errs.Invalid, "%s is a service account: delete it in its project", p.Name)
	}
	if p.Name == callerOf(ctx).Principal.Name {
		return errs.E(errs.Invalid, "you cannot disable yourself")
	}
	p.Disabled = true
	if err := s.store.PutPrincipal(ctx, p); err != nil {
		return err
	}
	n, err := s.store.RevokeTokensOf(ctx, p.Name)
	if err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Action: "user.disable", Object: "user/" + p.Name,
		Detail: plural(n, "token") + " revoked"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// canManageTokensOf: a principal's own tokens, an administrator's for
// anyone, a project owner's for the project's service accounts.
func (s *Server) canManageTokensOf(ctx context.Context, subject string) (store.Principal, error) {
	c := callerOf(ctx)
	p, err := s.store.GetPrincipal(ctx, subject)
	if errs.Is(err, errs.NotFound) {
		return p, errs.E(errs.NotFound, "no user or service account named %q", subject)
	}
	if err != nil {
		return p, err
	}
	switch {
	case c.admin(), subject == c.Principal.Name:
		return p, nil
	case p.Kind == store.KindService:
		return p, s.requireRole(ctx, p.Project, v1.RoleOwner, "tokens of "+subject)
	}
	return p, errs.E(errs.Forbidden, "only an administrator manages another user's tokens")
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req client.TokenRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	ctx := r.Context()
	c := callerOf(ctx)
	if req.Subject == "" {
		req.Subject = c.Principal.Name
	}
	p, err := s.canManageTokensOf(ctx, req.Subject)
	if err != nil {
		return err
	}
	if p.Disabled {
		return errs.E(errs.Invalid, "%s is disabled", p.Name)
	}
	// A token never opens more than the one that made it: a narrowed
	// caller makes narrowed tokens; a service account's are narrowed to
	// its project.
	if c.Token.Project != "" {
		if req.Project != "" && req.Project != c.Token.Project {
			return errs.E(errs.Forbidden, "this token opens project %s only: it cannot make a token for %s", c.Token.Project, req.Project)
		}
		req.Project = c.Token.Project
	}
	if p.Kind == store.KindService {
		if req.Project != "" && req.Project != p.Project {
			return errs.E(errs.Invalid, "service account %s belongs to project %s", p.Name, p.Project)
		}
		req.Project = p.Project
	}
	t := store.Token{ID: "tok_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20], Subject: p.Name, Project: req.Project,
		Description: req.Description, CreatedAt: s.clock().UTC()}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errs.E(errs.Invalid, "expiresIn: %q is not a positive duration (e.g. 720h)", req.ExpiresIn)
		}
		t.ExpiresAt = ptrTime(s.clock().Add(d).UTC())
	}
	secret, hash := store.NewSecret("koya_")
	t.Hash = hash
	if err := s.store.CreateToken(ctx, t); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: c.name(), Project: t.Project, Action: "token.create", Object: "token/" + t.ID,
		Detail: "for " + t.Subject})
	out := tokenOut(t)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	subject := r.URL.Query().Get("subject")
	if subject == "" {
		subject = callerOf(ctx).Principal.Name
	}
	if _, err := s.canManageTokensOf(ctx, subject); err != nil {
		return err
	}
	ts, err := s.store.ListTokens(ctx, store.TokenFilter{Subject: subject})
	if err != nil {
		return err
	}
	out := []client.Token{}
	for _, t := range ts {
		out = append(out, tokenOut(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.store.GetToken(ctx, r.PathValue("id"))
	if err != nil || t.AttemptID != "" {
		return errs.E(errs.NotFound, "token %q not found", r.PathValue("id"))
	}
	if _, err := s.canManageTokensOf(ctx, t.Subject); err != nil {
		if errs.Is(err, errs.Forbidden) {
			// Someone else's token: do not say it exists.
			return errs.E(errs.NotFound, "token %q not found", t.ID)
		}
		return err
	}
	if err := s.store.RevokeToken(ctx, t.ID); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: t.Project, Action: "token.revoke",
		Object: "token/" + t.ID, Detail: "of " + t.Subject})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func validName(field, name, what string) error {
	p := v1.Project{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Project"}, Metadata: v1.ObjectMeta{Name: name}}
	if l := p.Validate(); len(l) > 0 {
		return errs.At(errs.Invalid, field, "%s", strings.Replace(l[0].Message, "project name", what, 1))
	}
	return nil
}

func userOut(p store.Principal) client.User {
	return client.User{Name: p.Name, Kind: p.Kind, Admin: p.Admin, Project: p.Project, Disabled: p.Disabled, CreatedAt: p.CreatedAt}
}

func memberOut(m store.Membership) client.Member {
	return client.Member{Project: m.Project, Principal: m.Principal, Role: m.Role, CreatedAt: m.CreatedAt}
}

func tokenOut(t store.Token) client.Token {
	return client.Token{ID: t.ID, Subject: t.Subject, Project: t.Project, Description: t.Description,
		ExpiresAt: t.ExpiresAt, Revoked: t.Revoked, CreatedAt: t.CreatedAt}
}

func ptrTime(t time.Time) *time.Time { return &t }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
