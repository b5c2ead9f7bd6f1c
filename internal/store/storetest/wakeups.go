package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/store"
)

func claim(t *testing.T, q store.Querier, now time.Time, limit int) []string {
	t.Helper()
	ids, err := q.ClaimWakeups(ctx, now, limit)
	must(t, err)
	slices.Sort(ids)
	return ids
}

func testWakeups(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p")
	createRun(t, s, "later", "p")
	if got := claim(t, s, at(1000), 10); len(got) != 0 {
		t.Fatalf("ClaimWakeups with nothing queued = %v", got)
	}

	must(t, s.Wake(ctx, "r", at(20)))
	must(t, s.Wake(ctx, "r", at(10))) // earlier: kept
	must(t, s.Wake(ctx, "r", at(30))) // later: ignored
	must(t, s.Wake(ctx, "later", at(100)))

	if got := claim(t, s, at(9), 10); len(got) != 0 {
		t.Fatalf("ClaimWakeups before the earliest due time = %v", got)
	}
	if got := claim(t, s, at(10), 10); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("ClaimWakeups at the due time = %v, want [r]", got)
	}
	if got := claim(t, s, at(50), 10); len(got) != 0 {
		t.Fatalf("ClaimWakeups again = %v: a claimed run must be removed", got)
	}
	if got := claim(t, s, at(100), 10); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("ClaimWakeups(100) = %v, want [later]", got)
	}

	// Queued again after a claim, a run is claimable again.
	must(t, s.Wake(ctx, "r", at(60)))
	if got := claim(t, s, at(60), 10); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("re-queued run: ClaimWakeups = %v", got)
	}
}

func testClaimWakeupsLimit(t *testing.T, s store.Store) {
	for i := range 5 {
		id := fmt.Sprintf("r%d", i)
		createRun(t, s, id, "p")
		must(t, s.Wake(ctx, id, at(i)))
	}
	createRun(t, s, "future", "p")
	must(t, s.Wake(ctx, "future", at(1000)))

	first := claim(t, s, at(10), 2)
	if len(first) != 2 {
		t.Fatalf("ClaimWakeups(limit 2) = %v", first)
	}
	rest := claim(t, s, at(10), 10)
	if len(rest) != 3 {
		t.Fatalf("ClaimWakeups after a limited claim = %v, want the 3 others", rest)
	}
	got := append(first, rest...)
	slices.Sort(got)
	if !slices.Equal(got, []string{"r0", "r1", "r2", "r3", "r4"}) {
		t.Fatalf("claimed %v, want r0..r4 once each", got)
	}
	if got := claim(t, s, at(10), 0); len(got) != 0 {
		t.Fatalf("ClaimWakeups(limit 0) = %v", got)
	}
	if got := claim(t, s, at(1000), 10); !slices.Equal(got, []string{"future"}) {
		t.Fatalf("the future wake-up = %v", got)
	}
}

