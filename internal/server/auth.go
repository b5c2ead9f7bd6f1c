package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// access is who may call a route.
type access int

const (
	public  access = iota // anyone (health checks)
	user                  // any valid non-agent token; handlers filter by project
	admin                 // admin tokens only
	project               // callers with the route's role (needs) in its {project}
	agent                 // the agent token of the route's attempt {id}
)

func (a access) String() string {
	return [...]string{"public", "user", "admin", "project", "agent"}[a]
}

type callerKey struct{}

// caller is who makes a request: the token, and for user and service
// account tokens the principal it speaks for.
type caller struct {
	Token     store.Token
	Principal store.Principal // zero for agent tokens
	Attempt   store.Attempt   // an agent token's attempt, as read to authenticate it
}

// callerOf is the request's caller, from its context.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// admin: an administrator's token, not narrowed to one project.
func (c caller) admin() bool {
	return c.Token.AttemptID == "" && c.Principal.Admin && !c.Principal.Disabled && c.Token.Project == ""
}

// name is the caller for the audit log.
func (c caller) name() string { return c.Token.Subject }

// AgentTokenGrace is how long an attempt's token keeps working after the
// attempt finished.
const AgentTokenGrace = 10 * time.Minute

// authenticate finds the token of r's Authorization header and its
// principal. Any problem with it is the same unauthenticated error, so
// that a guess learns nothing.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	denied := errs.E(errs.Unauthenticated, "a valid token is required (Authorization: Bearer <token>)")
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return caller{}, denied
	}
	hash := store.HashSecret(strings.TrimSpace(secret))
	now := s.clock()
	if t, a, ok := s.agentTokens.get(hash, now); ok {
		return agentCaller(t, a, now, denied)
	}
	t, err := s.store.GetTokenByHash(r.Context(), hash)
	if errs.Is(err, errs.NotFound) {
		return caller{}, denied
	}
	if err != nil {
		return caller{}, err
	}
	if !tokenLive(t, now) {
		return caller{}, denied
	}
	if t.AttemptID != "" {
		a, err := s.store.GetAttempt(r.Context(), t.AttemptID)
		if errs.Is(err, errs.NotFound) {
			return caller{}, denied
		}
		if err != nil {
			return caller{}, err
		}
		s.agentTokens.put(t, a, now)
		return agentCaller(t, a, now, denied)
	}
	p, err := s.store.GetPrincipal(r.Context(), t.Subject)
	if errs.Is(err, errs.NotFound) {
		return caller{}, denied
	}
	if err != nil {
		return caller{}, err
	}
	if p.Disabled {
		return caller{}, denied
	}
	return caller{Token: t, Principal: p}, nil
}

// tokenLive reports whether t is neither revoked nor expired at now.
func tokenLive(t store.Token, now time.Time) bool {
	return !t.Revoked && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// agentCaller is the caller of an attempt's token t, read (or
// remembered) with its attempt a: denied once the token is revoked or
// expired, or the attempt ended more than AgentTokenGrace before now (a
// grace for an agent whose acknowledgement got lost).
func agentCaller(t store.Token, a store.Attempt, now time.Time, denied error) (caller, error) {
	if !tokenLive(t, now) {
		return caller{}, denied
	}
	if a.FinishedAt != nil && now.Sub(*a.FinishedAt) > AgentTokenGrace {
		return caller{}, denied
	}
	return caller{Token: t, Attempt: a}, nil
}

// roleIn is the caller's role in project p ("" for none): owner for an
// administrator, else its membership's, and none for agent tokens and for
// tokens narrowed to another project.
func (s *Server) roleIn(ctx context.Context, c caller, p string) (v1.Role, error) {
	switch {
	case c.Token.AttemptID != "", c.Principal.Disabled:
		return "", nil
	case c.Token.Project != "" && c.Token.Project != p:
		return "", nil
	case c.Principal.Admin:
		return v1.RoleOwner, nil
	}
	m, err := s.store.GetMembership(ctx, p, c.Principal.Name)
	if errs.Is(err, errs.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return m.Role, nil
}

// requireRole fails unless the caller has at least role need in project
// p. A caller without any role there is told nothing about p (forbidden
// whether or not it exists), and the attempt is audited.
func (s *Server) requireRole(ctx context.Context, p string, need v1.Role, what string) error {
	c := callerOf(ctx)
	role, err := s.roleIn(ctx, c, p)
	if err != nil {
		return err
	}
	if role.Allows(need) {
		return nil
	}
	detail := "no role in the project"
	msg := fmt.Sprintf("this token does not open project %s", p)
	if role != "" {
		detail = fmt.Sprintf("role %s, %s needed", role, need)
		msg = fmt.Sprintf("this needs the %s role in project %s (this token has %s)", need, p, role)
	}
	s.audit(ctx, store.AuditEntry{Actor: c.name(), Project: p, Action: "access.denied", Object: what,
		Outcome: store.AuditDenied, Detail: detail})
	return errs.E(errs.Forbidden, "%s", msg)
}

// authorize checks the caller against the route's access level.
func (s *Server) authorize(ctx context.Context, c caller, rt route, r *http.Request) error {
	forbidden := errs.E(errs.Forbidden, "this token does not open %s", r.URL.Path)
	if rt.access == agent {
		if c.Token.AttemptID == "" || c.Token.AttemptID != r.PathValue("id") {
			return forbidden
		}
		return nil
	}
	if c.Token.AttemptID != "" {
		return errs.E(errs.Forbidden, "an attempt's token only opens that attempt's agent routes")
	}
	switch rt.access {
	case admin:
		if !c.admin() {
			s.audit(ctx, store.AuditEntry{Actor: c.name(), Action: "access.denied", Object: r.Method + " " + r.URL.Path,
				Outcome: store.AuditDenied, Detail: "admin route"})
			return errs.E(errs.Forbidden, "this needs an administrator's token")
		}
	case project:
		return s.requireRole(ctx, r.PathValue("project"), rt.needs(), r.Method+" "+r.URL.Path)
	}
	return nil
}

// wrap makes a route's handler: authentication, authorization, then the
// handler, whose error is written in the one error shape.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access != public {
			c, err := s.authenticate(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="koya"`)
				s.writeError(w, r, err)
				return
			}
			if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
				info.subject = c.Token.Subject
			}
			ctx := context.WithValue(r.Context(), callerKey{}, c)
			if err := s.authorize(ctx, c, rt, r); err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// audit appends to the audit log; a failure to is logged, not returned:
// the action it records already happened (or was already refused).
func (s *Server) audit(ctx context.Context, e store.AuditEntry) {
	if e.Outcome == "" {
		e.Outcome = store.AuditOK
	}
	if _, err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("writing the audit log", "action", e.Action, "err", err)
	}
}
