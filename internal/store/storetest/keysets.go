package storetest

import (
	"bytes"
	"testing"
	"time"

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

// testRewraps: one record per project, replaced by a later move, removed
// only for the key it names; key ids keep their 32 bits.
func testRewraps(t *testing.T, s store.Store) {
	got, err := s.ListRewraps(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("rewraps before any: %+v", got)
	}
	wantCode(t, s.PutRewrap(ctx, store.Rewrap{Key: 1}), errs.Invalid, "PutRewrap without a project")
	since := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	must(t, s.PutRewrap(ctx, store.Rewrap{Project: "q", Key: 4294967295, Since: since}))
	must(t, s.PutRewrap(ctx, store.Rewrap{Project: "p", Key: 7, Since: since}))
	must(t, s.PutRewrap(ctx, store.Rewrap{Project: "p", Key: 8, Since: since.Add(time.Hour)})) // a later rotation
	got, err = s.ListRewraps(ctx)
	must(t, err)
	want := []store.Rewrap{{Project: "p", Key: 8, Since: since.Add(time.Hour)}, {Project: "q", Key: 4294967295, Since: since}}
	if len(got) != 2 || got[0].Project != want[0].Project || got[0].Key != want[0].Key || !got[0].Since.Equal(want[0].Since) ||
		got[1].Project != want[1].Project || got[1].Key != want[1].Key || !got[1].Since.Equal(want[1].Since) {
		t.Fatalf("ListRewraps = %+v, want %+v", got, want)
	}
	// The end of the move to key 7 must not forget the move to key 8.
	must(t, s.DeleteRewrap(ctx, "p", 7))
	must(t, s.DeleteRewrap(ctx, "r", 1)) // none: no error
	if got, err = s.ListRewraps(ctx); err != nil || len(got) != 2 {
		t.Fatalf("after deleting another key's move: %+v, %v", got, err)
	}
	must(t, s.DeleteRewrap(ctx, "p", 8))
	if got, err = s.ListRewraps(ctx); err != nil || len(got) != 1 || got[0].Project != "q" {
		t.Fatalf("after deleting p's move: %+v, %v", got, err)
	}
}
