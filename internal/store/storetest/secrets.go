package storetest

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testResealSecret(t *testing.T, s store.Store) {
	v1s, err := s.PutSecret(ctx, store.Secret{Project: "p", Name: "R", Value: []byte("under-key-1"), CreatedAt: at(1), CreatedBy: "alice"})
	must(t, err)
	// The same version under another key: the value changes, the version
	// and its author do not.
	must(t, s.ResealSecret(ctx, store.Secret{Project: "p", Name: "R", Version: v1s.Version, Value: []byte("under-key-2")}))
	got, err := s.GetSecret(ctx, "p", "R")
	must(t, err)
	if string(got.Value) != "under-key-2" || got.Version != v1s.Version || got.CreatedBy != "alice" {
		t.Fatalf("after ResealSecret: %+v", got)
	}
	// A version that moved on is not overwritten.
	_, err = s.PutSecret(ctx, store.Secret{Project: "p", Name: "R", Value: []byte("new"), CreatedAt: at(2), CreatedBy: "bob"})
	must(t, err)
	wantCode(t, s.ResealSecret(ctx, store.Secret{Project: "p", Name: "R", Version: v1s.Version, Value: []byte("stale")}), errs.Conflict, "ResealSecret of an old version")
	if got, _ := s.GetSecret(ctx, "p", "R"); string(got.Value) != "new" {
		t.Fatalf("a stale reseal overwrote the new version: %q", got.Value)
	}
	must(t, s.DeleteSecret(ctx, "p", "R"))
	wantCode(t, s.ResealSecret(ctx, store.Secret{Project: "p", Name: "R", Version: got.Version, Value: []byte("x")}), errs.Conflict, "ResealSecret of a deleted secret")
}

func testSecrets(t *testing.T, s store.Store) {
	_, err := s.GetSecret(ctx, "p", "A")
	wantCode(t, err, errs.NotFound, "GetSecret before any")
	for _, bad := range []store.Secret{{Name: "A", Value: []byte{1}}, {Project: "p", Value: []byte{1}}, {Project: "p", Name: "A"}} {
		_, err := s.PutSecret(ctx, bad)
		wantCode(t, err, errs.Invalid, fmt.Sprintf("PutSecret(%+v)", bad))
	}
	if ls, err := s.ListSecrets(ctx, "p"); err != nil || len(ls) != 0 {
		t.Fatalf("ListSecrets of an empty project = %+v, %v", ls, err)
	}

	got, err := s.PutSecret(ctx, store.Secret{Project: "p", Name: "B", Value: []byte("sealed-b1"), CreatedAt: at(1), CreatedBy: "alice"})
	must(t, err)
	want := store.Secret{Project: "p", Name: "B", Version: 1, CreatedAt: stored(at(1)), CreatedBy: "alice"}
	same(t, "PutSecret answer", got, want)
	utc(t, "PutSecret answer", &got.CreatedAt)

	// A new version replaces the value; the creation is the new version's.
	got, err = s.PutSecret(ctx, store.Secret{Project: "p", Name: "B", Value: []byte("sealed-b2"), CreatedAt: at(2), CreatedBy: "bob"})
	must(t, err)
	if got.Version != 2 || got.Value != nil {
		t.Fatalf("second PutSecret = %+v", got)
	}
	b, err := s.GetSecret(ctx, "p", "B")
	must(t, err)
	if !bytes.Equal(b.Value, []byte("sealed-b2")) {
		t.Fatalf("GetSecret value %q, want the latest", b.Value)
	}
	b.Value = nil
	same(t, "GetSecret", b, store.Secret{Project: "p", Name: "B", Version: 2, CreatedAt: stored(at(2)), CreatedBy: "bob"})
	utc(t, "GetSecret", &b.CreatedAt)

	// Versions count per project and name; a zero time is the store's now.
	_, err = s.PutSecret(ctx, store.Secret{Project: "p", Name: "A", Value: []byte("sealed-a")})
	must(t, err)
	q, err := s.PutSecret(ctx, store.Secret{Project: "q", Name: "B", Value: []byte("sealed-qb")})
	must(t, err)
	if q.Version != 1 || q.CreatedAt.IsZero() {
		t.Fatalf("another project's B: %+v", q)
	}

	// Listings: names in order, versions, never values.
	ls, err := s.ListSecrets(ctx, "p")
	must(t, err)
	if len(ls) != 2 || ls[0].Name != "A" || ls[1].Name != "B" || ls[0].Version != 1 || ls[1].Version != 2 || ls[1].CreatedBy != "bob" {
		t.Fatalf("ListSecrets = %+v", ls)
	}
	for _, l := range ls {
		if l.Value != nil || l.Project != "p" {
			t.Fatalf("listing carries a value or the wrong project: %+v", l)
		}
	}

	// Delete erases; the next write goes on counting.
	must(t, s.DeleteSecret(ctx, "p", "B"))
	_, err = s.GetSecret(ctx, "p", "B")
	wantCode(t, err, errs.NotFound, "GetSecret after delete")
	wantCode(t, s.DeleteSecret(ctx, "p", "B"), errs.NotFound, "deleting twice")
	wantCode(t, s.DeleteSecret(ctx, "p", "nope"), errs.NotFound, "deleting a missing secret")
	if ls, _ := s.ListSecrets(ctx, "p"); len(ls) != 1 || ls[0].Name != "A" {
		t.Fatalf("ListSecrets after delete = %+v", ls)
	}
	if _, err := s.GetSecret(ctx, "q", "B"); err != nil {
		t.Fatalf("deleting p's B touched q's: %v", err)
	}
	got, err = s.PutSecret(ctx, store.Secret{Project: "p", Name: "B", Value: []byte("sealed-b3")})
	must(t, err)
	if got.Version != 3 {
		t.Fatalf("a write after delete: version %d, want 3", got.Version)
	}

	// Concurrent writers of one name each get their own version.
	var wg sync.WaitGroup
	versions := make([]int64, 8)
	failed := make([]error, 8)
	for i := range versions {
		wg.Go(func() {
			v, err := s.PutSecret(ctx, store.Secret{Project: "p", Name: "C", Value: []byte{byte(i + 1)}})
			versions[i], failed[i] = v.Version, err
		})
	}
	wg.Wait()
	for _, err := range failed {
		must(t, err)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("concurrent versions %v, want 1..8", versions)
		}
	}
}
