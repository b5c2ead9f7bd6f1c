package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// errorOf decodes the one error shape.
func errorOf(t *testing.T, resp *http.Response) *errs.Error {
	t.Helper()
	var body struct {
		Error *errs.Error `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == nil {
		t.Fatalf("%d: not an error body (%v)", resp.StatusCode, err)
	}
	return body.Error
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	if resp := e.do("GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz without a token: %d", resp.StatusCode)
	}
	expired := time.Now().Add(-time.Minute)
	cases := map[string]string{
		"none":    "",
		"unknown": "not-a-token",
		"expired": e.token(store.Token{Admin: true, ExpiresAt: &expired}),
	}
	for _, rt := range e.srv.routes {
		if rt.access == public {
			continue
		}
		for name, tok := range cases {
			resp := e.do(rt.method, concrete(rt.path), tok, strings.NewReader("{}"))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with %s token: %d, want 401", rt.pattern(), name, resp.StatusCode)
				continue
			}
			if got := errorOf(t, resp); got.Code != errs.Unauthenticated {
				t.Errorf("%s: code %s", rt.pattern(), got.Code)
			}
		}
	}
	// A bare "Bearer" and another scheme are refused too.
	for _, h := range []string{"Bearer", "Bearer ", "Basic " + e.admin, e.admin} {
		resp := e.do("GET", "/api/v1/projects", "", nil, "Authorization", h)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d", h, resp.StatusCode)
		}
	}
}

func TestProjectTokens(t *testing.T) {
	e := newEnv(t)
	e.putWorkflow("q", "wq", "true")
	runQ := e.submit("q", "wq")

	// p's token: p opens, q and a project that does not exist are both
	// forbidden (the answer does not tell whether they exist).
	for _, path := range []string{"/api/v1/projects/q", "/api/v1/projects/q/workflows", "/api/v1/projects/q/runs",
		"/api/v1/projects/q/runs/" + runQ, "/api/v1/projects/nope", "/api/v1/projects/nope/runs/x"} {
		resp := e.do("GET", path, e.tokP, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("p's token on %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp := e.do("GET", "/api/v1/projects/p/workflows", e.tokP, nil); resp.StatusCode != 200 {
		t.Errorf("p's token on p: %d", resp.StatusCode)
	}
	// q's run asked for under p: not found, not forbidden.
	if resp := e.do("GET", "/api/v1/projects/p/runs/"+runQ, e.tokP, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("q's run under p: %d, want 404", resp.StatusCode)
	}
	// Listing projects shows only p; creating one needs an admin.
	var ps []map[string]any
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects", e.tokP, nil).Body).Decode(&ps)
	if len(ps) != 1 {
		t.Errorf("p's token lists %d projects", len(ps))
	}
	resp := e.do("POST", "/api/v1/projects", e.tokP, strings.NewReader(`{"metadata":{"name":"r"}}`))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("project token creating a project: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/metrics", e.tokP, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("project token reading metrics: %d", resp.StatusCode)
	}
	// The admin opens both.
	if resp := e.do("GET", "/api/v1/projects/q/runs/"+runQ, e.admin, nil); resp.StatusCode != 200 {
		t.Errorf("admin on q's run: %d", resp.StatusCode)
	}
}

func TestAgentTokens(t *testing.T) {
	e := newEnv(t)
	e.putWorkflow("p", "long", "sleep", "1h")
	run := e.submit("p", "long")
	a := e.attemptOf(run)
	tok := e.token(store.Token{Project: "p", AttemptID: a.ID, Subject: "attempt:" + a.ID})

	// Its own agent routes open...
	resp := e.do("POST", "/api/v1/agent/attempts/"+a.ID+"/logs", tok, strings.NewReader(`{"lines":[]}`))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("own logs route: %d %v", resp.StatusCode, errorOf(t, resp))
	}
	// ...another attempt's do not, nor any user route of its own project.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/agent/attempts/other/logs"},
		{"GET", "/api/v1/projects/p/runs/" + run},
		{"GET", "/api/v1/projects/p/runs/" + run + "/logs"},
		{"GET", "/api/v1/projects"},
		{"GET", "/api/v1/openapi.json"},
	} {
		resp := e.do(c.method, c.path, tok, strings.NewReader(`{"lines":[]}`))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent token on %s %s: %d, want 403", c.method, c.path, resp.StatusCode)
		}
	}
	// And a user token cannot speak for an agent.
	if resp := e.do("POST", "/api/v1/agent/attempts/"+a.ID+"/logs", e.admin, strings.NewReader(`{"lines":[]}`)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin token on an agent route: %d", resp.StatusCode)
	}
	_ = e.engine.Cancel(context.Background(), run)

	// The token ends with its attempt (after a grace for late deliveries).
	done := e.waitAttempt(a.ID, func(a store.Attempt) bool { return a.FinishedAt != nil })
	if resp := e.do("POST", "/api/v1/agent/attempts/"+a.ID+"/logs", tok, strings.NewReader(`{"lines":[]}`)); resp.StatusCode != http.StatusNoContent {
		t.Errorf("within the grace after the attempt ended: %d", resp.StatusCode)
	}
	e.srv.clock = func() time.Time { return done.FinishedAt.Add(AgentTokenGrace + time.Second) }
	if resp := e.do("POST", "/api/v1/agent/attempts/"+a.ID+"/logs", tok, strings.NewReader(`{"lines":[]}`)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the grace: %d, want 401", resp.StatusCode)
	}
}
