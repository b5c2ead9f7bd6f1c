package backendtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// FakeServer is a hand-written control plane for agents: the agent
// endpoints over an in-memory artifact store, recording what it applied.
// It applies each (attempt, seq) at most once and in order, as the real
// one does, and can play an outage (503s and dropped connections).
type FakeServer struct {
	URL string
	srv *httptest.Server

	mu        sync.Mutex
	attempts  map[string]*fakeAttempt
	artifacts map[string]artifact
	down      bool
	refused   int // requests refused while down
}

type fakeAttempt struct {
	token    string
	applied  []v1.AgentEvent
	received int // events received, resends included
	reports  int // batches of events received (requests, for agents)
	logs     map[int64]v1.AgentLogLine
	cancel   bool
	secrets  []v1.AgentSecret // what GET .../secrets answers
	asked    int              // GET .../secrets requests
}

type artifact struct {
	data []byte
	dir  bool
}

// NewFakeServer starts a fake control plane on 127.0.0.1, closed when the
// test ends.
func NewFakeServer(t testing.TB) *FakeServer {
	s := &FakeServer{attempts: map[string]*fakeAttempt{}, artifacts: map[string]artifact{}}
	mux := http.NewServeMux()
	const base = "/api/v1/agent/attempts/{id}"
	mux.HandleFunc("POST "+base+"/events", s.handleEvents)
	mux.HandleFunc("POST "+base+"/logs", s.handleLogs)
	mux.HandleFunc("PUT "+base+"/outputs/{name}", s.handleOutput)
	mux.HandleFunc("GET "+base+"/artifacts", s.handleArtifact)
	mux.HandleFunc("GET "+base+"/secrets", s.handleSecrets)
	s.srv = httptest.NewServer(s.outage(mux))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Manifest registers a new attempt with its own token and returns a
// manifest for it pointing at this server.
func (s *FakeServer) Manifest(attemptID string, command ...string) *v1.TaskManifest {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	m := &v1.TaskManifest{AttemptID: attemptID, Project: "p", RunID: "run-" + attemptID, Step: "step",
		Number: 1, Server: s.URL, Token: hex.EncodeToString(tok), Command: command}
	s.mu.Lock()
	s.attempts[attemptID] = &fakeAttempt{token: m.Token, logs: map[int64]v1.AgentLogLine{}}
	s.mu.Unlock()
	return m
}

// SetDown starts (true) or ends an outage.
func (s *FakeServer) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Outage makes the server unavailable for d from now.
func (s *FakeServer) Outage(d time.Duration) {
	s.SetDown(true)
	time.AfterFunc(d, func() { s.SetDown(false) })
}

// Refused counts requests refused during outages.
func (s *FakeServer) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Cancel makes the attempt's next acks say cancel.
func (s *FakeServer) Cancel(attemptID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.attempts[attemptID]; a != nil {
		a.cancel = true
	}
}

// outage answers alternately 503 and a dropped connection while down.
func (s *FakeServer) outage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		if down {
			s.refused++
		}
		n := s.refused
		s.mu.Unlock()
		if !down {
			next.ServeHTTP(w, r)
			return
		}
		if hj, ok := w.(http.Hijacker); ok && n%2 == 0 {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		writeError(w, errs.E(errs.Unavailable, "the control plane is down (fake outage)"))
	})
}

func writeError(w http.ResponseWriter, e *errs.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(errs.HTTPStatus(e.Code))
	_ = json.NewEncoder(w).Encode(map[string]*errs.Error{"error": e})
}

// auth finds the attempt of the request and checks its token.
func (s *FakeServer) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	s.mu.Lock()
	a := s.attempts[id]
	s.mu.Unlock()
	if a == nil {
		writeError(w, errs.E(errs.NotFound, "attempt %s not found", id))
		return "", false
	}
	if r.Header.Get("Authorization") != "Bearer "+a.token {
		writeError(w, errs.E(errs.Unauthenticated, "bad token for attempt %s", id))
		return "", false
	}
	return id, true
}

