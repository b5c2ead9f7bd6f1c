package server

import (
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
)

// A path no route has and a method a path does not take get the API's
// JSON error, with their statuses (and Allow for a 405); routes and the
// mux's redirects are untouched.
func TestUnmatchedRequests(t *testing.T) {
	e := newEnv(t)
	resp := e.do("GET", "/api/v1/nope", e.admin, nil)
	if got := errorOf(t, resp); resp.StatusCode != 404 || got.Code != errs.NotFound || !strings.Contains(got.Message, "GET /api/v1/nope") {
		t.Errorf("unknown path: %d %+v", resp.StatusCode, got)
	}
	resp = e.do("DELETE", "/api/v1/projects", e.admin, nil)
	allow := resp.Header.Get("Allow")
	if got := errorOf(t, resp); resp.StatusCode != 405 || got.Code != errs.Invalid || !strings.Contains(allow, "GET") || !strings.Contains(got.Message, allow) {
		t.Errorf("wrong method: %d, Allow %q, %+v", resp.StatusCode, allow, got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp := e.do("GET", "/api/v1/projects", e.admin, nil); resp.StatusCode != 200 {
		t.Errorf("a route: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/projects", "", nil); resp.StatusCode != 401 {
		t.Errorf("a route without a token: %d", resp.StatusCode)
	}
}
