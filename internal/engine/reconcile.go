package engine

import (
	"context"
	"encoding/json"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/store"
)

func (e *Engine) reconcileLoop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.ReconcileEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := e.reconcile(ctx, false); err != nil && ctx.Err() == nil {
				e.log.Error("reconciling attempts", "err", err)
			}
		}
	}
}

// reconcile brings unfinished attempts in line with their backends. At
// startup (after a crash or a kill -9) every one is checked: running tasks
// are re-attached and keep running, attempts that were created but maybe
// never started are started (backends make that idempotent), and tasks that
// vanished are recorded as lost so that their retry policy applies. Later
// passes look only at attempts whose agent went quiet.
func (e *Engine) reconcile(ctx context.Context, startup bool) error {
	active, err := e.store.ListAttempts(ctx, store.AttemptFilter{Phases: []v1.Phase{v1.Pending, v1.Running}})
	if err != nil {
		return err
	}
	now := e.clock()
	for _, a := range active {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case a.Phase == v1.Pending && len(a.Handle) == 0:
			if startup || now.Sub(a.CreatedAt) > e.cfg.StaleAfter {
				e.redispatch(ctx, a)
			}
		case startup || a.HeartbeatAt == nil || now.Sub(*a.HeartbeatAt) > e.cfg.StaleAfter:
			e.checkAttempt(ctx, a, startup)
		}
	}
	// Wake-ups claimed by a process that died were rolled back with its
	// transaction; a poke plans them now rather than at the next tick.
	if startup {
		e.poke()
	}
	return nil
}

// redispatch starts an attempt that was created but whose start was never
// recorded. Its token's secret died with the old process, so a new one is
// minted.
func (e *Engine) redispatch(ctx context.Context, a store.Attempt) {
	e.mu.Lock()
	busy := e.inflight[a.ID]
	e.mu.Unlock()
	if busy {
		return
	}
	var j job
	err := e.store.Tx(ctx, func(q store.Querier) error {
		t, err := q.GetTask(ctx, a.RunID, a.Step, a.Index)
		if err != nil {
			return err
		}
		j, err = e.newJob(ctx, q, a, t.Manifest)
		return err
	})
	if err != nil {
		e.log.Error("re-dispatching an attempt", "attempt", a.ID, "err", err)
		return
	}
	e.enqueue(ctx, j)
}

// checkAttempt asks the backend about an attempt whose agent is silent.
func (e *Engine) checkAttempt(ctx context.Context, a store.Attempt, recover bool) {
	b, err := e.cfg.Backends.Get(a.Backend)
	if err != nil {
		e.lose(ctx, a, "backend "+a.Backend+" is not configured")
		return
	}
	var h backend.Handle
	if len(a.Handle) > 0 {
		if err := json.Unmarshal(a.Handle, &h); err != nil {
			e.lose(ctx, a, "unreadable backend handle")
			return
		}
	} else {
		h = backend.Handle{Version: backend.HandleVersion, Driver: a.Backend, AttemptID: a.ID}
	}
	if recover {
		if err := b.Recover(ctx, h); errs.Is(err, errs.NotFound) {
			e.lose(ctx, a, "")
			return
		} else if err != nil {
			e.log.Warn("recovering an attempt", "attempt", a.ID, "err", err)
			return
		}
	}
	st, err := b.Status(ctx, h)
	if err != nil {
		e.log.Warn("attempt status", "attempt", a.ID, "err", err)
		return
	}
	switch {
	case st.Phase == v1.Lost:
		e.lose(ctx, a, "")
	case st.Phase.Done() && st.Exit != nil && !recover && a.HeartbeatAt != nil && e.clock().Sub(*a.HeartbeatAt) > 10*e.cfg.StaleAfter:
		// The agent wrote its result but has been silent far longer than a
		// delivery backoff: it died while delivering. Take the result from
		// the backend (outputs it had not reported are then missing).
		if err := e.finish(ctx, a.ID, *st.Exit); err != nil {
			e.log.Error("finishing a quiet attempt", "attempt", a.ID, "err", err)
		}
	}
}

func (e *Engine) lose(ctx context.Context, a store.Attempt, why string) {
	exit := v1.Exit{Code: -1, Error: ErrLost}
	e.log.Warn("attempt lost", "attempt", a.ID, "run", a.RunID, "step", a.Step, "why", why)
	if err := e.finish(ctx, a.ID, exit); err != nil {
		e.log.Error("recording a lost attempt", "attempt", a.ID, "err", err)
	}
}