func (s *FakeServer) handleEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := s.auth(w, r)
	if !ok {
		return
	}
	var b v1.AgentEventBatch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeError(w, errs.E(errs.Invalid, "events: %v", err))
		return
	}
	ack, err := s.Report(r.Context(), id, b.Events)
	if err != nil {
		writeError(w, errs.Public(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ack)
}

// Report applies events as the control plane's ingestion does; drivers
// without an agent (mock) report here directly. It fails during outages.
func (s *FakeServer) Report(ctx context.Context, attemptID string, events []v1.AgentEvent) (v1.AgentEventAck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attempts[attemptID]
	if a == nil {
		return v1.AgentEventAck{}, errs.E(errs.NotFound, "attempt %s not found", attemptID)
	}
	if s.down {
		s.refused++
		return v1.AgentEventAck{}, errs.E(errs.Unavailable, "the control plane is down (fake outage)")
	}
	evs := append([]v1.AgentEvent(nil), events...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
	a.received += len(evs)
	a.reports++
	for _, ev := range evs {
		last := int64(len(a.applied))
		if ev.Seq <= last {
			continue
		}
		if ev.Seq != last+1 {
			break
		}
		a.applied = append(a.applied, ev)
	}
	return v1.AgentEventAck{Applied: int64(len(a.applied)), Cancel: a.cancel}, nil
}

func (s *FakeServer) handleLogs(w http.ResponseWriter, r *http.Request) {
	id, ok := s.auth(w, r)
	if !ok {
		return
	}
	var c v1.LogChunk
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeError(w, errs.E(errs.Invalid, "logs: %v", err))
		return
	}
	s.mu.Lock()
	a := s.attempts[id]
	for _, l := range c.Lines {
		if _, dup := a.logs[l.Seq]; !dup {
			a.logs[l.Seq] = l
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *FakeServer) handleOutput(w http.ResponseWriter, r *http.Request) {
	id, ok := s.auth(w, r)
	if !ok {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		writeError(w, errs.E(errs.Unavailable, "reading the upload: %v", err))
		return
	}
	dir := r.URL.Query().Get("dir") == "1"
	out := s.PutArtifact(fmt.Sprintf("fake/%s/%s", id, r.PathValue("name")), data, dir)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *FakeServer) handleArtifact(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	ref := r.URL.Query().Get("ref")
	s.mu.Lock()
	art, ok := s.artifacts[ref]
	s.mu.Unlock()
	if !ok {
		writeError(w, errs.E(errs.NotFound, "artifact %q not found", ref))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(art.data)
}

// SetSecrets makes the attempt's secrets route answer these (nil: a
// not-found error, as for a secret the project does not have).
func (s *FakeServer) SetSecrets(attemptID string, secrets []v1.AgentSecret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.attempts[attemptID]; a != nil {
		a.secrets = secrets
	}
}

// SecretRequests counts the attempt's requests for its secrets.
func (s *FakeServer) SecretRequests(attemptID string) int {
	return s.count(attemptID, func(a *fakeAttempt) int { return a.asked })
}

func (s *FakeServer) handleSecrets(w http.ResponseWriter, r *http.Request) {
	id, ok := s.auth(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.attempts[id]
	a.asked++
	secrets := a.secrets
	s.mu.Unlock()
	if secrets == nil {
		writeError(w, errs.E(errs.NotFound, "step lists secrets that project p does not have"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v1.AgentSecrets{Secrets: secrets})
}

// PutArtifact stores data under ref (a tar stream when dir) and describes
// it as the control plane would: sha256 digest, size, and the parsed value
// of a small JSON file.
func (s *FakeServer) PutArtifact(ref string, data []byte, dir bool) v1.Output {
	sum := sha256.Sum256(data)
	out := v1.Output{Ref: ref, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data)), Dir: dir}
	if !dir && len(data) <= 1<<20 && json.Valid(data) {
		out.Value = json.RawMessage(strings.TrimSpace(string(data)))
	}
	s.mu.Lock()
	s.artifacts[ref] = artifact{data: append([]byte(nil), data...), dir: dir}
	s.mu.Unlock()
	return out
}

// Artifact returns a stored artifact's bytes.
func (s *FakeServer) Artifact(ref string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.artifacts[ref]
	return a.data, ok
}

// Events returns the attempt's applied events, in seq order.
func (s *FakeServer) Events(attemptID string) []v1.AgentEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.attempts[attemptID]; a != nil {
		return append([]v1.AgentEvent(nil), a.applied...)
	}
	return nil
}

// Received counts events received for the attempt, resends included.
func (s *FakeServer) Received(attemptID string) int {
	return s.count(attemptID, func(a *fakeAttempt) int { return a.received })
}

// count reads one of an attempt's counters (0 for an unknown attempt).
func (s *FakeServer) count(attemptID string, counter func(*fakeAttempt) int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.attempts[attemptID]; a != nil {
		return counter(a)
	}
	return 0
}

// Reports counts the batches of events received for the attempt (an
// agent's requests), refused ones excepted.
func (s *FakeServer) Reports(attemptID string) int {
	return s.count(attemptID, func(a *fakeAttempt) int { return a.reports })
}

// Logs returns the attempt's log lines, in seq order.
func (s *FakeServer) Logs(attemptID string) []v1.AgentLogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attempts[attemptID]
	if a == nil {
		return nil
	}
	lines := make([]v1.AgentLogLine, 0, len(a.logs))
	for _, l := range a.logs {
		lines = append(lines, l)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].Seq < lines[j].Seq })
	return lines
}

// Exit returns the attempt's reported exit, nil before it exited.
func (s *FakeServer) Exit(attemptID string) *v1.Exit {
	evs := s.Events(attemptID)
	if n := len(evs); n > 0 && evs[n-1].Type == v1.EventExited {
		return evs[n-1].Exit
	}
	return nil
}

// Outputs returns the outputs the attempt reported, by name.
func (s *FakeServer) Outputs(attemptID string) map[string]v1.Output {
	outs := map[string]v1.Output{}
	for _, ev := range s.Events(attemptID) {
		if ev.Type == v1.EventOutput && ev.Output != nil {
			outs[ev.Name] = *ev.Output
		}
	}
	return outs
}

// WaitExit waits for the attempt's exited event.
func (s *FakeServer) WaitExit(t testing.TB, attemptID string, timeout time.Duration) v1.Exit {
	t.Helper()
	var exit *v1.Exit
	if !Eventually(timeout, func() bool { exit = s.Exit(attemptID); return exit != nil }) {
		t.Fatalf("attempt %s: no exited event within %s; events: %s", attemptID, timeout, s.describe(attemptID))
	}
	return *exit
}

func (s *FakeServer) describe(attemptID string) string {
	var b strings.Builder
	for _, ev := range s.Events(attemptID) {
		fmt.Fprintf(&b, "%d:%s ", ev.Seq, ev.Type)
	}
	for _, l := range s.Logs(attemptID) {
		fmt.Fprintf(&b, "\n  log %d %s: %s", l.Seq, l.Stream, l.Text)
	}
	return b.String()
}

// Eventually polls cond every 10ms until it holds or timeout passes.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
