package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func newTrigger(project, name string) v1.Trigger {
	return v1.Trigger{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Trigger"},
		Metadata: v1.ObjectMeta{Name: name, Project: project},
		Spec: v1.TriggerSpec{Workflow: "wf", Datalake: &v1.DatalakeSource{Channel: "raw", Filter: `label = "cat"`},
			Params: map[string]string{"file": "{{ event.file.path }}"}, Concurrency: 3},
	}
}

func testTriggers(t *testing.T, s store.Store) {
	tr := newTrigger("p", "t1")
	got, changed, err := s.PutTrigger(ctx, tr)
	must(t, err)
	if !changed || got.Metadata.Version != 1 || got.Spec.Datalake.Channel != "raw" || got.Kind != "Trigger" || got.Metadata.CreatedAt.IsZero() {
		t.Fatalf("created %+v changed %v", got, changed)
	}
	utc(t, "created", &got.Metadata.CreatedAt, &got.Metadata.UpdatedAt)
	again, changed, err := s.PutTrigger(ctx, tr)
	must(t, err)
	if changed || again.Metadata.Version != 1 {
		t.Fatalf("unchanged put: version %d changed %v", again.Metadata.Version, changed)
	}
	tr.Spec.Concurrency = 5
	tr.Metadata.Labels = map[string]string{"team": "a"}
	again, changed, err = s.PutTrigger(ctx, tr)
	must(t, err)
	if !changed || again.Metadata.Version != 2 || again.Spec.Concurrency != 5 || again.Metadata.Labels["team"] != "a" {
		t.Fatalf("changed put: %+v", again)
	}
	_, _, err = s.PutTrigger(ctx, newTrigger("p", "t0"))
	must(t, err)
	_, _, err = s.PutTrigger(ctx, newTrigger("q", "t0"))
	must(t, err)

	must(t, s.SetTriggerSecret(ctx, "p", "t1", "abc"))
	must(t, s.SetTriggerError(ctx, "p", "t1", "boom", at(5)))
	st, err := s.GetTrigger(ctx, "p", "t1")
	must(t, err)
	if st.SecretHash != "abc" || st.LastError != "boom" || st.LastErrorAt == nil || !st.LastErrorAt.Equal(stored(at(5))) || st.Metadata.Version != 2 {
		t.Fatalf("stored %+v", st)
	}
	must(t, s.SetTriggerError(ctx, "p", "t1", "", at(6)))
	if st, _ = s.GetTrigger(ctx, "p", "t1"); st.LastError != "" || st.LastErrorAt != nil {
		t.Fatalf("cleared error: %+v", st)
	}
	ls, err := s.ListTriggers(ctx, "p")
	must(t, err)
	if len(ls) != 2 || ls[0].Metadata.Name != "t0" || ls[1].Metadata.Name != "t1" {
		t.Fatalf("list p: %d", len(ls))
	}
	all, err := s.ListTriggers(ctx, "")
	must(t, err)
	if len(all) != 3 || all[2].Metadata.Project != "q" {
		t.Fatalf("list all: %d", len(all))
	}

	_, err = s.EnqueueTriggerItems(ctx, []store.TriggerItem{{Project: "p", Trigger: "t1", Key: "k", EventAt: at(1)}})
	must(t, err)
	must(t, s.SetTriggerSlot(ctx, "p", "t1", at(1)))
	must(t, s.DeleteTrigger(ctx, "p", "t1"))
	wantCode(t, s.DeleteTrigger(ctx, "p", "t1"), errs.NotFound, "delete again")
	_, err = s.GetTrigger(ctx, "p", "t1")
	wantCode(t, err, errs.NotFound, "get deleted")
	wantCode(t, s.SetTriggerSecret(ctx, "p", "t1", "x"), errs.NotFound, "secret of deleted")
	if items, _ := s.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "p", Trigger: "t1"}); len(items) != 0 {
		t.Fatalf("queue of a deleted trigger: %d items", len(items))
	}
	if slot, _ := s.GetTriggerSlot(ctx, "p", "t1"); slot != nil {
		t.Fatalf("slot of a deleted trigger: %v", slot)
	}
	_, _, err = s.PutTrigger(ctx, v1.Trigger{Metadata: v1.ObjectMeta{Name: "x"}})
	wantCode(t, err, errs.Invalid, "no project")
}

