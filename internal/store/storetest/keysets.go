package storetest

import (
	"bytes"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testKeysets(t *testing.T, s store.Store) {
	_, err := s.GetKeyset(ctx, "p")
	wantCode(t, err, errs.NotFound, "GetKeyset before any")
	wantCode(t, s.PutKeyset(ctx, store.Keyset{Project: "p"}, 0), errs.Invalid, "PutKeyset without keys")

	must(t, s.PutKeyset(ctx, store.Keyset{Project: "p", KEK: "local", Wrapped: []byte{0, 1, 2}}, 0))
	wantCode(t, s.PutKeyset(ctx, store.Keyset{Project: "p", KEK: "local", Wrapped: []byte{9}}, 0), errs.Conflict, "a second first PutKeyset")
	k, err := s.GetKeyset(ctx, "p")
	must(t, err)
	if k.Version != 1 || k.KEK != "local" || !bytes.Equal(k.Wrapped, []byte{0, 1, 2}) || k.UpdatedAt.IsZero() {
		t.Fatalf("GetKeyset = %+v", k)
	}
	// Compare-and-swap: only from the version read.
	must(t, s.PutKeyset(ctx, store.Keyset{Project: "p", KEK: "transit", Wrapped: []byte{3, 4}}, 1))
	wantCode(t, s.PutKeyset(ctx, store.Keyset{Project: "p", KEK: "x", Wrapped: []byte{5}}, 1), errs.Conflict, "PutKeyset from a stale version")
	k, err = s.GetKeyset(ctx, "p")
	must(t, err)
	if k.Version != 2 || k.KEK != "transit" || !bytes.Equal(k.Wrapped, []byte{3, 4}) {
		t.Fatalf("after the update: %+v", k)
	}
	wantCode(t, s.PutKeyset(ctx, store.Keyset{Project: "q", Wrapped: []byte{1}}, 3), errs.Conflict, "updating keys that do not exist")
}
