package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
)

// projectKeys calls GET .../keys as token.
func (e *env) projectKeys(project, token string, counts bool) client.ProjectKeys {
	e.t.Helper()
	resp := e.do("GET", fmt.Sprintf("/api/v1/projects/%s/keys?counts=%t", project, counts), token, nil)
	var out client.ProjectKeys
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		e.t.Fatalf("keys of %s: %d", project, resp.StatusCode)
	}
	return out
}

// keyPost posts to .../keys/<what> and returns the status and error code.
func (e *env) keyPost(project, what, token string) (int, errs.Code) {
	e.t.Helper()
	resp := e.do("POST", "/api/v1/projects/"+project+"/keys/"+what, token, nil)
	if resp.StatusCode == 200 {
		return 200, ""
	}
	return resp.StatusCode, errorOf(e.t, resp).Code
}

// waitRewrap waits for the project's rewrap job to end.
func (e *env) waitRewrap(project string) *client.Rewrap {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rw := e.projectKeys(project, e.admin, false).Rewrap; rw != nil && !rw.Running {
			return rw
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("the rewrap did not end in time")
	return nil
}

// staleWriter writes artifacts and log lines of project with a keyring that
// loaded the project's keys before a rotation and keeps them an hour: a
// second server that has not yet seen the rotation (or a disable).
type staleWriter struct {
	e    *env
	kr   *keys.Keyring
	objs *objects.Store
}

func (e *env) staleWriter(objectsURL, project string) *staleWriter {
	e.t.Helper()
	kr := keys.NewKeyring(e.kek, KeysetStore(e.store), keys.Options{CacheTTL: time.Hour})
	objs, err := objects.Open(context.Background(), objectsURL, kr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { objs.Close() })
	if _, err := kr.Encrypt(context.Background(), project, "warm", "up", nil); err != nil {
		e.t.Fatal(err)
	}
	return &staleWriter{e: e, kr: kr, objs: objs}
}

func (w *staleWriter) put(project, content string) string {
	w.e.t.Helper()
	out, err := w.objs.Put(context.Background(), project, strings.NewReader(content))
	if err != nil {
		w.e.t.Fatal(err)
	}
	return out.Ref
}

// log appends a line to attempt a as the stale server would.
func (w *staleWriter) log(a store.Attempt, seq int64, text string) {
	w.e.t.Helper()
	stale := &Server{keys: w.kr}
	lines, err := stale.sealLogs(context.Background(), a.Project, a.ID, []v1.AgentLogLine{{Seq: seq, Stream: "stdout", Time: time.Now().UTC(), Text: text}})
	if err == nil {
		err = w.e.store.AppendLogs(context.Background(), a, lines)
	}
	if err != nil {
		w.e.t.Fatal(err)
	}
}

// TestKeyRotation: rotate with data in place, write more, let the rewrap
// move everything, disable the old key, read everything; disabling is
// refused while data is left under a key; data under a disabled key fails
// loudly and is counted.
func TestKeyRotation(t *testing.T) {
	objDir := t.TempDir()
	e := newEnvAt(t, t.TempDir(), "file://"+objDir)
	g, run := e.startAgent("p")
	g.log("one", "two")
	first := g.put("a", strings.Repeat("first artifact\n", 1000))

	ks := e.projectKeys("p", e.admin, true)
	if len(ks.Keys) != 1 || !ks.Keys[0].Primary || ks.Keys[0].Artifacts != 1 || ks.Keys[0].LogLines != 2 || !ks.Counted {
		t.Fatalf("keys before rotating: %+v", ks)
	}
	old := ks.Keys[0].ID
	stale := e.staleWriter("file://"+objDir, "p") // loads the keys before the rotation

	// Owners only.
	if code, _ := e.keyPost("p", "rotate", e.tokP); code != http.StatusForbidden {
		t.Fatalf("an editor rotates: %d", code)
	}
	if resp := e.do("GET", "/api/v1/projects/p/keys", e.tokP, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an editor lists keys: %d", resp.StatusCode)
	}
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old), e.admin); code != http.StatusConflict || c != errs.Conflict {
		t.Fatalf("disable the primary: %d %s", code, c)
	}

	if code, _ := e.keyPost("p", "rotate", e.admin); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	g.log("three")
	second := g.put("b", "second artifact")
	rw := e.waitRewrap("p")
	ks = e.projectKeys("p", e.admin, true)
	primary := ks.Keys[1].ID
	if len(ks.Keys) != 2 || !ks.Keys[1].Primary || rw.Key != primary || rw.Failed != 0 || rw.Error != "" || rw.Done != rw.Total || rw.Total < 3 {
		t.Fatalf("after the rewrap: %+v %+v", ks, rw)
	}
	if k := ks.Keys[0]; k.Artifacts != 0 || k.LogLines != 0 {
		t.Fatalf("left under the old key: %+v", k)
	}
	if k := ks.Keys[1]; k.Artifacts != 2 || k.LogLines != 3 {
		t.Fatalf("under the new key: %+v", k)
	}

	// A server that has not seen the rotation still writes under the old
	// key: disabling it is refused while that data is there.
	leftRef := stale.put("p", "written by a stale server")
	stale.log(g.attempt, 10, "a stale line")
	ks = e.projectKeys("p", e.admin, true)
	if k := ks.Keys[0]; k.Artifacts != 1 || k.LogLines != 1 {
		t.Fatalf("stale data not counted under the old key: %+v", k)
	}
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old), e.admin); code != http.StatusConflict || c != errs.Conflict {
		t.Fatalf("disable with data left: %d %s", code, c)
	}
	if code, _ := e.keyPost("p", "rewrap", e.admin); code != 200 {
		t.Fatalf("rewrap: %d", code)
	}
	if rw := e.waitRewrap("p"); rw.Done != 2 || rw.Failed != 0 {
		t.Fatalf("second rewrap: %+v", rw)
	}
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old), e.admin); code != 200 {
		t.Fatalf("disable after the rewrap: %d %s", code, c)
	}
	if code, c := e.keyPost("p", "123/disable", e.admin); code != http.StatusNotFound {
		t.Fatalf("disable an unknown key: %d %s", code, c)
	}

	// Everything still reads.
	want := []string{"one", "two", "three", "a stale line"}
	if code, texts := e.logTexts("p", run, e.tokP); code != 200 || !slices.Equal(texts, want) {
		t.Fatalf("logs after disabling the old key: %d %q", code, texts)
	}
	for ref, content := range map[string]string{first.Ref: strings.Repeat("first artifact\n", 1000), second.Ref: "second artifact", leftRef: "written by a stale server"} {
		if code, body := g.get(ref); code != 200 || body != content {
			t.Fatalf("artifact %s after disabling the old key: %d %.40q", ref, code, body)
		}
	}

	// The stale server, still unaware, writes under the disabled key: that
	// data fails loudly, and is counted.
	lost := stale.put("p", "lost under a disabled key")
	before := e.srv.keys.DisabledKeyFailures()
	resp := e.do("GET", g.base()+"/artifacts?ref="+lost, g.tok, nil)
	if got := errorOf(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(got.Message, "disabled") {
		t.Fatalf("read under a disabled key: %d %+v", resp.StatusCode, got)
	}
	if _, err := e.srv.objects.Open(context.Background(), "p", lost); !errors.Is(err, keys.ErrKeyDisabled) {
		t.Fatalf("open under a disabled key: %v", err)
	}
	stale.log(g.attempt, 11, "a lost line")
	if code, _ := e.logTexts("p", run, e.tokP); code != http.StatusForbidden {
		t.Fatalf("logs with a line under a disabled key: %d", code)
	}
	if n := e.srv.keys.DisabledKeyFailures() - before; n != 3 {
		t.Fatalf("%d reads under a disabled key counted, want 3", n)
	}
	metrics := e.do("GET", "/metrics", e.admin, nil)
	if b, _ := io.ReadAll(metrics.Body); !strings.Contains(string(b), "koya_keys_disabled_key_reads_total 3") {
		t.Errorf("metrics do not count the failures:\n%s", b)
	}
	// Enabling the key again makes it readable.
	if code, _ := e.keyPost("p", fmt.Sprintf("%d/enable", old), e.admin); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	if code, body := g.get(lost); code != 200 || body != "lost under a disabled key" {
		t.Fatalf("after enabling: %d %q", code, body)
	}

	// Every change is in the audit log.
	entries, err := e.store.ListAudit(context.Background(), store.AuditFilter{Project: "p", Action: "key."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range entries {
		if a.Outcome == store.AuditOK {
			actions = append(actions, a.Action+" "+a.Object)
		}
	}
	slices.Reverse(actions)
	wantAudit := []string{"key.rotate key/" + fmt.Sprint(primary), "key.rewrap key/" + fmt.Sprint(primary),
		"key.disable key/" + fmt.Sprint(old), "key.enable key/" + fmt.Sprint(old)}
	if !slices.Equal(actions, wantAudit) {
		t.Fatalf("audit: %q, want %q", actions, wantAudit)
	}
}

// TestRewrapMovesSecrets: a rewrap moves secrets to the new key too, so
// that the old key can be disabled; the secret still opens, at the same
// version.
func TestRewrapMovesSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sealed, err := e.srv.keys.Encrypt(ctx, "p", "secret", "TOKEN", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutSecret(ctx, store.Secret{Project: "p", Name: "TOKEN", Value: sealed, CreatedAt: time.Now().UTC(), CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	old := e.projectKeys("p", e.admin, true)
	if len(old.Keys) != 1 || old.Keys[0].Secrets != 1 {
		t.Fatalf("keys: %+v", old)
	}
	if code, _ := e.keyPost("p", "rotate", e.admin); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	e.waitRewrap("p")
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old.Keys[0].ID), e.admin); code != 200 {
		t.Fatalf("disable after the rewrap: %d %s", code, c)
	}
	sec, err := e.store.GetSecret(ctx, "p", "TOKEN")
	if err != nil || sec.Version != 1 {
		t.Fatalf("the secret after the rewrap: %+v %v", sec, err)
	}
	if v, err := e.srv.keys.Decrypt(ctx, "p", "secret", "TOKEN", sec.Value); err != nil || string(v) != "s3cret" {
		t.Fatalf("the moved secret opens as %q, %v", v, err)
	}
}

// A rewrap moves datalake files too (whole objects, the parts of a file
// uploaded in chunks and their manifest), so that the old key can be
// disabled and every file still reads back.
func TestRewrapMovesDatalake(t *testing.T) {
	e := dataEnv(t)
	ctx := context.Background()
	e.putData("a.jpg", "whole file", `{"label":"cat"}`)
	cl := client.New(e.http.URL, e.tokP)
	chunked := bytes.Repeat([]byte("chunk "), 60_000)
	if _, err := cl.PutFileResumable(ctx, "p", "raw", "b.bin", bytes.NewReader(chunked), int64(len(chunked)), client.ResumableOptions{ChunkSize: 100 << 10}); err != nil {
		t.Fatal(err)
	}
	ks := e.projectKeys("p", e.admin, true)
	old := ks.Keys[0].ID
	if n := ks.Keys[0].DataObjects; n < 5 { // a.jpg, 4 parts of b.bin, its manifest
		t.Fatalf("datalake objects under the first key: %d", n)
	}
	if code, _ := e.keyPost("p", "rotate", e.admin); code != 200 {
		t.Fatal("rotate")
	}
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old), e.admin); code != http.StatusConflict || c != errs.Conflict {
		t.Fatalf("disable with datalake files under the key: %d %s", code, c)
	}
	if code, _ := e.keyPost("p", "rewrap", e.admin); code != 200 {
		t.Fatal("rewrap")
	}
	if rw := e.waitRewrap("p"); rw.Failed != 0 {
		t.Fatalf("rewrap: %+v", rw)
	}
	for _, k := range e.projectKeys("p", e.admin, true).Keys {
		if k.ID == old && k.DataObjects != 0 {
			t.Fatalf("after the rewrap, %d datalake objects remain under the old key", k.DataObjects)
		}
	}
	if code, c := e.keyPost("p", fmt.Sprintf("%d/disable", old), e.admin); code != 200 {
		t.Fatalf("disable after the rewrap: %d %s", code, c)
	}
	for name, want := range map[string][]byte{"a.jpg": []byte("whole file"), "b.bin": chunked} {
		rd, err := cl.GetFile(ctx, "p", "raw", name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the rewrap: %d bytes, %v", name, len(got), err)
		}
	}
}

