package server

import (
	"sync"
	"time"

	"github.com/koya-dev/koya/internal/store"
)

// agentTokenTTL is how long an agent token, once read from the store (or
// minted by this process's engine), is taken without reading it again.
// An agent calls many times in its attempt's first moments (its start,
// its exit, its logs); two store reads a call were a tenth of the
// server's work per short step. What a stale entry can miss is small:
// agent tokens cannot be revoked one by one, and they outlive their
// attempt by AgentTokenGrace anyway; an attempt deleted with its project
// keeps its token working here for at most this long.
const agentTokenTTL = 5 * time.Second

// maxAgentTokens bounds the cache: past it, expired entries are dropped,
// and if none are, all are (they are read again on use).
const maxAgentTokens = 1 << 14

// agentTokens remembers recently checked agent tokens by hash, with their
// attempt's identity (project, run, step, index) and its end as read then
// (for the grace check).
type agentTokens struct {
	mu sync.Mutex
	m  map[string]agentToken
}

type agentToken struct {
	token   store.Token
	attempt store.Attempt
	until   time.Time
}

func newAgentTokens() *agentTokens { return &agentTokens{m: map[string]agentToken{}} }

// get is the token of hash and its attempt, if remembered and fresh at now.
func (c *agentTokens) get(hash string, now time.Time) (store.Token, store.Attempt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.until) {
		return store.Token{}, store.Attempt{}, false
	}
	return e.token, e.attempt, true
}

// put remembers an agent token and its attempt from now: the attempt's
// identity and end only (what is used of it), not its handle, exit or
// outputs, which would make each entry as large as they are.
func (c *agentTokens) put(t store.Token, a store.Attempt, now time.Time) {
	if t.AttemptID == "" || t.Hash == "" {
		return
	}
	a = store.Attempt{ID: a.ID, Project: a.Project, RunID: a.RunID, Step: a.Step, Index: a.Index, Number: a.Number,
		Backend: a.Backend, FinishedAt: a.FinishedAt}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxAgentTokens {
		for h, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, h)
			}
		}
		if len(c.m) >= maxAgentTokens {
			clear(c.m)
		}
	}
	c.m[t.Hash] = agentToken{token: t, attempt: a, until: now.Add(agentTokenTTL)}
}
