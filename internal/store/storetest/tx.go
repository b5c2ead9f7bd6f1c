package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testTxCommit(t *testing.T, s store.Store) {
	err := s.Tx(ctx, func(q store.Querier) error {
		r, steps := newRun("r", "p", "a")
		if err := q.CreateRun(ctx, r, steps); err != nil {
			return err
		}
		// The transaction reads its own writes.
		if _, err := q.GetRun(ctx, "r"); err != nil {
			return fmt.Errorf("own write not visible: %w", err)
		}
		if err := q.InsertTasks(ctx, []store.Task{newTask("r", "a", 0)}); err != nil {
			return err
		}
		return q.Wake(ctx, "r", at(0))
	})
	must(t, err)
	if _, err := s.GetTask(ctx, "r", "a", 0); err != nil {
		t.Fatalf("committed task: %v", err)
	}
	if got := claim(t, s, at(0), 10); len(got) != 1 {
		t.Fatalf("committed wake-up: claimed %v", got)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	createRun(t, s, "kept", "p", "a")
	boom := errors.New("boom")
	err := s.Tx(ctx, func(q store.Querier) error {
		r, steps := newRun("r", "p", "a")
		if err := q.CreateRun(ctx, r, steps); err != nil {
			return err
		}
		if err := q.Wake(ctx, "kept", at(0)); err != nil {
			return err
		}
		kept, err := q.GetRun(ctx, "kept")
		if err != nil {
			return err
		}
		kept.Message = "changed"
		if err := q.UpdateRun(ctx, kept); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx returned %v, want fn's error", err)
	}
	_, err = s.GetRun(ctx, "r")
	wantCode(t, err, errs.NotFound, "a run created in a rolled-back Tx")
	if kept, _ := s.GetRun(ctx, "kept"); kept.Message != "" {
		t.Fatalf("an update in a rolled-back Tx stayed: %q", kept.Message)
	}
	if got := claim(t, s, at(100), 10); len(got) != 0 {
		t.Fatalf("a wake-up in a rolled-back Tx stayed: %v", got)
	}

	// A failed statement inside fn (here a conflict) rolls back too.
	err = s.Tx(ctx, func(q store.Querier) error {
		if err := q.Wake(ctx, "kept", at(0)); err != nil {
			return err
		}
		r, steps := newRun("kept", "p")
		return q.CreateRun(ctx, r, steps)
	})
	wantCode(t, err, errs.Conflict, "CreateRun of a duplicate inside Tx")
	if got := claim(t, s, at(100), 10); len(got) != 0 {
		t.Fatalf("a wake-up before a failed statement stayed: %v", got)
	}
}

func testTxPanic(t *testing.T, s store.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Tx swallowed a panic")
			}
		}()
		_ = s.Tx(ctx, func(q store.Querier) error {
			r, steps := newRun("r", "p")
			if err := q.CreateRun(ctx, r, steps); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err := s.GetRun(ctx, "r")
	wantCode(t, err, errs.NotFound, "a run created in a Tx that panicked")
	// The store still works (no write lock leaked).
	createRun(t, s, "after", "p")
}

// testConcurrentTx: read-modify-write transactions from several goroutines
// lose no update and never fail because the database is busy.
func testConcurrentTx(t *testing.T, s store.Store) {
	const workers, rounds = 8, 25
	createRun(t, s, "r", "p", "a")
	insertTasks(t, s, "r", "a", 1)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				err := s.Tx(ctx, func(q store.Querier) error {
					if err := q.LockRun(ctx, "r"); err != nil {
						return err
					}
					task, err := q.GetTask(ctx, "r", "a", 0)
					if err != nil {
						return err
					}
					task.Attempts++
					if err := q.UpdateTask(ctx, task); err != nil {
						return err
					}
					return q.Wake(ctx, "r", at(w*rounds+i))
				})
				if err != nil {
					errc <- fmt.Errorf("worker %d round %d: %w", w, i, err)
					return
				}
				// Writes outside a transaction interleave with them.
				if err := s.Wake(ctx, "r", at(1000)); err != nil {
					errc <- fmt.Errorf("worker %d: Wake: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	task, err := s.GetTask(ctx, "r", "a", 0)
	must(t, err)
	if task.Attempts != workers*rounds {
		t.Fatalf("Attempts = %d after %d increments: updates were lost", task.Attempts, workers*rounds)
	}
}
