package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// decode reads a JSON answer into v, failing on an unexpected status.
func decode[T any](t *testing.T, resp *http.Response, status int) T {
	t.Helper()
	var v T
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d: %v", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, errorOf(t, resp))
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil && resp.StatusCode != http.StatusNoContent {
		t.Fatal(err)
	}
	return v
}

func body(v any) *strings.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

func TestTokensLifecycle(t *testing.T) {
	e := newEnv(t)
	e.principal(store.Principal{Name: "bob", Kind: store.KindUser})
	e.member("p", "bob", v1.RoleViewer)
	bob := e.token(store.Token{Subject: "bob"})

	// Bob makes himself a token: the secret is shown once, and works.
	tok := decode[client.Token](t, e.do("POST", "/api/v1/tokens", bob, body(client.TokenRequest{Description: "laptop", ExpiresIn: "1h"})), http.StatusCreated)
	if tok.Subject != "bob" || !strings.HasPrefix(tok.Secret, "koya_") || tok.ExpiresAt == nil {
		t.Fatalf("token %+v", tok)
	}
	if resp := e.do("GET", "/api/v1/projects/p/runs", tok.Secret, nil); resp.StatusCode != 200 {
		t.Fatalf("new token: %d", resp.StatusCode)
	}
	list := decode[[]client.Token](t, e.do("GET", "/api/v1/tokens", bob, nil), 200)
	if len(list) != 2 || list[0].Secret != "" {
		t.Fatalf("list %+v", list)
	}
	// Not for someone else, and no token opening more than the caller's.
	if resp := e.do("POST", "/api/v1/tokens", bob, body(client.TokenRequest{Subject: "alice"})); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob minting for alice: %d", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/v1/tokens", e.tokP, body(client.TokenRequest{Project: "q"})); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a p-only token minting a q token: %d", resp.StatusCode)
	}
	narrow := decode[client.Token](t, e.do("POST", "/api/v1/tokens", e.tokP, body(client.TokenRequest{})), http.StatusCreated)
	if narrow.Project != "p" {
		t.Errorf("a token made by a p-only token opens %q, want p only", narrow.Project)
	}
	if resp := e.do("POST", "/api/v1/tokens", bob, body(client.TokenRequest{ExpiresIn: "soon"})); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad expiresIn: %d", resp.StatusCode)
	}
	// Alice cannot revoke (or learn about) bob's token; bob can.
	if resp := e.do("DELETE", "/api/v1/tokens/"+tok.ID, e.tokP, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("alice revoking bob's token: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/v1/tokens/"+tok.ID, bob, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/projects/p/runs", tok.Secret, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}
	// Disabling bob ends every token of his.
	if resp := e.do("DELETE", "/api/v1/users/bob", e.admin, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/whoami", bob, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled user's token: %d", resp.StatusCode)
	}
}

func TestMembersAndServiceAccounts(t *testing.T) {
	e := newEnv(t)
	e.principal(store.Principal{Name: "olga", Kind: store.KindUser})
	e.member("p", "olga", v1.RoleOwner)
	olga := e.token(store.Token{Subject: "olga"})

	// Projects listed are those of the caller's memberships.
	ps := decode[[]v1.Project](t, e.do("GET", "/api/v1/projects", olga, nil), 200)
	if len(ps) != 1 || ps[0].Metadata.Name != "p" {
		t.Errorf("olga's projects: %+v", ps)
	}
	// The last owner cannot leave or step down.
	if resp := e.do("DELETE", "/api/v1/projects/p/members/olga", olga, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("removing the last owner: %d", resp.StatusCode)
	}
	if resp := e.do("PUT", "/api/v1/projects/p/members/olga", olga, body(client.MemberRequest{Role: v1.RoleViewer})); resp.StatusCode != http.StatusConflict {
		t.Errorf("demoting the last owner: %d", resp.StatusCode)
	}
	if resp := e.do("PUT", "/api/v1/projects/p/members/alice", olga, body(client.MemberRequest{Role: "boss"})); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad role: %d", resp.StatusCode)
	}
	if resp := e.do("PUT", "/api/v1/projects/p/members/nobody", olga, body(client.MemberRequest{Role: v1.RoleViewer})); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown principal: %d", resp.StatusCode)
	}

	// A service account: created by the owner, its token opens p (as an
	// editor) and nothing else, and deleting it ends the token.
	sa := decode[client.User](t, e.do("POST", "/api/v1/projects/p/serviceaccounts", olga, body(client.ServiceAccountRequest{Name: "ci", Role: v1.RoleEditor})), http.StatusCreated)
	if sa.Name != "p:ci" || sa.Kind != store.KindService {
		t.Fatalf("service account %+v", sa)
	}
	tok := decode[client.Token](t, e.do("POST", "/api/v1/tokens", olga, body(client.TokenRequest{Subject: "p:ci"})), http.StatusCreated)
	if tok.Project != "p" {
		t.Errorf("a service account's token opens %q, want p only", tok.Project)
	}
	e.putWorkflow("p", "wf", "true")
	if resp := e.do("POST", "/api/v1/projects/p/runs", tok.Secret, body(client.SubmitRequest{Workflow: "wf"})); resp.StatusCode != http.StatusCreated {
		t.Errorf("the service account submitting a run: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/projects/q/runs", tok.Secret, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the service account in q: %d", resp.StatusCode)
	}
	// Alice (an editor of p) may not make tokens for it.
	if resp := e.do("POST", "/api/v1/tokens", e.tokP, body(client.TokenRequest{Subject: "p:ci"})); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an editor minting a service account token: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/v1/projects/p/serviceaccounts/ci", olga, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/projects/p/runs", tok.Secret, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a deleted service account's token: %d", resp.StatusCode)
	}

	// The audit log holds it all; an owner reads p's, not q's nor all.
	entries := decode[[]client.AuditEntry](t, e.do("GET", "/api/v1/audit?project=p", olga, nil), 200)
	seen := map[string]bool{}
	for _, en := range entries {
		seen[en.Action] = true
	}
	for _, want := range []string{"serviceaccount.create", "token.create", "serviceaccount.delete"} {
		if !seen[want] {
			t.Errorf("audit of p lacks %s: %+v", want, entries)
		}
	}
	if resp := e.do("GET", "/api/v1/audit", olga, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an owner reading the whole log: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/audit?project=q", olga, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an owner of p reading q's log: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/audit?project=p", e.tokP, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an editor reading the log: %d", resp.StatusCode)
	}
}

// An upload that would pass the project's storage quota is refused with
// quota_exceeded, naming the quota and its use; what fits is stored.
func TestStorageQuota(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "p"},
		Spec: v1.ProjectSpec{Quota: &v1.Quota{Storage: "1Ki"}}}); err != nil {
		t.Fatal(err)
	}
	g, _ := e.startAgent("p")
	g.put("small", strings.Repeat("a", 600))
	resp := e.do("PUT", g.base()+"/outputs/big", g.tok, strings.NewReader(strings.Repeat("b", 600)))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an upload past the quota: %d", resp.StatusCode)
	}
	if got := errorOf(t, resp); got.Code != errs.QuotaExceeded || !strings.Contains(got.Message, "600 bytes stored of 1.0 KiB") {
		t.Errorf("error %+v", got)
	}
	g.put("tiny", strings.Repeat("c", 100)) // still fits
	if used, _ := e.store.StorageUsed(ctx, "p"); used != 700 {
		t.Errorf("storage used %d, want 700", used)
	}
}
