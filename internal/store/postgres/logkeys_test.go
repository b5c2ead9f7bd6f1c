package postgres_test

import (
	"context"
	"testing"

	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/storetest"
)

func TestLogKeys(t *testing.T) {
	s, err := postgres.Open(context.Background(), pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.LogKeys(t, s)
}
