package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testPrincipals(t *testing.T, s store.Store) {
	_, err := s.GetPrincipal(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetPrincipal of a missing principal")
	wantCode(t, s.PutPrincipal(ctx, store.Principal{Kind: store.KindUser}), errs.Invalid, "PutPrincipal without a name")
	wantCode(t, s.PutPrincipal(ctx, store.Principal{Name: "x"}), errs.Invalid, "PutPrincipal without a kind")
	wantCode(t, s.PutPrincipal(ctx, store.Principal{Name: "x", Kind: "robot"}), errs.Invalid, "PutPrincipal of an unknown kind")
	wantCode(t, s.PutPrincipal(ctx, store.Principal{Name: "p/ci", Kind: store.KindService}), errs.Invalid,
		"PutPrincipal of a service account without a project")
	if list, err := s.ListPrincipals(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListPrincipals after invalid puts = %+v, %v; want none", list, err)
	}

	alice := store.Principal{Name: "alice", Kind: store.KindUser, Admin: true, CreatedAt: at(0)}
	must(t, s.PutPrincipal(ctx, alice))
	must(t, s.PutPrincipal(ctx, store.Principal{Name: "p/ci", Kind: store.KindService, Project: "p", CreatedAt: at(1)}))
	must(t, s.PutPrincipal(ctx, store.Principal{Name: "bob", Kind: store.KindUser})) // created now

	got, err := s.GetPrincipal(ctx, "alice")
	must(t, err)
	want := alice
	want.CreatedAt = stored(alice.CreatedAt)
	same(t, "GetPrincipal", got, want)
	utc(t, "principal times", &got.CreatedAt)
	bob, err := s.GetPrincipal(ctx, "bob")
	must(t, err)
	if bob.CreatedAt.IsZero() || bob.Admin || bob.Disabled || bob.Kind != store.KindUser {
		t.Fatalf("GetPrincipal(bob) = %+v, want a user with a creation time", bob)
	}

	// Upsert: everything but the creation time changes.
	must(t, s.PutPrincipal(ctx, store.Principal{Name: "alice", Kind: store.KindService, Project: "q", Disabled: true,
		CreatedAt: at(100)}))
	got, err = s.GetPrincipal(ctx, "alice")
	must(t, err)
	same(t, "GetPrincipal after update", got, store.Principal{Name: "alice", Kind: store.KindService, Project: "q",
		Disabled: true, CreatedAt: stored(at(0))})

	list, err := s.ListPrincipals(ctx)
	must(t, err)
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "alice bob p/ci" {
		t.Fatalf("ListPrincipals = %v, want alice bob p/ci", names)
	}
	same(t, "listed service account", list[2], store.Principal{Name: "p/ci", Kind: store.KindService, Project: "p",
		CreatedAt: stored(at(1))})
}

// memberships formats ms as "project/principal=role ...".
func memberships(ms []store.Membership) string {
	var b []string
	for _, m := range ms {
		b = append(b, fmt.Sprintf("%s/%s=%s", m.Project, m.Principal, m.Role))
	}
	return strings.Join(b, " ")
}

func testMemberships(t *testing.T, s store.Store) {
	for _, name := range []string{"alice", "bob"} {
		must(t, s.PutPrincipal(ctx, store.Principal{Name: name, Kind: store.KindUser}))
	}
	_, err := s.GetMembership(ctx, "p", "bob")
	wantCode(t, err, errs.NotFound, "GetMembership of a missing membership")
	wantCode(t, s.DeleteMembership(ctx, "p", "bob"), errs.NotFound, "DeleteMembership of a missing membership")
	wantCode(t, s.PutMembership(ctx, store.Membership{Principal: "bob", Role: v1.RoleViewer}), errs.Invalid,
		"PutMembership without a project")
	wantCode(t, s.PutMembership(ctx, store.Membership{Project: "p", Role: v1.RoleViewer}), errs.Invalid,
		"PutMembership without a principal")
	err = s.PutMembership(ctx, store.Membership{Project: "p", Principal: "bob", Role: "admin"})
	wantCode(t, err, errs.Invalid, "PutMembership with an unknown role")
	if msg := err.Error(); !strings.Contains(msg, `"admin"`) || !strings.Contains(msg, "viewer, editor, owner") {
		t.Fatalf("unknown role error %q: want the role and the valid ones named", msg)
	}
	wantCode(t, s.PutMembership(ctx, store.Membership{Project: "p", Principal: "bob"}), errs.Invalid,
		"PutMembership without a role")
	wantCode(t, s.PutMembership(ctx, store.Membership{Project: "p", Principal: "nobody", Role: v1.RoleViewer}),
		errs.NotFound, "PutMembership of an unknown principal")

	// Memberships may name projects that do not exist (yet).
	must(t, s.PutMembership(ctx, store.Membership{Project: "q", Principal: "bob", Role: v1.RoleViewer, CreatedAt: at(0)}))
	must(t, s.PutMembership(ctx, store.Membership{Project: "p", Principal: "bob", Role: v1.RoleEditor, CreatedAt: at(1)}))
	must(t, s.PutMembership(ctx, store.Membership{Project: "p", Principal: "alice", Role: v1.RoleOwner}))

	got, err := s.GetMembership(ctx, "p", "bob")
	must(t, err)
	same(t, "GetMembership", got, store.Membership{Project: "p", Principal: "bob", Role: v1.RoleEditor, CreatedAt: stored(at(1))})
	utc(t, "membership times", &got.CreatedAt)
	alice, err := s.GetMembership(ctx, "p", "alice")
	must(t, err)
	if alice.CreatedAt.IsZero() {
		t.Fatalf("GetMembership(p, alice) = %+v, want a creation time", alice)
	}

	// Upsert: the role changes, the creation time stays.
	must(t, s.PutMembership(ctx, store.Membership{Project: "p", Principal: "bob", Role: v1.RoleOwner, CreatedAt: at(50)}))
	got, err = s.GetMembership(ctx, "p", "bob")
	must(t, err)
	same(t, "GetMembership after update", got, store.Membership{Project: "p", Principal: "bob", Role: v1.RoleOwner,
		CreatedAt: stored(at(1))})

	for _, c := range []struct {
		f    store.MembershipFilter
		want string
	}{
		{store.MembershipFilter{}, "p/alice=owner p/bob=owner q/bob=viewer"},
		{store.MembershipFilter{Project: "p"}, "p/alice=owner p/bob=owner"},
		{store.MembershipFilter{Principal: "bob"}, "p/bob=owner q/bob=viewer"},
		{store.MembershipFilter{Project: "q", Principal: "bob"}, "q/bob=viewer"},
		{store.MembershipFilter{Project: "q", Principal: "alice"}, ""},
		{store.MembershipFilter{Project: "none"}, ""},
	} {
		list, err := s.ListMemberships(ctx, c.f)
		must(t, err)
		if got := memberships(list); got != c.want {
			t.Fatalf("ListMemberships(%+v) = %q, want %q", c.f, got, c.want)
		}
	}

	must(t, s.DeleteMembership(ctx, "p", "bob"))
	_, err = s.GetMembership(ctx, "p", "bob")
	wantCode(t, err, errs.NotFound, "GetMembership after delete")
	wantCode(t, s.DeleteMembership(ctx, "p", "bob"), errs.NotFound, "DeleteMembership twice")
	if _, err := s.GetMembership(ctx, "q", "bob"); err != nil {
		t.Fatalf("deleting p/bob removed q/bob: %v", err)
	}
}

// tokenIDs lists the ids of ts in order.
func tokenIDs(ts []store.Token) string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, " ")
}

