package storetest

import (
	"sync"
	"testing"

	"github.com/koya-dev/koya/internal/store"
)

func testStorage(t *testing.T, s store.Store) {
	if n, err := s.StorageUsed(ctx, "p"); err != nil || n != 0 {
		t.Fatalf("StorageUsed before any = %d, %v", n, err)
	}
	if n, err := s.AddStorage(ctx, "p", 100); err != nil || n != 100 {
		t.Fatalf("AddStorage = %d, %v", n, err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AddStorage(ctx, "p", 5); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := s.StorageUsed(ctx, "p"); err != nil || n != 150 {
		t.Fatalf("StorageUsed after concurrent adds = %d, %v; want 150", n, err)
	}
	if n, _ := s.StorageUsed(ctx, "q"); n != 0 {
		t.Fatalf("another project's use = %d", n)
	}
}
