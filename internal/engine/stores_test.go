package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/sqlite"
)

func testStores(t testing.TB) map[string]func(t testing.TB) store.Store {
	return map[string]func(t testing.TB) store.Store{
		"sqlite": func(t testing.TB) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "koya.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t testing.TB) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.Fresh(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}