func testTokenListing(t *testing.T, s store.Store) {
	laptop := store.Token{ID: "u1", Hash: "h1", Subject: "alice", Description: "laptop", Project: "p",
		ExpiresAt: ptr(at(3600)), CreatedAt: at(0)}
	for _, tok := range []store.Token{
		laptop,
		{ID: "u2", Hash: "h2", Subject: "alice", Description: "ci", CreatedAt: at(10)},
		{ID: "u3", Hash: "h3", Subject: "bob", CreatedAt: at(5)},
		{ID: "u4", Hash: "h4", Subject: "bob", Admin: true, CreatedAt: at(5)},
		{ID: "a1", Hash: "h5", Subject: "attempt:a1", AttemptID: "a1", Project: "p", CreatedAt: at(20)},
	} {
		must(t, s.CreateToken(ctx, tok))
	}

	want := laptop
	want.ExpiresAt, want.CreatedAt = ptr(stored(*laptop.ExpiresAt)), stored(laptop.CreatedAt)
	got, err := s.GetToken(ctx, "u1")
	must(t, err)
	same(t, "GetToken", got, want)
	utc(t, "token times", got.ExpiresAt, &got.CreatedAt)
	got, err = s.GetTokenByHash(ctx, "h1")
	must(t, err)
	same(t, "GetTokenByHash", got, want)
	agent, err := s.GetToken(ctx, "a1")
	must(t, err)
	if agent.AttemptID != "a1" {
		t.Fatalf("GetToken(a1) = %+v, want the agent token", agent)
	}
	_, err = s.GetToken(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetToken of an unknown id")

	for _, c := range []struct {
		f    store.TokenFilter
		want string
	}{
		{store.TokenFilter{}, "u2 u4 u3 u1"}, // newest first, then by id descending
		{store.TokenFilter{Subject: "alice"}, "u2 u1"},
		{store.TokenFilter{Subject: "attempt:a1"}, ""},
		{store.TokenFilter{Subject: "nobody"}, ""},
	} {
		list, err := s.ListTokens(ctx, c.f)
		must(t, err)
		if got := tokenIDs(list); got != c.want {
			t.Fatalf("ListTokens(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	list, err := s.ListTokens(ctx, store.TokenFilter{Subject: "alice"})
	must(t, err)
	same(t, "listed token", list[1], want)

	must(t, s.RevokeToken(ctx, "u1"))
	n, err := s.RevokeTokensOf(ctx, "alice")
	must(t, err)
	if n != 1 {
		t.Fatalf("RevokeTokensOf(alice) = %d, want 1 (u1 was already revoked)", n)
	}
	for _, h := range []string{"h1", "h2"} {
		tok, err := s.GetTokenByHash(ctx, h)
		must(t, err)
		if !tok.Revoked {
			t.Fatalf("token %s of alice is not revoked", tok.ID)
		}
	}
	n, err = s.RevokeTokensOf(ctx, "alice")
	must(t, err)
	if n != 0 {
		t.Fatalf("RevokeTokensOf(alice) again = %d, want 0", n)
	}
	n, err = s.RevokeTokensOf(ctx, "nobody")
	must(t, err)
	if n != 0 {
		t.Fatalf("RevokeTokensOf(nobody) = %d, want 0", n)
	}
	for _, h := range []string{"h3", "h4", "h5"} {
		tok, err := s.GetTokenByHash(ctx, h)
		must(t, err)
		if tok.Revoked {
			t.Fatalf("token %s was revoked with alice's", tok.ID)
		}
	}
	n, err = s.RevokeTokensOf(ctx, "bob")
	must(t, err)
	if n != 2 {
		t.Fatalf("RevokeTokensOf(bob) = %d, want 2", n)
	}
}

// seqs lists the Seq of es in order.
func seqs(es []store.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func testAudit(t *testing.T, s store.Store) {
	_, err := s.AppendAudit(ctx, store.AuditEntry{Outcome: store.AuditOK})
	wantCode(t, err, errs.Invalid, "AppendAudit without an action")
	_, err = s.AppendAudit(ctx, store.AuditEntry{Action: "member.add", Outcome: "maybe"})
	wantCode(t, err, errs.Invalid, "AppendAudit with an unknown outcome")

	entries := []store.AuditEntry{
		{Time: at(0), Actor: "alice", Project: "p", Action: "member.add", Object: "member/bob", Outcome: store.AuditOK, Detail: "role editor"},
		{Time: at(10), Actor: "bob", Project: "p", Action: "token.create", Object: "token/tok_1", Outcome: store.AuditOK},
		{Time: at(20), Actor: "alice", Project: "q", Action: "member.remove", Object: "member/bob", Outcome: store.AuditOK},
		{Time: at(30), Actor: "alice", Action: "access.denied", Object: "GET /api/v1/projects/r/runs", Outcome: store.AuditDenied},
		{Time: at(40), Actor: "alice", Project: "p", Action: "membership.add", Object: "x", Outcome: store.AuditOK},
		{Actor: "carol", Project: "r", Action: "secret.set", Object: "secret/k", Outcome: store.AuditOK}, // time: now
	}
	start := time.Now()
	for i := range entries {
		seq, err := s.AppendAudit(ctx, entries[i])
		must(t, err)
		if i > 0 && seq <= entries[i-1].Seq {
			t.Fatalf("AppendAudit %d: seq %d, not after %d", i, seq, entries[i-1].Seq)
		}
		entries[i].Seq = seq
	}
	end := time.Now()

	all, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(all) != len(entries) {
		t.Fatalf("ListAudit = %d entries, want %d", len(all), len(entries))
	}
	for i, got := range all {
		utc(t, "audit times", &got.Time)
		want := entries[len(entries)-1-i]
		if want.Time.IsZero() {
			if got.Time.Before(start.Truncate(time.Microsecond)) || got.Time.After(end) {
				t.Fatalf("audit entry %d: time %v, want the store's clock (between %v and %v)", got.Seq, got.Time, start, end)
			}
			want.Time = got.Time
		}
		want.Time = stored(want.Time)
		same(t, fmt.Sprintf("ListAudit entry %d", i), got, want)
	}

	seq := func(i ...int) []int64 {
		out := []int64{}
		for _, i := range i {
			out = append(out, entries[i].Seq)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"project", store.AuditFilter{Project: "p"}, seq(4, 1, 0)},
		{"actor", store.AuditFilter{Actor: "alice"}, seq(4, 3, 2, 0)},
		{"project and actor", store.AuditFilter{Project: "p", Actor: "alice"}, seq(4, 0)},
		{"exact action", store.AuditFilter{Action: "member.add"}, seq(0)},
		{"action prefix", store.AuditFilter{Action: "member."}, seq(2, 0)},
		{"action without its dot", store.AuditFilter{Action: "member"}, seq()},
		{"action wildcard", store.AuditFilter{Action: "%."}, seq()},
		{"action case", store.AuditFilter{Action: "MEMBER."}, seq()},
		{"since", store.AuditFilter{Actor: "alice", Since: ptr(at(20))}, seq(4, 3, 2)},
		{"since an entry's own time", store.AuditFilter{Project: "p", Since: ptr(at(10))}, seq(4, 1)},
		{"before", store.AuditFilter{Before: entries[2].Seq}, seq(1, 0)},
		{"limit", store.AuditFilter{Limit: 2}, seq(5, 4)},
		{"limit and before", store.AuditFilter{Limit: 2, Before: entries[4].Seq}, seq(3, 2)},
		{"no match", store.AuditFilter{Project: "none"}, seq()},
	} {
		list, err := s.ListAudit(ctx, c.f)
		must(t, err)
		same(t, "ListAudit "+c.name, seqs(list), c.want)
	}

	// Limit: 100 by default, at most 1000.
	must(t, s.Tx(ctx, func(q store.Querier) error {
		for i := range 1001 {
			if _, err := q.AppendAudit(ctx, store.AuditEntry{Time: at(i), Project: "bulk", Action: "run.create",
				Outcome: store.AuditOK}); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, c := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {5000, 1000}, {1000, 1000}, {7, 7}} {
		list, err := s.ListAudit(ctx, store.AuditFilter{Project: "bulk", Limit: c.limit})
		must(t, err)
		if len(list) != c.want {
			t.Fatalf("ListAudit with limit %d = %d entries, want %d", c.limit, len(list), c.want)
		}
		if !list[0].Time.Equal(stored(at(1000))) {
			t.Fatalf("ListAudit with limit %d starts at %v, want the newest", c.limit, list[0].Time)
		}
	}
}
