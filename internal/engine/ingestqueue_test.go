package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// TestIngestQueueCommitsWhatCameMeanwhileTogether: calls that arrive while
// a commit is under way go in one batch, committed by one of them, and
// every call is applied exactly once.
func TestIngestQueueCommitsWhatCameMeanwhileTogether(t *testing.T) {
	var (
		q       ingestQueue
		mu      sync.Mutex
		batches [][]string
		release = make(chan struct{})
	)
	commit := func(batch []*ingestCall) {
		var ids []string
		for _, c := range batch {
			ids = append(ids, c.attemptID)
			c.ack.Applied++
		}
		mu.Lock()
		batches = append(batches, ids)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the first commit while the others queue
		}
	}
	call := func(id string) *ingestCall {
		return &ingestCall{attemptID: id, wake: make(chan struct{}, 1)}
	}
	a := call("a")
	var wg sync.WaitGroup
	wg.Go(func() { q.join(a, commit) })
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 })
	others := []*ingestCall{call("b"), call("c"), call("d")}
	for _, c := range others {
		wg.Go(func() { q.join(c, commit) })
	}
	waitFor(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.pending) == 3 })
	close(release)
	wg.Wait()

	if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != 3 {
		t.Fatalf("batches %v: want [a] then the three that queued", batches)
	}
	for _, c := range append(others, a) {
		if c.ack.Applied != 1 {
			t.Errorf("call %s applied %d times", c.attemptID, c.ack.Applied)
		}
	}
	if q.busy || len(q.pending) != 0 {
		t.Errorf("queue left busy=%v pending=%d", q.busy, len(q.pending))
	}
}

// TestIngestQueueUnderLoad: many concurrent callers, each applied once,
// in batches no larger than the bound.
func TestIngestQueueUnderLoad(t *testing.T) {
	var (
		q       ingestQueue
		mu      sync.Mutex
		largest int
		applied = map[*ingestCall]int{}
	)
	commit := func(batch []*ingestCall) {
		mu.Lock()
		largest = max(largest, len(batch))
		for _, c := range batch {
			applied[c]++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	calls := make([]*ingestCall, 500)
	for i := range calls {
		calls[i] = &ingestCall{wake: make(chan struct{}, 1)}
		wg.Go(func() { q.join(calls[i], commit) })
	}
	wg.Wait()
	for i, c := range calls {
		if applied[c] != 1 {
			t.Fatalf("call %d applied %d times", i, applied[c])
		}
	}
	if largest > maxIngestBatch || largest < 2 {
		t.Errorf("largest batch %d: want 2..%d", largest, maxIngestBatch)
	}
}

// TestIngestQueueSurvivesAPanic: a commit that panics answers its
// batch's other callers with an error and leaves the queue working; the
// panic reaches the caller that committed.
func TestIngestQueueSurvivesAPanic(t *testing.T) {
	var (
		q       ingestQueue
		entered = make(chan struct{})
		release = make(chan struct{})
	)
	boom := func(batch []*ingestCall) {
		if batch[0].attemptID == "leader" {
			close(entered)
			<-release
		}
		panic("boom")
	}
	leader := &ingestCall{attemptID: "leader", wake: make(chan struct{}, 1)}
	second := &ingestCall{attemptID: "second", wake: make(chan struct{}, 1)}
	third := &ingestCall{attemptID: "third", wake: make(chan struct{}, 1)}
	panicked := make(chan any, 2)
	join := func(c *ingestCall) {
		defer func() { panicked <- recover() }()
		q.join(c, boom)
	}
	go join(leader)
	<-entered
	go join(second)
	go join(third)
	waitFor(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.pending) == 2 })
	close(release)
	// The leader panics; second commits [second third] and panics too.
	for range 2 {
		if p := <-panicked; p != "boom" {
			t.Fatalf("recovered %v, want the commit's panic", p)
		}
	}
	if !errs.Is(third.err, errs.Internal) {
		t.Errorf("third: %v, want an internal error", third.err)
	}
	ok := &ingestCall{attemptID: "after", wake: make(chan struct{}, 1)}
	q.join(ok, func(batch []*ingestCall) { batch[0].ack.Applied = 1 })
	if ok.ack.Applied != 1 || q.busy {
		t.Errorf("after the panics: applied %d, busy %v", ok.ack.Applied, q.busy)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !Eventually(10*time.Second, cond) {
		t.Fatal("condition not met in 10s")
	}
}

// TestIngestBatchKeepsCallsApart: one transaction for several agents'
// calls, each with its own ack; an unknown attempt fails alone, and an
// attempt named twice (an agent's resend) is applied once.
func TestIngestBatchKeepsCallsApart(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		e := newEnv(t, open(t), nil, nil)
		e.workflow("quiet", v1.WorkflowSpec{Steps: []v1.Step{{Name: "s", Foreach: []any{1, 2}, Command: cmd("silent")}}})
		id := e.submit("quiet", nil)
		ctx := context.Background()
		var as []store.Attempt
		waitFor(t, func() bool {
			var err error
			as, err = e.store.ListAttempts(ctx, store.AttemptFilter{RunID: id})
			return err == nil && len(as) == 2
		})
		started := v1.AgentEvent{Seq: 1, Type: v1.EventStarted}
		exited := v1.AgentEvent{Seq: 2, Type: v1.EventExited, Exit: &v1.Exit{}}
		call := func(id string, evs ...v1.AgentEvent) *ingestCall {
			return &ingestCall{attemptID: id, events: evs, wake: make(chan struct{}, 1)}
		}
		first := call(as[0].ID, started, exited)
		unknown := call("no-such-attempt", started)
		again := call(as[0].ID, started) // resent after a lost ack
		other := call(as[1].ID, started)
		e.engine.ingestBatch(ctx, []*ingestCall{first, unknown, again, other})

		if first.err != nil || first.ack.Applied != 2 {
			t.Errorf("first: ack %+v, %v: want applied 2", first.ack, first.err)
		}
		if !errs.Is(unknown.err, errs.NotFound) {
			t.Errorf("unknown attempt: %v, want NotFound", unknown.err)
		}
		if again.err != nil || again.ack.Applied != 2 {
			t.Errorf("resend: ack %+v, %v: want applied 2", again.ack, again.err)
		}
		if other.err != nil || other.ack.Applied != 1 {
			t.Errorf("other: ack %+v, %v: want applied 1", other.ack, other.err)
		}
		a0, _ := e.store.GetAttempt(ctx, as[0].ID)
		a1, _ := e.store.GetAttempt(ctx, as[1].ID)
		if a0.Phase != v1.Succeeded || a0.LastSeq != 2 {
			t.Errorf("attempt 0: %s seq %d, want Succeeded at 2 (the resend must not undo it)", a0.Phase, a0.LastSeq)
		}
		if a1.Phase != v1.Running || a1.LastSeq != 1 {
			t.Errorf("attempt 1: %s seq %d, want Running at 1", a1.Phase, a1.LastSeq)
		}
	})
}
