package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/internal/store"
)

const plaintext = "pl41nt3xt-Secret-Value"

// setSecret PUTs a value and returns the response.
func (e *env) setSecret(project, name, token, value string) *http.Response {
	e.t.Helper()
	return e.do("PUT", "/api/v1/projects/"+project+"/secrets/"+name, token, strings.NewReader(value), "Content-Type", "application/octet-stream")
}

// auditOf lists the project's audit entries of actions starting with prefix.
func (e *env) auditOf(project, prefix string) []store.AuditEntry {
	e.t.Helper()
	as, err := e.store.ListAudit(context.Background(), store.AuditFilter{Project: project, Action: prefix})
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func TestSecretsWriteOnly(t *testing.T) {
	e := newEnv(t)
	e.principal(store.Principal{Name: "bob", Kind: store.KindUser})
	e.member("p", "bob", v1.RoleViewer)
	viewer := e.token(store.Token{Subject: "bob"})

	if resp := e.setSecret("p", "API_KEY", viewer, plaintext); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer sets a secret: %d", resp.StatusCode)
	}
	if resp := e.setSecret("q", "API_KEY", e.tokP, plaintext); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a token of p sets a secret of q: %d", resp.StatusCode)
	}
	for i := 1; i <= 2; i++ {
		resp := e.setSecret("p", "API_KEY", e.tokP, plaintext)
		b, _ := io.ReadAll(resp.Body)
		var got client.Secret
		if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || got.Version != int64(i) || got.CreatedBy != "alice" {
			t.Fatalf("set #%d: %d %s", i, resp.StatusCode, b)
		}
		if bytes.Contains(b, []byte(plaintext)) {
			t.Fatalf("the answer to a set shows the value: %s", b)
		}
	}

	// Viewers list names and versions; no answer carries a value.
	resp := e.do("GET", "/api/v1/projects/p/secrets", viewer, nil)
	b, _ := io.ReadAll(resp.Body)
	var list []client.Secret
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].Name != "API_KEY" || list[0].Version != 2 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte(plaintext)) || bytes.Contains(b, []byte(`"value"`)) {
		t.Fatalf("the listing shows a value: %s", b)
	}
	if resp := e.do("GET", "/api/v1/projects/p/secrets/API_KEY", e.admin, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("reading one secret: %d, want no such route", resp.StatusCode)
	}

	// Bad names and values are refused, and say why.
	for name, want := range map[string]string{"1ABC": "not a secret name", "MY-KEY": "not a secret name", "KOYA_TOKEN": "reserved",
		strings.Repeat("A", 129): "at most 128"} {
		resp := e.setSecret("p", name, e.tokP, "x")
		if got := errorOf(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Message, want) {
			t.Errorf("name %.20q: %d %q, want %q", name, resp.StatusCode, got.Message, want)
		}
	}
	if resp := e.setSecret("p", "EMPTY", e.tokP, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an empty value: %d", resp.StatusCode)
	}
	resp = e.setSecret("p", "BIG", e.tokP, strings.Repeat("x", MaxSecretBytes+1))
	if got := errorOf(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(got.Message, "64 KiB") {
		t.Errorf("a value over the limit: %d %+v", resp.StatusCode, got)
	}
	if resp := e.setSecret("p", "EXACT", e.tokP, strings.Repeat("x", MaxSecretBytes)); resp.StatusCode != 200 {
		t.Errorf("a value at the limit: %d", resp.StatusCode)
	}

	// Delete: editors only; then it is gone.
	if resp := e.do("DELETE", "/api/v1/projects/p/secrets/API_KEY", viewer, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer deletes: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/v1/projects/p/secrets/API_KEY", e.tokP, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/v1/projects/p/secrets/API_KEY", e.tokP, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete again: %d", resp.StatusCode)
	}

	// The audit log has every write, never the value.
	var actions []string
	for _, a := range e.auditOf("p", "secret.") {
		actions = append(actions, a.Action+" "+a.Object+" "+a.Detail+" by "+a.Actor)
		if strings.Contains(a.Detail, plaintext) {
			t.Errorf("audit detail shows the value: %+v", a)
		}
	}
	want := []string{"secret.delete secret/API_KEY  by alice", "secret.set secret/EXACT version 1 by alice",
		"secret.set secret/API_KEY version 2 by alice", "secret.set secret/API_KEY version 1 by alice"}
	if strings.Join(actions, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s", strings.Join(actions, "\n"))
	}
}

