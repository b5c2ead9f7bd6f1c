package objects

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestWalkPages: a walk over more objects than a listing page visits
// every object of the project exactly once.
func TestWalkPages(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 2*listPage + 7
		want := map[string]bool{}
		for i := range n {
			out, err := s.Put(ctx, "p", strings.NewReader("artifact "+strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			want[out.Ref] = true
		}
		seen := map[string]int{}
		if err := s.Walk(ctx, "p", func(o Object) error { seen[o.Ref]++; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != n {
			t.Fatalf("walked %d objects, want %d", len(seen), n)
		}
		for ref, k := range seen {
			if k != 1 || !want[ref] {
				t.Fatalf("%s walked %d times (put: %v)", ref, k, want[ref])
			}
		}
	})
}
