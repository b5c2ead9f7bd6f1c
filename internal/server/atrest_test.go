package server

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// agentSide speaks an attempt's half of the API, by hand.
type agentSide struct {
	e       *env
	attempt store.Attempt
	tok     string
	seq     int64
}

// startAgent starts a run of a long step in project and returns its agent.
func (e *env) startAgent(project string) (*agentSide, string) {
	e.t.Helper()
	e.putWorkflow(project, "long", "sleep", "1h") // the mock only reports "started"
	run := e.submit(project, "long")
	a := e.attemptOf(run)
	return &agentSide{e: e, attempt: a, tok: e.token(store.Token{Project: project, AttemptID: a.ID})}, run
}

func (g *agentSide) base() string { return "/api/v1/agent/attempts/" + g.attempt.ID }

// log sends lines with the next sequence numbers.
func (g *agentSide) log(texts ...string) {
	g.e.t.Helper()
	var chunk v1.LogChunk
	for _, text := range texts {
		g.seq++
		chunk.Lines = append(chunk.Lines, v1.AgentLogLine{Seq: g.seq, Stream: "stdout", Time: time.Now().UTC(), Text: text})
	}
	body, _ := json.Marshal(chunk)
	if resp := g.e.do("POST", g.base()+"/logs", g.tok, bytes.NewReader(body)); resp.StatusCode != http.StatusNoContent {
		g.e.t.Fatalf("post logs: %d %+v", resp.StatusCode, errorOf(g.e.t, resp))
	}
}

// put uploads an output.
func (g *agentSide) put(name, content string) v1.Output {
	g.e.t.Helper()
	resp := g.e.do("PUT", g.base()+"/outputs/"+name, g.tok, strings.NewReader(content))
	var out v1.Output
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		g.e.t.Fatalf("put output %s: %d", name, resp.StatusCode)
	}
	return out
}

// get downloads an artifact of the attempt's project.
func (g *agentSide) get(ref string) (int, string) {
	g.e.t.Helper()
	resp := g.e.do("GET", g.base()+"/artifacts?ref="+ref, g.tok, nil)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logTexts reads a run's log lines as a JSON list (status, texts).
func (e *env) logTexts(project, run, token string) (int, []string) {
	e.t.Helper()
	resp := e.do("GET", "/api/v1/projects/"+project+"/runs/"+run+"/logs", token, nil)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	var lines []v1.LogLine
	if err := json.NewDecoder(resp.Body).Decode(&lines); err != nil {
		e.t.Fatal(err)
	}
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
	}
	return 200, texts
}

// streamTexts reads a run's log lines as an event stream: texts, and the
// names of other events.
func (e *env) streamTexts(project, run, token string) (texts, events []string) {
	e.t.Helper()
	resp := e.do("GET", "/api/v1/projects/"+project+"/runs/"+run+"/logs", token, nil, "Accept", "text/event-stream")
	readEvents(e.t, resp.Body, func(name string, data []byte) {
		var l v1.LogLine
		if name == "log" && json.Unmarshal(data, &l) == nil {
			texts = append(texts, l.Text)
		} else {
			events = append(events, name)
		}
	})
	return texts, events
}

// TestAtRest: a step's output and log lines reach the database and the
// object store as ciphertext only, while an authorised caller reads them in
// clear; moved ciphertext does not decrypt.
func TestAtRest(t *testing.T) {
	dir, objDir := t.TempDir(), t.TempDir()
	e := newEnvAt(t, dir, "file://"+objDir)
	const (
		artifactSecret = "ARTIFACT-PLAINTEXT 7f3c: the model weights of doom"
		logSecret      = "LOG-PLAINTEXT 91ab: password=hunter2"
	)
	g, run := e.startAgent("p")
	g.log("starting", logSecret, "done")
	out := g.put("model", artifactSecret) // not JSON: no Value kept in the database
	other := g.put("other", "another artifact")

	// The store holds ciphertext only: the database file, its WAL and the
	// objects, byte for byte.
	files, control := 0, false
	for _, root := range []string{dir, objDir} {
		_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			files++
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// A control: the log rows' clear columns are found, so the
			// search does see what was written.
			control = control || bytes.Contains(b, []byte(g.attempt.ID))
			for _, secret := range []string{artifactSecret, logSecret, "hunter2", "doom"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s holds the plaintext %q", p, secret)
				}
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "koya.db-wal")); err != nil || files < 4 || !control {
		t.Fatalf("looked at %d files (wal: %v, attempt id seen: %v): want the database, its WAL and the objects", files, err, control)
	}

	// An authorised caller reads both in clear: list, stream, download.
	if code, texts := e.logTexts("p", run, e.tokP); code != 200 || !slices.Equal(texts, []string{"starting", logSecret, "done"}) {
		t.Fatalf("logs: %d %q", code, texts)
	}
	if texts, events := e.streamTexts("p", run, e.tokP); !slices.Equal(texts, []string{"starting", logSecret, "done"}) || len(events) != 1 || events[0] != "end" {
		t.Fatalf("log stream: %q %v", texts, events)
	}
	if code, body := g.get(out.Ref); code != 200 || body != artifactSecret {
		t.Fatalf("download: %d %q", code, body)
	}

	// The bytes of one artifact under the other's name do not decrypt, nor
	// under another project's prefix.
	ct, err := os.ReadFile(filepath.Join(objDir, filepath.FromSlash(out.Ref)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(objDir, filepath.FromSlash(other.Ref)), ct, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := g.get(other.Ref); code != http.StatusForbidden {
		t.Fatalf("an artifact's bytes under another ref: %d %q", code, body)
	}
	gq, _ := e.startAgent("q")
	gq.put("warm", "q has keys too")
	qRef := strings.Replace(out.Ref, "projects/p/", "projects/q/", 1)
	if err := os.MkdirAll(filepath.Dir(filepath.Join(objDir, filepath.FromSlash(qRef))), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(objDir, filepath.FromSlash(qRef)), ct, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := gq.get(qRef); code != http.StatusForbidden {
		t.Fatalf("p's artifact under q's prefix: %d %q", code, body)
	}

	// A log row moved to another attempt does not decrypt: the read fails
	// loudly, in the list and in the stream.
	db := e.store.(interface{ DB() *sql.DB }).DB()
	if _, err := db.Exec(`UPDATE logs SET attempt_id = ? WHERE attempt_id = ? AND seq = 2`, "att-other", g.attempt.ID); err != nil {
		t.Fatal(err)
	}
	if code, texts := e.logTexts("p", run, e.tokP); code != http.StatusForbidden {
		t.Fatalf("a moved log row: %d %q, want forbidden", code, texts)
	}
	if texts, events := e.streamTexts("p", run, e.tokP); len(events) != 1 || events[0] != "error" || len(texts) > 1 {
		t.Fatalf("a moved log row in a stream: %q %v, want an error event", texts, events)
	}
}