func testTriggerQueue(t *testing.T, s store.Store) {
	_, _, err := s.PutTrigger(ctx, newTrigger("p", "t"))
	must(t, err)
	var items []store.TriggerItem
	for i := range 5 {
		items = append(items, store.TriggerItem{Project: "p", Trigger: "t", Key: fmt.Sprintf("event:%d", i),
			Params: map[string]any{"file": fmt.Sprintf("f%d", i), "n": float64(i)}, EventAt: at(i), EnqueuedAt: at(10 + i)})
	}
	items = append(items, store.TriggerItem{Project: "p", Trigger: "t", Key: "event:bad", State: store.ItemFailed, Message: "no", EventAt: at(9)})
	n, err := s.EnqueueTriggerItems(ctx, items)
	must(t, err)
	if n != 6 {
		t.Fatalf("inserted %d, want 6", n)
	}
	// A replay inserts nothing; new keys among replayed ones go in.
	n, err = s.EnqueueTriggerItems(ctx, append(items[:2:2], store.TriggerItem{Project: "p", Trigger: "t", Key: "event:9", EventAt: at(9)}))
	must(t, err)
	if n != 1 {
		t.Fatalf("replay inserted %d, want 1", n)
	}
	// The same key in another trigger is another item.
	n, err = s.EnqueueTriggerItems(ctx, []store.TriggerItem{{Project: "p", Trigger: "u", Key: "event:0", EventAt: at(0)}})
	must(t, err)
	if n != 1 {
		t.Fatalf("other trigger: inserted %d", n)
	}
	refs, err := s.QueuedTriggers(ctx)
	must(t, err)
	same(t, "queued triggers", refs, []store.TriggerBacklog{{TriggerRef: store.TriggerRef{Project: "p", Name: "t"}, Queued: 6},
		{TriggerRef: store.TriggerRef{Project: "p", Name: "u"}, Queued: 1}})

	next, err := s.NextTriggerItems(ctx, "p", "t", 2)
	must(t, err)
	if len(next) != 2 || next[0].Key != "event:0" || next[1].Key != "event:1" || next[0].State != store.ItemQueued {
		t.Fatalf("next: %+v", next)
	}
	if next[0].Params["file"] != "f0" || next[1].Params["n"] != float64(1) || !next[0].EventAt.Equal(stored(at(0))) || !next[0].EnqueuedAt.Equal(stored(at(10))) {
		t.Fatalf("item fields: %+v", next[0])
	}
	utc(t, "item", &next[0].EventAt, &next[0].EnqueuedAt)

	// Start two items with runs, fail one.
	r0 := createRun(t, s, "run-0", "p", "a")
	r1 := createRun(t, s, "run-1", "p", "a")
	must(t, s.StartTriggerItem(ctx, next[0].ID, r0.ID, at(20)))
	must(t, s.StartTriggerItem(ctx, next[1].ID, r1.ID, at(21)))
	wantCode(t, s.StartTriggerItem(ctx, next[0].ID, "run-x", at(22)), errs.Conflict, "start a started item")
	third, err := s.NextTriggerItems(ctx, "p", "t", 1)
	must(t, err)
	must(t, s.FailTriggerItem(ctx, third[0].ID, "bad param", at(22)))
	wantCode(t, s.FailTriggerItem(ctx, third[0].ID, "again", at(22)), errs.Conflict, "fail a failed item")

	it, err := s.GetTriggerItemByRun(ctx, "run-1")
	must(t, err)
	if it.ID != next[1].ID || it.State != store.ItemStarted || it.StartedAt == nil || !it.StartedAt.Equal(stored(at(21))) {
		t.Fatalf("item by run: %+v", it)
	}
	_, err = s.GetTriggerItemByRun(ctx, "run-none")
	wantCode(t, err, errs.NotFound, "item of an unknown run")

	st, err := s.TriggerQueueStats(ctx, "p", "t")
	must(t, err)
	if st.Queued != 3 || st.Started != 2 || st.InFlight != 2 || st.Failed != 2 || st.Done != 0 ||
		st.OldestQueued == nil || !st.OldestQueued.Equal(stored(at(13))) {
		t.Fatalf("stats: %+v", st)
	}

	// A run that ends frees its item.
	left, err := s.FinishTriggerItems(ctx, "p", "t", at(30))
	must(t, err)
	if left != 2 {
		t.Fatalf("left %d, want 2 (no run ended)", left)
	}
	r0.Phase = v1.Succeeded
	must(t, s.UpdateRun(ctx, r0))
	if st, _ = s.TriggerQueueStats(ctx, "p", "t"); st.InFlight != 1 || st.Started != 2 {
		t.Fatalf("stats after a run ended: %+v", st)
	}
	left, err = s.FinishTriggerItems(ctx, "p", "t", at(31))
	must(t, err)
	if left != 1 {
		t.Fatalf("left %d, want 1", left)
	}
	done, err := s.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "p", Trigger: "t", State: store.ItemDone})
	must(t, err)
	if len(done) != 1 || done[0].RunID != "run-0" || done[0].FinishedAt == nil || !done[0].FinishedAt.Equal(stored(at(31))) {
		t.Fatalf("done items: %+v", done)
	}
	page, err := s.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "p", Trigger: "t", AfterID: next[0].ID, Limit: 2})
	must(t, err)
	if len(page) != 2 || page[0].ID != next[1].ID {
		t.Fatalf("page: %+v", page)
	}

	// Slots.
	slot, err := s.GetTriggerSlot(ctx, "p", "t")
	must(t, err)
	if slot != nil {
		t.Fatalf("slot before any: %v", slot)
	}
	must(t, s.SetTriggerSlot(ctx, "p", "t", at(60)))
	must(t, s.SetTriggerSlot(ctx, "p", "t", at(120)))
	slot, err = s.GetTriggerSlot(ctx, "p", "t")
	must(t, err)
	if slot == nil || !slot.Equal(stored(at(120))) || slot.Location() != time.UTC {
		t.Fatalf("slot: %v", slot)
	}
}

