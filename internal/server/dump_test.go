package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/pgtest"
)

// After a run that used a secret, wrote log lines, an artifact and a small
// JSON output, neither the database (the SQLite files, or pg_dump of
// PostgreSQL) nor any object holds any of them in clear, while an
// authorised reader gets each back.
func TestDumpsHoldNoPlaintext(t *testing.T) {
	const (
		secretValue  = "SECRET-sk_live_51HX9qk2"
		logText      = "LOG-epoch 7 loss 0.0123 (private dataset cats-v2)"
		artifactText = "ARTIFACT-weights: 0.31 0.77 0.05"
		jsonMarker   = "JSONVALUE-best-threshold"
	)
	stores := map[string]func(t *testing.T) (db string, dump func() []byte){
		"sqlite": func(t *testing.T) (string, func() []byte) {
			dir := t.TempDir()
			return filepath.Join(dir, "koya.db"), func() []byte { return readTree(t, dir) }
		},
		"postgres": func(t *testing.T) (string, func() []byte) {
			url := pgtest.Fresh(t)
			return url, func() []byte {
				out, err := exec.Command("pg_dump", "--no-owner", url).Output()
				if err != nil {
					t.Fatalf("pg_dump: %v", err)
				}
				return out
			}
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			db, dump := open(t)
			objDir := t.TempDir()
			e := newEnvDB(t, db, "file://"+objDir)
			if resp := e.setSecret("p", "API_KEY", e.tokP, secretValue); resp.StatusCode != http.StatusOK {
				t.Fatalf("set secret: %d", resp.StatusCode)
			}
			e.putSecretWorkflow("p", "wf", "API_KEY")
			run := e.submit("p", "wf")
			g := &agentSide{e: e, attempt: e.attemptOf(run)}
			g.tok = e.token(store.Token{Project: "p", AttemptID: g.attempt.ID, Subject: "attempt:" + g.attempt.ID})
			if _, got := e.agentSecrets(g.attempt.ID, g.tok); len(got.Secrets) != 1 || string(got.Secrets[0].Value) != secretValue {
				t.Fatalf("secret delivered: %+v", got)
			}
			g.log("epoch 1", logText)
			model := g.put("model", artifactText)
			metrics := g.put("metrics", `{"threshold": 0.42, "note": "`+jsonMarker+`"}`)
			if len(metrics.Sealed) == 0 || metrics.Value != nil {
				t.Fatalf("a JSON output's value came back unsealed: %+v", metrics)
			}
			// The agent reports the outputs and the exit: the engine stores
			// them in the attempt's and the task's rows.
			a := e.waitAttempt(g.attempt.ID, func(a store.Attempt) bool { return a.LastSeq > 0 })
			seq := a.LastSeq
			var evs []v1.AgentEvent
			for name, o := range map[string]v1.Output{"model": model, "metrics": metrics} {
				seq++
				evs = append(evs, v1.AgentEvent{Seq: seq, Type: v1.EventOutput, Name: name, Output: &o, Time: time.Now()})
			}
			seq++
			evs = append(evs, v1.AgentEvent{Seq: seq, Type: v1.EventExited, Exit: &v1.Exit{}, Time: time.Now()})
			body, _ := json.Marshal(v1.AgentEventBatch{Events: evs})
			if resp := e.do("POST", g.base()+"/events", g.tok, bytes.NewReader(body)); resp.StatusCode != http.StatusOK {
				t.Fatalf("events: %d %v", resp.StatusCode, errorOf(t, resp))
			}
			e.waitRun(run, func(r store.Run) bool { return r.Phase.Done() })

			// An authorised reader gets the value in clear.
			var tasks []v1.Task
			resp := e.do("GET", "/api/v1/projects/p/runs/"+run+"/tasks", e.tokP, nil)
			if err := json.NewDecoder(resp.Body).Decode(&tasks); err != nil || len(tasks) != 1 {
				t.Fatalf("tasks: %v %+v", err, tasks)
			}
			if v := string(tasks[0].Outputs["metrics"].Value); !strings.Contains(v, jsonMarker) || tasks[0].Outputs["metrics"].Sealed != nil {
				t.Errorf("the metrics output as read: %+v", tasks[0].Outputs["metrics"])
			}

			stored := append(dump(), readTree(t, objDir)...)
			if !bytes.Contains(stored, []byte(g.attempt.ID)) {
				t.Fatal("the dump does not even hold the attempt's id: it is not the store's content")
			}
			for _, plain := range []string{secretValue, logText, artifactText, jsonMarker, "sk_live", "cats-v2"} {
				if bytes.Contains(stored, []byte(plain)) {
					t.Errorf("the %s dump or the objects hold %q", name, plain)
				}
			}
		})
	}
}

// readTree is every file under dir, concatenated.
func readTree(t *testing.T, dir string) []byte {
	var all []byte
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
