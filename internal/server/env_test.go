package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

// env is a real server over SQLite, in-memory objects (or newEnvAt's) and
// the mock backend, on a loopback port.
type env struct {
	t      *testing.T
	store  store.Store
	engine *engine.Engine
	mock   *mock.Driver
	srv    *Server
	http   *httptest.Server
	kek    keys.KEK
	admin  string // token secrets
	tokP   string // opens project p only
}

func newEnv(t *testing.T) *env { return newEnvAt(t, t.TempDir(), "mem://") }

// newEnvAt is newEnv with its database file in dir and its objects at
// objectsURL, for tests that look at what is stored.
func newEnvAt(t *testing.T, dir, objectsURL string) *env {
	return newEnvDB(t, filepath.Join(dir, "koya.db"), objectsURL)
}

// newEnvDB is newEnv on a database (a SQLite file or a postgres:// URL).
func newEnvDB(t *testing.T, db, objectsURL string) *env {
	t.Helper()
	return newEnvConfig(t, db, objectsURL, nil)
}

// newEnvConfig is newEnvDB with the server's config changed by change.
func newEnvConfig(t *testing.T, db, objectsURL string, change func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv := mock.New()
	t.Cleanup(drv.Close)
	reg := backend.NewRegistry(nil)
	if _, err := reg.Add(drv); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	keyring := keys.NewKeyring(kek, KeysetStore(st), keys.Options{})
	eng, err := engine.New(engine.Config{Store: st, Backends: reg, DefaultBackend: mock.Name, ServerURL: "http://127.0.0.1:1", Logger: log,
		Unseal: Unsealer(keyring)})
	if err != nil {
		t.Fatal(err)
	}
	drv.SetReporter(eng)
	objs, err := objects.Open(ctx, objectsURL, keyring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	cfg := Config{Store: st, Objects: objs, Engine: eng, Keys: keyring, Logger: log, PollEvery: 200 * time.Millisecond, KeepAliveEvery: 100 * time.Millisecond}
	if change != nil {
		change(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &env{t: t, store: st, engine: eng, mock: drv, srv: srv, http: hs, kek: kek}
	for _, p := range []string{"p", "q"} {
		if err := st.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: p}}); err != nil {
			t.Fatal(err)
		}
	}
	e.principal(store.Principal{Name: "admin", Kind: store.KindUser, Admin: true})
	e.principal(store.Principal{Name: "alice", Kind: store.KindUser})
	e.member("p", "alice", v1.RoleEditor)
	e.admin = e.token(store.Token{Subject: "admin"})
	e.tokP = e.token(store.Token{Project: "p", Subject: "alice"})
	return e
}

// principal stores a user or service account.
func (e *env) principal(p store.Principal) {
	e.t.Helper()
	if err := e.store.PutPrincipal(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
}

// member gives principal a role in project.
func (e *env) member(project, principal string, role v1.Role) {
	e.t.Helper()
	if err := e.store.PutMembership(context.Background(), store.Membership{Project: project, Principal: principal, Role: role}); err != nil {
		e.t.Fatal(err)
	}
}

// token stores a token and returns its secret.
func (e *env) token(t store.Token) string {
	e.t.Helper()
	secret := "secret-" + uuid.NewString()
	t.ID, t.Hash, t.CreatedAt = uuid.NewString(), store.HashSecret(secret), time.Now().UTC()
	if err := e.store.CreateToken(context.Background(), t); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// do sends a request with a token ("" for none) and returns the response.
func (e *env) do(method, path, token string, body io.Reader, header ...string) *http.Response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// putWorkflow stores a one-step workflow running cmd on the mock backend.
func (e *env) putWorkflow(project, name string, cmd ...string) {
	e.t.Helper()
	wf := v1.Workflow{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"},
		Metadata: v1.ObjectMeta{Name: name, Project: project},
		Spec:     v1.WorkflowSpec{Steps: []v1.Step{{Name: "main", Command: cmd}}}}
	if _, _, err := e.store.PutWorkflow(context.Background(), wf); err != nil {
		e.t.Fatal(err)
	}
}

// submit starts a run and returns its id.
func (e *env) submit(project, workflow string) string {
	e.t.Helper()
	r, err := e.engine.Submit(context.Background(), project, workflow, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

// waitRun waits until the run satisfies ok.
func (e *env) waitRun(id string, ok func(store.Run) bool) store.Run {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r, err := e.store.GetRun(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("run %s: condition not met in time", id)
	return store.Run{}
}

// attemptOf waits for the run's first attempt.
func (e *env) attemptOf(runID string) store.Attempt {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		as, err := e.store.ListAttempts(context.Background(), store.AttemptFilter{RunID: runID})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(as) > 0 {
			return as[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("run %s: no attempt in time", runID)
	return store.Attempt{}
}

// waitAttempt waits until the attempt satisfies ok.
func (e *env) waitAttempt(id string, ok func(store.Attempt) bool) store.Attempt {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		a, err := e.store.GetAttempt(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if ok(a) {
			return a
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("attempt %s: condition not met in time", id)
	return store.Attempt{}
}