// testTriggerQueueTx: items started in a transaction that rolls back stay
// queued, with no run: the starter's promise.
func testTriggerQueueTx(t *testing.T, s store.Store) {
	_, _, err := s.PutTrigger(ctx, newTrigger("p", "t"))
	must(t, err)
	_, err = s.EnqueueTriggerItems(ctx, []store.TriggerItem{{Project: "p", Trigger: "t", Key: "a", EventAt: at(0)}})
	must(t, err)
	boom := errs.E(errs.Internal, "crash")
	err = s.Tx(ctx, func(q store.Querier) error {
		tr, err := q.LockTrigger(ctx, "p", "t", true)
		if err != nil {
			return err
		}
		if tr.Spec.Concurrency != 3 {
			t.Errorf("locked trigger: %+v", tr.Spec)
		}
		items, err := q.NextTriggerItems(ctx, "p", "t", 10)
		if err != nil || len(items) != 1 {
			t.Fatalf("next in tx: %v %d", err, len(items))
		}
		r, ss := newRun("run-a", "p", "s")
		if err := q.CreateRun(ctx, r, ss); err != nil {
			return err
		}
		if err := q.StartTriggerItem(ctx, items[0].ID, "run-a", at(1)); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("tx: %v", err)
	}
	if _, err := s.GetRun(ctx, "run-a"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("run after rollback: %v", err)
	}
	st, err := s.TriggerQueueStats(ctx, "p", "t")
	must(t, err)
	if st.Queued != 1 || st.Started != 0 {
		t.Fatalf("stats after rollback: %+v", st)
	}
	_, err = s.LockTrigger(ctx, "p", "nope", false)
	wantCode(t, err, errs.NotFound, "lock unknown trigger")

	if s.Dialect() != "postgres" {
		return // SQLite's write transactions are exclusive: nothing to skip
	}
	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(ctx, func(q store.Querier) error {
			if _, err := q.LockTrigger(ctx, "p", "t", false); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	err = s.Tx(ctx, func(q store.Querier) error {
		_, err := q.LockTrigger(ctx, "p", "t", true)
		return err
	})
	close(release)
	must(t, <-done)
	wantCode(t, err, errs.Conflict, "lock a trigger another transaction holds, skipping")
}

// testPruneTriggerHistory: dispatched events and finished items older
// than the cutoff go, oldest first and at most limit at a time;
// undispatched events and queued or started items stay.
func testPruneTriggerHistory(t *testing.T, s store.Store) {
	drainDataEvents(t, s)
	putChannel(t, s, "p", "c")
	for i := range 3 {
		_, _, err := s.PutFile(ctx, store.File{Project: "p", Channel: "c", Path: fmt.Sprintf("f%d", i), Meta: json.RawMessage(`{}`)})
		must(t, err)
	}
	evs, err := s.ClaimDataEvents(ctx, 10)
	must(t, err)
	if len(evs) != 3 {
		t.Fatalf("claimed %d events, want 3", len(evs))
	}
	must(t, s.MarkDataEventsDispatched(ctx, []int64{evs[0].Seq, evs[1].Seq}))
	future := time.Now().Add(time.Hour)
	ev, it, err := s.PruneTriggerHistory(ctx, time.Now().Add(-time.Hour), 10)
	must(t, err)
	if ev != 0 {
		t.Fatalf("pruned %d events newer than the cutoff", ev)
	}
	if ev, _, err = s.PruneTriggerHistory(ctx, future, 1); err != nil || ev != 1 {
		t.Fatalf("prune with limit 1: %d events, %v", ev, err)
	}
	if ev, _, err = s.PruneTriggerHistory(ctx, future, 10); err != nil || ev != 1 {
		t.Fatalf("prune again: %d events, %v (the undispatched one must stay)", ev, err)
	}
	left, err := s.ClaimDataEvents(ctx, 10)
	must(t, err)
	if len(left) != 1 || left[0].Seq != evs[2].Seq {
		t.Fatalf("left after pruning: %+v", left)
	}
	page, err := s.ListDataEvents(ctx, "p", "c", 0, 10)
	must(t, err)
	if len(page) != 1 {
		t.Fatalf("listed %d events after pruning, want 1", len(page))
	}

	_, _, err = s.PutTrigger(ctx, newTrigger("p", "t"))
	must(t, err)
	var items []store.TriggerItem
	for i := range 3 {
		items = append(items, store.TriggerItem{Project: "p", Trigger: "t", Key: fmt.Sprintf("event:%d", i), EventAt: at(i), EnqueuedAt: at(10 + i)})
	}
	_, err = s.EnqueueTriggerItems(ctx, items)
	must(t, err)
	next, err := s.NextTriggerItems(ctx, "p", "t", 3)
	must(t, err)
	r := createRun(t, s, "run-0", "p", "a")
	must(t, s.StartTriggerItem(ctx, next[0].ID, r.ID, at(20)))
	must(t, s.FailTriggerItem(ctx, next[1].ID, "bad", at(22)))
	r.Phase = v1.Succeeded
	must(t, s.UpdateRun(ctx, r))
	_, err = s.FinishTriggerItems(ctx, "p", "t", at(31))
	must(t, err)
	if _, it, err = s.PruneTriggerHistory(ctx, at(25), 10); err != nil || it != 1 {
		t.Fatalf("prune before the run ended: %d items, %v (want the failed one)", it, err)
	}
	if _, it, err = s.PruneTriggerHistory(ctx, at(40), 10); err != nil || it != 1 {
		t.Fatalf("prune after: %d items, %v (want the done one)", it, err)
	}
	st, err := s.TriggerQueueStats(ctx, "p", "t")
	must(t, err)
	if st.Queued != 1 || st.Done != 0 || st.Failed != 0 {
		t.Fatalf("stats after pruning: %+v", st)
	}
	// A pruned item's key is forgotten: the same key enqueues again.
	n, err := s.EnqueueTriggerItems(ctx, items[:1])
	must(t, err)
	if n != 1 {
		t.Fatalf("re-enqueue of a pruned key inserted %d", n)
	}
}
