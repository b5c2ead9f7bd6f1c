package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/trigger"
)

func decodeAs[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWebhookTrigger: a webhook trigger applied with koya apply, called
// with its own secret (resent calls deduplicated by Idempotency-Key) or an
// editor's token, starts one run per call with params from the body; a
// wrong secret, a viewer and a stranger are refused.
func TestWebhookTrigger(t *testing.T) {
	e := newEnv(t)
	svc, err := trigger.New(trigger.Config{Store: e.store, Engine: e.engine, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	res, resp := e.apply(`apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: label, project: p}
spec:
  params: {label: {type: string}, n: {type: integer, default: 0}}
  steps: [{name: s, command: ["true"]}]
---
apiVersion: koya.dev/v1
kind: Trigger
metadata: {name: hook, project: p}
spec:
  workflow: label
  webhook: {}
  params: {label: "{{ event.body.label }}", n: "{{ event.body.n }}"}
`, "")
	if resp.StatusCode != 200 || len(res.Objects) != 2 || res.Objects[1].Kind != "Trigger" || res.Objects[1].Action != client.Created {
		t.Fatalf("apply: %d %+v", resp.StatusCode, res)
	}
	const hook = "/api/v1/projects/p/triggers/hook"
	sec := decodeAs[client.WebhookSecret](t, e.do("POST", hook+"/webhook-secret", e.tokP, nil))
	if !strings.HasPrefix(sec.Secret, "koya_whk_") || sec.URL != hook+"/webhook" {
		t.Fatalf("secret %+v", sec)
	}
	call := func(token, key, body string) *http.Response {
		return e.do("POST", hook+"/webhook", token, strings.NewReader(body), "Idempotency-Key", key, "Content-Type", "application/json")
	}
	for i, want := range []bool{true, false} { // the resend queues nothing
		resp := call(sec.Secret, "k1", `{"label":"cat","n":3}`)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
		if r := decodeAs[client.FireResult](t, resp); r.Queued != want || r.Key != "webhook:k1" {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
	if resp := call(e.tokP, "k2", `{"label":"dog"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("editor token: %d", resp.StatusCode)
	}
	e.principal(store.Principal{Name: "vic", Kind: store.KindUser})
	e.member("p", "vic", v1.RoleViewer)
	for name, token := range map[string]string{"wrong secret": "koya_whk_nope", "viewer": e.token(store.Token{Subject: "vic"}), "none": ""} {
		if resp := call(token, "k3", `{}`); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
	}
	if resp := call(sec.Secret, "k4", `[1]`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("non-object body: %d", resp.StatusCode)
	}
	// The secret of one trigger opens nothing else.
	if resp := e.do("GET", hook, sec.Secret, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("secret as a token: %d", resp.StatusCode)
	}

	deadline := time.Now().Add(20 * time.Second)
	var runs []store.Run
	for {
		runs, err = e.store.ListRuns(context.Background(), store.RunFilter{Project: "p", Workflow: "label"})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]any{}
	for _, r := range runs {
		got[r.Params["label"].(string)] = r.Params["n"]
	}
	if len(runs) != 2 || got["cat"] != float64(3) || got["dog"] != float64(0) {
		t.Fatalf("runs: %d, params %v", len(runs), got)
	}
	tr := decodeAs[v1.Trigger](t, e.do("GET", hook, e.tokP, nil))
	if tr.Status == nil || tr.Status.Started != 2 || tr.Status.Backlog != 0 || !tr.Status.HasSecret {
		t.Fatalf("status %+v", tr.Status)
	}

	// Rotating the secret retires the old one.
	sec2 := decodeAs[client.WebhookSecret](t, e.do("POST", hook+"/webhook-secret", e.tokP, nil))
	if resp := call(sec.Secret, "k5", `{}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old secret: %d", resp.StatusCode)
	}
	if resp := call(sec2.Secret, "k5", `{"label":"x"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("new secret: %d", resp.StatusCode)
	}
	// Suspended: calls queue, nothing starts; fire queues by hand.
	if resp := e.do("POST", hook+"/suspend", e.tokP, nil); resp.StatusCode != 200 {
		t.Fatalf("suspend: %d", resp.StatusCode)
	}
	if resp := e.do("POST", hook+"/fire", e.tokP, strings.NewReader(`{"body":{"label":"manual"}}`)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("fire: %d", resp.StatusCode)
	}
	if resp := e.do("POST", hook+"/fire", e.tokP, strings.NewReader(`{"file":"a.jpg"}`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("fire with a file on a webhook trigger: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", hook, e.tokP, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := call(sec2.Secret, "k6", `{}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("secret of a deleted trigger: %d", resp.StatusCode)
	}
}
