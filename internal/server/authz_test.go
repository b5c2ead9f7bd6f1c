package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// TestRouteRoleMatrix walks every route × every kind of caller × its own
// and a foreign project, and checks the status: 403 where the caller's
// role does not reach the route's, anything but 401/403 where it does
// (the handler may still find the request bad or the object missing). Every
// refused attempt on a project is in the audit log.
func TestRouteRoleMatrix(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"vic", "ed", "olga", "oscar"} {
		e.principal(store.Principal{Name: name, Kind: store.KindUser})
	}
	e.principal(store.Principal{Name: "p:ci", Kind: store.KindService, Project: "p"})
	e.member("p", "vic", v1.RoleViewer)
	e.member("p", "ed", v1.RoleEditor)
	e.member("p", "olga", v1.RoleOwner)
	e.member("p", "p:ci", v1.RoleEditor)
	e.member("q", "oscar", v1.RoleOwner) // owns q, nothing in p
	e.putWorkflow("p", "long", "sleep", "1h")
	run := e.submit("p", "long")
	att := e.attemptOf(run).ID
	t.Cleanup(func() { _ = e.engine.Cancel(context.Background(), run) })

	type who struct {
		name    string
		token   string
		role    map[string]v1.Role // by project
		isAdmin bool
		agent   bool
	}
	callers := []who{
		{name: "viewer", token: e.token(store.Token{Subject: "vic"}), role: map[string]v1.Role{"p": v1.RoleViewer}},
		{name: "editor", token: e.token(store.Token{Subject: "ed"}), role: map[string]v1.Role{"p": v1.RoleEditor}},
		{name: "owner", token: e.token(store.Token{Subject: "olga"}), role: map[string]v1.Role{"p": v1.RoleOwner}},
		{name: "service account", token: e.token(store.Token{Subject: "p:ci", Project: "p"}), role: map[string]v1.Role{"p": v1.RoleEditor}},
		{name: "foreign owner", token: e.token(store.Token{Subject: "oscar"}), role: map[string]v1.Role{"q": v1.RoleOwner}},
		{name: "owner narrowed to q", token: e.token(store.Token{Subject: "olga", Project: "q"}), role: map[string]v1.Role{}},
		{name: "admin", token: e.admin, isAdmin: true, role: map[string]v1.Role{"p": v1.RoleOwner, "q": v1.RoleOwner}},
		{name: "agent", token: e.token(store.Token{Subject: "attempt:" + att, Project: "p", AttemptID: att}), agent: true},
	}
	checked := 0
	for _, rt := range e.srv.routes {
		if rt.access == public {
			continue
		}
		for _, c := range callers {
			for _, proj := range []string{"p", "q"} {
				if rt.access != project && proj == "q" {
					continue // one project-free pass is enough
				}
				var allowed bool
				switch rt.access {
				case admin:
					allowed = c.isAdmin
				case user:
					allowed = !c.agent
				case agent:
					allowed = c.agent // the path's {id} is the agent's attempt
				case project:
					allowed = c.role[proj].Allows(rt.needs())
				}
				path := strings.ReplaceAll(concrete(rt.path), "/projects/p", "/projects/"+proj)
				path = strings.Replace(path, "/agent/attempts/x", "/agent/attempts/"+att, 1)
				resp := e.do(rt.method, path, c.token, strings.NewReader("{}"))
				checked++
				denied := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized
				switch {
				case allowed && denied:
					t.Errorf("%s on %s %s: %d, want it let through", c.name, rt.method, path, resp.StatusCode)
				case !allowed && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s on %s %s: %d, want 403", c.name, rt.method, path, resp.StatusCode)
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("only %d requests checked", checked)
	}

	// Every cross-project attempt was refused and audited, with its route.
	entries, err := e.store.ListAudit(context.Background(), store.AuditFilter{Project: "q", Action: "access.denied", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	deniedBy := map[string]int{}
	for _, en := range entries {
		if en.Outcome != store.AuditDenied || !strings.Contains(en.Object, "/projects/q") {
			t.Errorf("audit entry %+v", en)
		}
		deniedBy[en.Actor]++
	}
	projectRoutes := 0
	for _, rt := range e.srv.routes {
		if rt.access == project {
			projectRoutes++
		}
	}
	for _, actor := range []string{"vic", "ed", "p:ci"} {
		if deniedBy[actor] != projectRoutes {
			t.Errorf("%s: %d denials audited in q, want one per project route (%d)", actor, deniedBy[actor], projectRoutes)
		}
	}
}