// Values reach neither the database file (nor its WAL) nor the server's
// log in plaintext, even at debug level.
func TestSecretsNeverStoredInPlaintext(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if resp := e.setSecret("p", "DB_PASSWORD", e.tokP, plaintext); resp.StatusCode != 200 {
		t.Fatalf("set: %d", resp.StatusCode)
	}
	e.setSecret("p", "BAD-NAME", e.tokP, plaintext) // an error path logs too
	sec, err := e.store.GetSecret(context.Background(), "p", "DB_PASSWORD")
	if err != nil || bytes.Contains(sec.Value, []byte(plaintext)) {
		t.Fatalf("stored value %q (%v)", sec.Value, err)
	}

	db := e.store.(interface{ DB() *sql.DB }).DB()
	var seq int
	var name, file string
	if err := db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil || file == "" {
		t.Fatalf("database file: %q %v", file, err)
	}
	checked := 0
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		checked++
		if bytes.Contains(b, []byte(plaintext)) {
			t.Errorf("%s holds the plaintext", f)
		}
	}
	if checked < 2 {
		t.Errorf("only %d database files read", checked)
	}
	if strings.Contains(logs.String(), plaintext) {
		t.Errorf("the server's log shows the value:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/secrets/DB_PASSWORD") {
		t.Errorf("the log did not see the request at all:\n%s", logs.String())
	}
}

// putSecretWorkflow stores a one-step workflow listing secrets, running
// long on the mock backend.
func (e *env) putSecretWorkflow(project, name string, secrets ...string) {
	e.t.Helper()
	wf := v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"},
		Metadata: v1.ObjectMeta{Name: name, Project: project},
		Spec:     v1.WorkflowSpec{Steps: []v1.Step{{Name: "main", Command: []string{"sleep", "1h"}, Secrets: secrets}}}}
	if _, _, err := e.store.PutWorkflow(context.Background(), wf); err != nil {
		e.t.Fatal(err)
	}
}

// agentSecrets asks for an attempt's secrets with a token.
func (e *env) agentSecrets(attemptID, token string) (*http.Response, v1.AgentSecrets) {
	e.t.Helper()
	resp := e.do("GET", "/api/v1/agent/attempts/"+attemptID+"/secrets", token, nil)
	var out v1.AgentSecrets
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp, out
}

// The agent route gives an attempt exactly its step's secrets, to its own
// token only, while it runs, and audits each delivery.
func TestAgentSecrets(t *testing.T) {
	e := newEnv(t)
	for name, value := range map[string]string{"LISTED": plaintext, "OTHER": "not-for-this-step"} {
		if resp := e.setSecret("p", name, e.tokP, value); resp.StatusCode != 200 {
			t.Fatalf("set %s: %d", name, resp.StatusCode)
		}
	}
	e.putSecretWorkflow("p", "uses", "LISTED")
	a := e.attemptOf(e.submit("p", "uses"))
	tok := e.token(store.Token{Subject: "attempt:" + a.ID, Project: "p", AttemptID: a.ID})

	resp, got := e.agentSecrets(a.ID, tok)
	if resp.StatusCode != 200 || len(got.Secrets) != 1 || got.Secrets[0].Name != "LISTED" || string(got.Secrets[0].Value) != plaintext || got.Secrets[0].Version != 1 {
		t.Fatalf("agent secrets: %d %+v", resp.StatusCode, got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}

	// Another attempt's token, a user's token: refused.
	e.putWorkflow("p", "plain", "sleep", "1h")
	b := e.attemptOf(e.submit("p", "plain"))
	other := e.token(store.Token{Subject: "attempt:" + b.ID, Project: "p", AttemptID: b.ID})
	for what, token := range map[string]string{"another attempt's token": other, "an admin's token": e.admin, "an editor's token": e.tokP} {
		if resp, _ := e.agentSecrets(a.ID, token); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d", what, resp.StatusCode)
		}
	}
	// A step without secrets gets none.
	if resp, got := e.agentSecrets(b.ID, other); resp.StatusCode != 200 || len(got.Secrets) != 0 {
		t.Errorf("a step without secrets: %d %+v", resp.StatusCode, got)
	}

	deliveries := e.auditOf("p", "secret.deliver")
	if len(deliveries) != 1 || deliveries[0].Object != "secret/LISTED" || deliveries[0].Actor != "attempt:"+a.ID ||
		!strings.Contains(deliveries[0].Detail, "attempt "+a.ID) {
		t.Errorf("deliveries audited: %+v", deliveries)
	}

	// Once the attempt ended, its token gets nothing more.
	a.Phase = v1.Succeeded
	if _, err := e.store.UpdateAttempt(context.Background(), a, ""); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.agentSecrets(a.ID, tok); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an ended attempt: %d", resp.StatusCode)
	}
}

// A step listing a secret the project lacks is told which, and gets none.
func TestAgentSecretsMissing(t *testing.T) {
	e := newEnv(t)
	e.setSecret("p", "HAVE", e.tokP, plaintext)
	e.putSecretWorkflow("p", "lacks", "HAVE", "NOT_SET")
	a := e.attemptOf(e.submit("p", "lacks"))
	tok := e.token(store.Token{Subject: "attempt:" + a.ID, Project: "p", AttemptID: a.ID})
	resp, _ := e.agentSecrets(a.ID, tok)
	if got := errorOf(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(got.Message, "NOT_SET") || strings.Contains(got.Message, "HAVE") {
		t.Errorf("missing secret: %d %+v", resp.StatusCode, got)
	}
	if d := e.auditOf("p", "secret.deliver"); len(d) != 0 {
		t.Errorf("deliveries audited though none was made: %+v", d)
	}
}
