package keys_test

import (
	"context"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

type ctxT = context.Context

func TestMemStore(t *testing.T) {
	s := &keys.MemStore{}
	_, err := s.GetKeyset(ctx, "p")
	wantCode(t, err, errs.NotFound, "get before put")
	wantCode(t, s.PutKeyset(ctx, "p", keys.Stored{Wrapped: []byte("v1")}, 1), errs.Conflict, "put expecting version 1 of nothing")

	w := []byte("v1")
	if err := s.PutKeyset(ctx, "p", keys.Stored{Version: 42, KEK: "k", Wrapped: w}, 0); err != nil {
		t.Fatal(err)
	}
	w[0] = 'X' // the store keeps its own copy
	got, err := s.GetKeyset(ctx, "p")
	if err != nil || got.Version != 1 || got.KEK != "k" || string(got.Wrapped) != "v1" {
		t.Fatalf("after first put: %+v, %v", got, err)
	}
	got.Wrapped[0] = 'Y' // and gives out copies
	wantCode(t, s.PutKeyset(ctx, "p", keys.Stored{Wrapped: []byte("v2")}, 0), errs.Conflict, "second create")
	if err := s.PutKeyset(ctx, "p", keys.Stored{Wrapped: []byte("v2")}, 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PutKeyset(ctx, "p", keys.Stored{Wrapped: []byte("v3")}, 1), errs.Conflict, "stale version")
	if got, _ := s.GetKeyset(ctx, "p"); got.Version != 2 || string(got.Wrapped) != "v2" {
		t.Fatalf("after second put: %+v", got)
	}
	if _, err := s.GetKeyset(ctx, "q"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("other project: %v", err)
	}
}
