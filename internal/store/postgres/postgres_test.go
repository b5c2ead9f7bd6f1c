package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/storetest"
)

// TestConformance runs the suite against KOYA_TEST_POSTGRES, each subtest
// in a database of its own (skipped without a server, failed in CI).
func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.Fresh(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConcurrentMigrations: replicas opening one empty database at once all
// succeed (the advisory lock makes them migrate one after the other).
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.Fresh(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
