package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// An agent's half of the API, spoken by hand: logs, an output upload and
// events; then a user reads the logs (list and live stream) and downloads
// the artifact.
func TestAgentRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.putWorkflow("p", "long", "sleep", "1h") // the mock only reports "started"
	run := e.submit("p", "long")
	a := e.attemptOf(run)
	tok := e.token(store.Token{Project: "p", AttemptID: a.ID})
	base := "/api/v1/agent/attempts/" + a.ID

	// A follower started before any line arrives sees them live.
	follow := e.do("GET", "/api/v1/projects/p/runs/"+run+"/logs?follow=1", e.tokP, nil, "Accept", "text/event-stream")
	lines := make(chan []string, 1)
	go func() {
		var got []string
		readEvents(t, follow.Body, func(name string, data []byte) {
			var l v1.LogLine
			if name == "log" && json.Unmarshal(data, &l) == nil {
				got = append(got, l.Text)
			}
		})
		lines <- got
	}()

	post := func(seq int64, text string) {
		body := fmt.Sprintf(`{"lines":[{"seq":%d,"stream":"stdout","time":%q,"text":%q}]}`, seq, time.Now().UTC().Format(time.RFC3339Nano), text)
		if resp := e.do("POST", base+"/logs", tok, strings.NewReader(body)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("post logs: %d %+v", resp.StatusCode, errorOf(t, resp))
		}
	}
	post(1, "hello")
	post(2, "world")
	post(2, "world") // a resend is ignored

	// Upload a small JSON output.
	resp := e.do("PUT", base+"/outputs/metrics", tok, strings.NewReader(`{"auc": 0.9}`))
	var out v1.Output
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("put output: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(out.Ref, "projects/p/artifacts/hmac-sha256/") || out.Value != nil || len(out.Sealed) == 0 {
		t.Fatalf("output: %+v, want its value sealed", out)
	}
	if v, err := Unsealer(e.srv.keys)(context.Background(), "p", out); err != nil || !sameJSON(v, json.RawMessage(`{"auc":0.9}`)) {
		t.Fatalf("the sealed value opens as %q, %v", v, err)
	}
	// A directory's tar never gets a value.
	resp = e.do("PUT", base+"/outputs/dir?dir=1", tok, strings.NewReader(`{"not": "a value"}`))
	var dir v1.Output
	_ = json.NewDecoder(resp.Body).Decode(&dir)
	if !dir.Dir || dir.Value != nil {
		t.Fatalf("dir output: %+v", dir)
	}
	// The agent reads its project's artifact back; another project's ref is refused.
	resp = e.do("GET", base+"/artifacts?ref="+out.Ref, tok, nil)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != `{"auc": 0.9}` {
		t.Fatalf("agent get artifact: %d %q", resp.StatusCode, b)
	}
	resp = e.do("GET", base+"/artifacts?ref="+strings.Replace(out.Ref, "projects/p/", "projects/q/", 1), tok, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other project's ref: %d", resp.StatusCode)
	}

	// Events: the output, then the exit. The mock already sent seq 1.
	outJSON, _ := json.Marshal(out)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	batch := fmt.Sprintf(`{"events":[{"seq":1,"type":"started","time":%q},{"seq":2,"type":"output","time":%q,"name":"metrics","output":%s},{"seq":3,"type":"exited","time":%q,"exit":{"code":0}}]}`,
		now, now, outJSON, now)
	resp = e.do("POST", base+"/events", tok, strings.NewReader(batch))
	var ack v1.AgentEventAck
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&ack) != nil || ack.Applied != 3 {
		t.Fatalf("events: %d %+v", resp.StatusCode, ack)
	}
	e.waitRun(run, func(r store.Run) bool { return r.Phase.Done() })

	// The live stream ended with the run and saw each line once.
	if got := <-lines; strings.Join(got, ",") != "hello,world" {
		t.Fatalf("followed lines: %v", got)
	}
	// The JSON list, and paging after a cursor.
	var all []v1.LogLine
	_ = json.NewDecoder(e.do("GET", "/api/v1/projects/p/runs/"+run+"/logs", e.tokP, nil).Body).Decode(&all)
	if len(all) != 2 || all[0].Step != "main" || all[0].Attempt != a.ID {
		t.Fatalf("logs: %+v", all)
	}
	var rest []v1.LogLine
	_ = json.NewDecoder(e.do("GET", fmt.Sprintf("/api/v1/projects/p/runs/%s/logs?after=%d", run, all[0].Cursor), e.tokP, nil).Body).Decode(&rest)
	if len(rest) != 1 || rest[0].Text != "world" {
		t.Fatalf("logs after a cursor: %+v", rest)
	}
	if resp := e.do("GET", "/api/v1/projects/p/runs/"+run+"/logs?follow=1", e.tokP, nil); resp.StatusCode != 400 {
		t.Errorf("follow without an event stream: %d", resp.StatusCode)
	}

	// The user downloads the task's output.
	resp = e.do("GET", "/api/v1/projects/p/runs/"+run+"/artifacts/main/0/metrics", e.tokP, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(b, []byte(`{"auc": 0.9}`)) || resp.Header.Get("X-Koya-Digest") != out.Digest {
		t.Fatalf("download: %d %q %s", resp.StatusCode, b, resp.Header.Get("X-Koya-Digest"))
	}
	if resp := e.do("GET", "/api/v1/projects/p/runs/"+run+"/artifacts/main/0/nope", e.tokP, nil); resp.StatusCode != 404 {
		t.Errorf("missing output: %d", resp.StatusCode)
	}
}

func TestUploadTooLarge(t *testing.T) {
	e := newEnv(t)
	e.srv.cfg.MaxArtifactBytes = 1024
	e.putWorkflow("p", "long", "sleep", "1h")
	a := e.attemptOf(e.submit("p", "long"))
	tok := e.token(store.Token{Project: "p", AttemptID: a.ID})
	resp := e.do("PUT", "/api/v1/agent/attempts/"+a.ID+"/outputs/big", tok, bytes.NewReader(make([]byte, 4096)))
	if got := errorOf(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large upload: %d %+v", resp.StatusCode, got)
	}
}