// testConcurrentClaims: claimers in concurrent transactions take every due
// run exactly once.
func testConcurrentClaims(t *testing.T, s store.Store) {
	const runs, claimers = 60, 4
	must(t, s.Tx(ctx, func(q store.Querier) error {
		for i := range runs {
			id := fmt.Sprintf("r%02d", i)
			r, steps := newRun(id, "p")
			if err := q.CreateRun(ctx, r, steps); err != nil {
				return err
			}
			if err := q.Wake(ctx, id, at(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errc := make(chan error, claimers)
	for range claimers {
		wg.Go(func() {
			for {
				var ids []string
				err := s.Tx(ctx, func(q store.Querier) error {
					var err error
					ids, err = q.ClaimWakeups(ctx, at(runs), 3)
					return err
				})
				if err != nil {
					errc <- err
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					seen[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != runs {
		t.Fatalf("claimed %d runs, want %d", len(seen), runs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("run %s claimed %d times", id, n)
		}
	}
}

// testClaimSkipsLocked: where replicas claim concurrently (PostgreSQL), a
// transaction's claim neither waits for nor takes the rows another open
// transaction claimed.
func testClaimSkipsLocked(t *testing.T, s store.Store) {
	if s.Dialect() != "postgres" {
		t.Skipf("%s serialises write transactions: claims cannot overlap", s.Dialect())
	}
	for i := range 10 {
		id := fmt.Sprintf("r%d", i)
		createRun(t, s, id, "p")
		must(t, s.Wake(ctx, id, at(i)))
	}
	firstIDs := make(chan []string, 1)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(ctx, func(q store.Querier) error {
			ids, err := q.ClaimWakeups(ctx, at(100), 5)
			firstIDs <- ids
			if err != nil {
				return err
			}
			<-release // hold the rows until the other transaction is done
			return nil
		})
	}()
	first := <-firstIDs
	if len(first) != 5 {
		close(release)
		t.Fatalf("first claim = %v, want 5 runs", first)
	}
	// Waiting for the first transaction's rows would block until timeout.
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var second []string
	err := s.Tx(tctx, func(q store.Querier) error {
		var err error
		second, err = q.ClaimWakeups(tctx, at(100), 10)
		return err
	})
	close(release)
	must(t, err)
	must(t, <-done)
	for _, id := range second {
		if slices.Contains(first, id) {
			t.Fatalf("run %s claimed by both transactions (%v, %v)", id, first, second)
		}
	}
	if len(second) != 5 {
		t.Fatalf("second claim = %v, want the 5 unlocked runs", second)
	}
}

// testClaimSkipsLockedRuns: where transactions run concurrently, a claim
// neither takes nor waits for a run another transaction holds (LockRun),
// and that transaction can still wake the run while the claim is open (no
// lock-order deadlock between wake-ups and runs).
func testClaimSkipsLockedRuns(t *testing.T, s store.Store) {
	if s.Dialect() != "postgres" {
		t.Skipf("%s serialises write transactions: claims cannot overlap", s.Dialect())
	}
	createRun(t, s, "held", "p")
	createRun(t, s, "free", "p")
	must(t, s.Wake(ctx, "held", at(0)))
	must(t, s.Wake(ctx, "free", at(1)))

	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	locked, woken := make(chan struct{}), make(chan error, 1)
	claimed := make(chan struct{})
	go func() {
		woken <- s.Tx(tctx, func(q store.Querier) error {
			if err := q.LockRun(tctx, "held"); err != nil {
				close(locked)
				return err
			}
			close(locked)
			<-claimed // the claim below is made, its transaction still open
			return q.Wake(tctx, "held", at(0))
		})
	}()
	<-locked
	var first []string
	err := s.Tx(tctx, func(q store.Querier) error {
		var err error
		first, err = q.ClaimWakeups(tctx, at(100), 10)
		close(claimed)
		if err != nil {
			return err
		}
		return <-woken // the holder commits while this claim is open
	})
	must(t, err)
	if !slices.Equal(first, []string{"free"}) {
		t.Fatalf("claim while \"held\" is locked = %v, want [free]", first)
	}
	if got := claim(t, s, at(100), 10); !slices.Equal(got, []string{"held"}) {
		t.Fatalf("claim after the holder committed = %v, want [held]", got)
	}
}

// testWakeLockedRun: where transactions run concurrently, waking a run
// another transaction holds (LockRun) does not wait for that transaction.
func testWakeLockedRun(t *testing.T, s store.Store) {
	if s.Dialect() != "postgres" {
		t.Skipf("%s serialises write transactions", s.Dialect())
	}
	createRun(t, s, "r", "p")
	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(ctx, func(q store.Querier) error {
			err := q.LockRun(ctx, "r")
			close(locked)
			<-release
			return err
		})
	}()
	<-locked
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.Wake(tctx, "r", at(0))
	close(release)
	must(t, <-done)
	must(t, err)
}