// TestRewrapResumes: a move to the new key that a restart cut (its record
// left in the store, the data still under the old key) is taken up by the
// next server's Resume, then forgotten; a move that runs to its end
// leaves no record.
func TestRewrapResumes(t *testing.T) {
	e := newEnvAt(t, t.TempDir(), "file://"+t.TempDir())
	ctx := context.Background()
	g, _ := e.startAgent("p")
	g.log("one", "two")
	g.put("a", "an artifact")
	old := e.projectKeys("p", e.admin, false).Keys[0].ID

	// A rotation whose move never ran: the server stopped right after
	// recording it.
	primary, err := e.srv.keys.Rotate(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutRewrap(ctx, store.Rewrap{Project: "p", Key: primary, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if k := e.projectKeys("p", e.admin, true).Keys[0]; k.ID != old || k.Artifacts != 1 || k.LogLines != 2 {
		t.Fatalf("under the old key before the restart: %+v", k)
	}

	cfg := e.srv.cfg
	cfg.Metrics = nil // a registry of its own
	next, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Stop(context.Background()) })
	if err := next.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	var rw *client.Rewrap
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rw = next.rewrapStatus("p"); rw != nil && !rw.Running {
			break
		}
	}
	if rw == nil || rw.Running || rw.Key != primary || rw.Failed != 0 || rw.Done != 3 || rw.Total != 3 {
		t.Fatalf("the move taken up: %+v", rw)
	}
	ks := e.projectKeys("p", e.admin, true)
	if k := ks.Keys[0]; k.Artifacts != 0 || k.LogLines != 0 {
		t.Fatalf("left under the old key: %+v", k)
	}
	if rs, err := e.store.ListRewraps(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("records after the move: %+v, %v", rs, err)
	}
	if err := next.Resume(ctx); err != nil || next.rewrapStatus("p").Running {
		t.Fatalf("a second Resume started a move: %v", err)
	}

	if code, _ := e.keyPost("p", "rotate", e.admin); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	if rw := e.waitRewrap("p"); rw.Failed != 0 || rw.Done != 3 {
		t.Fatalf("the move after the second rotation: %+v", rw)
	}
	if rs, err := e.store.ListRewraps(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("records after a move through the API: %+v, %v", rs, err)
	}
}
