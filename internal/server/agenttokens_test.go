package server

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/store"
)

// readCounter counts the store reads that authenticate a token.
type readCounter struct {
	store.Store
	tokens atomic.Int64
}

func (c *readCounter) GetTokenByHash(ctx context.Context, hash string) (store.Token, error) {
	c.tokens.Add(1)
	return c.Store.GetTokenByHash(ctx, hash)
}

// TestAgentTokensRemembered: the token the engine minted for an attempt
// opens its agent routes without a store read; a token read once is
// remembered for agentTokenTTL, then read again; and what is remembered
// is still checked (another attempt's route, the grace after the end).
func TestAgentTokensRemembered(t *testing.T) {
	var reads *readCounter
	e := newEnvConfig(t, filepath.Join(t.TempDir(), "koya.db"), "mem://", func(c *Config) {
		reads = &readCounter{Store: c.Store}
		c.Store = reads
	})
	e.putWorkflow("p", "long", "sleep", "1h")
	run := e.submit("p", "long")
	a := e.attemptOf(run)
	minted, ok := e.mock.Token(a.ID)
	if !ok || minted == "" {
		t.Fatalf("the mock got no token for attempt %s", a.ID)
	}
	logs := func(id, tok string) int {
		t.Helper()
		resp := e.do("POST", "/api/v1/agent/attempts/"+id+"/logs", tok, strings.NewReader(`{"lines":[]}`))
		resp.Body.Close()
		return resp.StatusCode
	}
	before := reads.tokens.Load()
	for range 3 {
		if code := logs(a.ID, minted); code != http.StatusNoContent {
			t.Fatalf("minted token on its own route: %d", code)
		}
	}
	if n := reads.tokens.Load() - before; n != 0 {
		t.Errorf("the minted token was read %d times from the store, want 0", n)
	}
	if code := logs("other", minted); code != http.StatusForbidden {
		t.Errorf("remembered token on another attempt's route: %d, want 403", code)
	}

	// A token the engine did not mint here (another replica's) is read
	// once, then remembered until agentTokenTTL has passed.
	other := e.token(store.Token{Project: "p", AttemptID: a.ID})
	before = reads.tokens.Load()
	logs(a.ID, other)
	logs(a.ID, other)
	if n := reads.tokens.Load() - before; n != 1 {
		t.Errorf("a token read in two calls %d times, want 1", n)
	}
	later := time.Now().Add(agentTokenTTL + time.Second)
	e.srv.clock = func() time.Time { return later }
	if code := logs(a.ID, other); code != http.StatusNoContent {
		t.Fatalf("after the TTL: %d", code)
	}
	if n := reads.tokens.Load() - before; n != 2 {
		t.Errorf("after the TTL the token was read %d times in all, want 2", n)
	}

	// The attempt ends: past the grace, the remembered attempt is read
	// again (the entry is stale by then) and the token refused.
	e.srv.clock = time.Now
	_ = e.engine.Cancel(context.Background(), run)
	done := e.waitAttempt(a.ID, func(a store.Attempt) bool { return a.FinishedAt != nil })
	e.srv.clock = func() time.Time { return done.FinishedAt.Add(AgentTokenGrace + time.Second) }
	if code := logs(a.ID, minted); code != http.StatusUnauthorized {
		t.Errorf("minted token after the grace: %d, want 401", code)
	}
}
