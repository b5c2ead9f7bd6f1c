package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/sqlite"
	"github.com/koya-dev/koya/internal/store/storetest"
)

func open(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestReopen: migrations are recorded, so opening an existing file again
// applies nothing and keeps the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "koya.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Wake(ctx, "nope", time.Now()); err == nil {
		t.Fatal("Wake of a missing run: foreign keys are not enforced")
	}
	if err := s.CreateToken(ctx, store.Token{ID: "t", Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s, err = sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTokenByHash(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
