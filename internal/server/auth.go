package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// access is who may call a route.
type access int

const (
	public  access = iota // anyone (health checks)
	user                  // any valid non-agent token; handlers filter by project
	admin                 // admin tokens only
	project               // tokens that open the route's {project}
	agent                 // the agent token of the route's attempt {id}
)

func (a access) String() string {
	return [...]string{"public", "user", "admin", "project", "agent"}[a]
}

type principalKey struct{}

// principal is the caller's token, from the request context.
func principal(ctx context.Context) store.Token {
	t, _ := ctx.Value(principalKey{}).(store.Token)
	return t
}

// HashToken is how token secrets are stored: hex SHA-256.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// authenticate finds the token of r's Authorization header. Any problem
// with it is the same unauthenticated error, so that a guess learns nothing.
func (s *Server) authenticate(r *http.Request) (store.Token, error) {
	denied := errs.E(errs.Unauthenticated, "a valid token is required (Authorization: Bearer <token>)")
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return store.Token{}, denied
	}
	t, err := s.store.GetTokenByHash(r.Context(), HashToken(strings.TrimSpace(secret)))
	if errs.Is(err, errs.NotFound) {
		return store.Token{}, denied
	}
	if err != nil {
		return store.Token{}, err
	}
	if t.Revoked || (t.ExpiresAt != nil && !s.clock().Before(*t.ExpiresAt)) {
		return store.Token{}, denied
	}
	return t, nil
}

// authorize checks t against the route's access level. Another project's
// resources are forbidden whether or not they exist.
func authorize(t store.Token, a access, r *http.Request) error {
	forbidden := errs.E(errs.Forbidden, "this token does not open %s", r.URL.Path)
	if a == agent {
		if t.AttemptID == "" || t.AttemptID != r.PathValue("id") {
			return forbidden
		}
		return nil
	}
	if t.AttemptID != "" {
		return errs.E(errs.Forbidden, "an attempt's token only opens that attempt's agent routes")
	}
	switch a {
	case admin:
		if !t.Admin {
			return errs.E(errs.Forbidden, "this needs an admin token")
		}
	case project:
		if !canOpen(t, r.PathValue("project")) {
			return forbidden
		}
	}
	return nil
}

// canOpen says whether t opens project p.
func canOpen(t store.Token, p string) bool {
	if t.AttemptID != "" {
		return false
	}
	return t.Admin || (t.Project != "" && t.Project == p)
}

// wrap makes a route's handler: authentication, authorization, then the
// handler, whose error is written in the one error shape.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access != public {
			t, err := s.authenticate(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="koya"`)
				s.writeError(w, r, err)
				return
			}
			if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
				info.subject = t.Subject
			}
			if err := authorize(t, rt.access, r); err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, t))
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
