package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// testDatalake runs the datalake's tests on one store (the suite's list
// takes one line per area), each in projects of its own; the outbox is
// global, so tests of claims drain it first.
func testDatalake(t *testing.T, s store.Store) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Channels", testDatalakeChannels},
		{"Files", testDatalakeFiles},
		{"Events", testDataEvents},
		{"ConcurrentClaims", testConcurrentDataEventClaims},
		{"Query", testDatalakeQuery},
		{"QueryPages", testDatalakePages},
		{"Count", testDatalakeCount},
		{"QueryAfterChanges", testDatalakeQueryAfterChanges},
		{"QueryRandom", testDatalakeRandom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			drainDataEvents(t, s)
			tt.fn(t, s)
		})
	}
}

// drainDataEvents marks every pending event dispatched.
func drainDataEvents(t *testing.T, s store.Store) {
	t.Helper()
	for {
		evs, err := s.ClaimDataEvents(ctx, 1000)
		must(t, err)
		if len(evs) == 0 {
			return
		}
		seqs := make([]int64, len(evs))
		for i, e := range evs {
			seqs[i] = e.Seq
		}
		must(t, s.MarkDataEventsDispatched(ctx, seqs))
	}
}

func putChannel(t testing.TB, q store.Querier, project, name string) store.Channel {
	t.Helper()
	c, err := q.PutChannel(ctx, store.Channel{Project: project, Name: name, Description: "d", CreatedAt: at(0)})
	must(t, err)
	return c
}

func putFile(t *testing.T, q store.Querier, project, channel, path string, size int64, meta string) store.File {
	t.Helper()
	f, _, err := q.PutFile(ctx, store.File{Project: project, Channel: channel, Path: path, ContentType: "image/png",
		Size: size, Digest: "sha256:" + path, Ref: "ref/" + path, Meta: json.RawMessage(meta)})
	must(t, err)
	return f
}

func testDatalakeChannels(t *testing.T, s store.Store) {
	c := putChannel(t, s, "p", "images")
	same(t, "PutChannel", c, store.Channel{Project: "p", Name: "images", Description: "d", CreatedAt: stored(at(0))})
	c, err := s.PutChannel(ctx, store.Channel{Project: "p", Name: "images", Description: "new", CreatedAt: at(5)})
	must(t, err)
	if c.Description != "new" || !c.CreatedAt.Equal(stored(at(0))) {
		t.Fatalf("PutChannel again = %+v: want the description changed and the creation time kept", c)
	}
	putChannel(t, s, "p", "audio")
	putChannel(t, s, "other", "images")
	list, err := s.ListChannels(ctx, "p")
	must(t, err)
	if len(list) != 2 || list[0].Name != "audio" || list[1].Name != "images" {
		t.Fatalf("ListChannels = %+v", list)
	}
	_, err = s.GetChannel(ctx, "p", "nope")
	wantCode(t, err, errs.NotFound, "GetChannel of a missing channel")
	_, err = s.PutChannel(ctx, store.Channel{Project: "p"})
	wantCode(t, err, errs.Invalid, "PutChannel without a name")

	putFile(t, s, "p", "images", "a.png", 10, `{}`)
	wantCode(t, s.DeleteChannel(ctx, "p", "images"), errs.Conflict, "DeleteChannel of a channel with files")
	must(t, s.DeleteChannel(ctx, "p", "audio"))
	wantCode(t, s.DeleteChannel(ctx, "p", "audio"), errs.NotFound, "DeleteChannel again")
	_, err = s.DeleteFile(ctx, "p", "images", "a.png")
	must(t, err)
	must(t, s.DeleteChannel(ctx, "p", "images"))
	if _, err := s.GetChannel(ctx, "other", "images"); err != nil {
		t.Fatalf("another project's channel of the same name: %v", err)
	}
}

func testDatalakeFiles(t *testing.T, s store.Store) {
	putChannel(t, s, "files", "c")
	_, _, err := s.PutFile(ctx, store.File{Project: "files", Channel: "nope", Path: "a", Meta: json.RawMessage(`{}`)})
	wantCode(t, err, errs.NotFound, "PutFile in a missing channel")
	_, _, err = s.PutFile(ctx, store.File{Project: "files", Channel: "c", Path: "a", Meta: json.RawMessage(`[1]`)})
	wantCode(t, err, errs.Invalid, "PutFile with metadata that is not an object")

	a, prev, err := s.PutFile(ctx, store.File{Project: "files", Channel: "c", Path: "dir/a.png", ContentType: "image/png",
		Size: 100, Digest: "sha256:aa", CRC32C: "0badf00d", Ref: "r1", Meta: json.RawMessage(`{"label":"cat"}`)})
	must(t, err)
	if prev != nil || a.ID == "" || a.Version != 1 || a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("PutFile of a new file = %+v, prev %v", a, prev)
	}
	utc(t, "PutFile", &a.CreatedAt, &a.UpdatedAt)
	got, err := s.GetFile(ctx, "files", "c", "dir/a.png")
	must(t, err)
	same(t, "GetFile", got, a)
	got, err = s.GetFileByID(ctx, "files", a.ID)
	must(t, err)
	same(t, "GetFileByID", got, a)
	_, err = s.GetFileByID(ctx, "other", a.ID)
	wantCode(t, err, errs.NotFound, "GetFileByID in another project")
	_, err = s.GetFile(ctx, "files", "c", "nope")
	wantCode(t, err, errs.NotFound, "GetFile of a missing file")

	// Given an id, a new file keeps it.
	b, _, err := s.PutFile(ctx, store.File{ID: "mine", Project: "files", Channel: "c", Path: "b", Size: 5, Meta: json.RawMessage(`{}`)})
	must(t, err)
	if b.ID != "mine" || string(b.Meta) != `{}` {
		t.Fatalf("PutFile with an id = %+v", b)
	}

	// Replacing keeps the id and creation time, bumps the version.
	a2, prev, err := s.PutFile(ctx, store.File{ID: "ignored", Project: "files", Channel: "c", Path: "dir/a.png", ContentType: "image/jpeg",
		Size: 300, Digest: "sha256:bb", CRC32C: "feedface", Ref: "r2", Meta: json.RawMessage(`{"label":"dog"}`)})
	must(t, err)
	if prev == nil || prev.Ref != "r1" || prev.CRC32C != "0badf00d" || a2.ID != a.ID || a2.Version != 2 || !a2.CreatedAt.Equal(a.CreatedAt) || a2.Ref != "r2" {
		t.Fatalf("PutFile replacing = %+v, prev %+v", a2, prev)
	}
	c, err := s.GetChannel(ctx, "files", "c")
	must(t, err)
	if c.Files != 2 || c.Bytes != 305 {
		t.Fatalf("channel counts = %d files, %d bytes; want 2, 305", c.Files, c.Bytes)
	}

	m, err := s.SetFileMeta(ctx, "files", "c", "dir/a.png", json.RawMessage(`{"label":"bird"}`), 2)
	must(t, err)
	if m.Version != 3 || string(m.Meta) != `{"label":"bird"}` || m.Ref != "r2" {
		t.Fatalf("SetFileMeta = %+v", m)
	}
	_, err = s.SetFileMeta(ctx, "files", "c", "dir/a.png", json.RawMessage(`{}`), 2)
	wantCode(t, err, errs.Conflict, "SetFileMeta at a stale version")
	_, err = s.SetFileMeta(ctx, "files", "c", "nope", json.RawMessage(`{}`), 0)
	wantCode(t, err, errs.NotFound, "SetFileMeta of a missing file")
	got, err = s.GetFile(ctx, "files", "c", "dir/a.png")
	must(t, err)
	same(t, "GetFile after SetFileMeta", got, m)
	if got.CRC32C != "feedface" {
		t.Fatalf("GetFile after replacing: CRC32C %q, want the new content's", got.CRC32C)
	}

	del, err := s.DeleteFile(ctx, "files", "c", "dir/a.png")
	must(t, err)
	if del.Ref != "r2" || del.ID != a.ID {
		t.Fatalf("DeleteFile = %+v", del)
	}
	_, err = s.DeleteFile(ctx, "files", "c", "dir/a.png")
	wantCode(t, err, errs.NotFound, "DeleteFile again")
	c, err = s.GetChannel(ctx, "files", "c")
	must(t, err)
	if c.Files != 1 || c.Bytes != 5 {
		t.Fatalf("channel counts after delete = %d files, %d bytes; want 1, 5", c.Files, c.Bytes)
	}
	page, err := s.FindFiles(ctx, store.FileQuery{Project: "files", Channel: "c"})
	must(t, err)
	if len(page.Files) != 1 || page.Files[0].Path != "b" {
		t.Fatalf("FindFiles after delete = %+v", page.Files)
	}
}

// eventsOf lists a project's events oldest first, as type:path:version.
func eventsOf(t *testing.T, q store.Querier, project string) []string {
	t.Helper()
	evs, err := q.ListDataEvents(ctx, project, "", 0, 100)
	must(t, err)
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		out = append(out, e.Type+":"+e.Path+":"+string(rune('0'+e.Version)))
	}
	return out
}

func testDataEvents(t *testing.T, s store.Store) {
	putChannel(t, s, "events", "c")
	putChannel(t, s, "events", "d")
	putFile(t, s, "events", "c", "a", 1, `{"x":1}`)
	putFile(t, s, "events", "c", "a", 2, `{"x":2}`)
	_, err := s.SetFileMeta(ctx, "events", "c", "a", json.RawMessage(`{"x":3}`), 0)
	must(t, err)
	putFile(t, s, "events", "d", "b", 1, `{}`)
	_, err = s.DeleteFile(ctx, "events", "c", "a")
	must(t, err)
	// Failed writes write nothing.
	_, err = s.SetFileMeta(ctx, "events", "c", "a", json.RawMessage(`{}`), 0)
	wantCode(t, err, errs.NotFound, "SetFileMeta of a deleted file")

	want := []string{"file.created:a:1", "file.updated:a:2", "file.meta:a:3", "file.created:b:1", "file.deleted:a:3"}
	if got := eventsOf(t, s, "events"); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	evs, err := s.ListDataEvents(ctx, "events", "c", 0, 100)
	must(t, err)
	if len(evs) != 4 || evs[0].Type != store.FileDeleted || string(evs[0].Meta) != `{"x":3}` || evs[0].Size != 2 {
		t.Fatalf("events of channel c = %+v", evs)
	}
	older, err := s.ListDataEvents(ctx, "events", "c", evs[1].Seq, 100)
	must(t, err)
	if len(older) != 2 || older[0].Seq != evs[2].Seq {
		t.Fatalf("events before %d = %+v", evs[1].Seq, older)
	}

	// A rolled-back transaction leaves neither the file nor its event.
	boom := errors.New("boom")
	err = s.Tx(ctx, func(q store.Querier) error {
		putFile(t, q, "events", "c", "ghost", 1, `{}`)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v", err)
	}
	if got := eventsOf(t, s, "events"); !slices.Equal(got, want) {
		t.Fatalf("events after a rollback = %v, want %v", got, want)
	}
	if c, _ := s.GetChannel(ctx, "events", "c"); c.Files != 0 {
		t.Fatalf("channel counts after a rollback = %+v", c)
	}

	// Claiming: oldest first, up to the limit, until marked dispatched.
	var claimed []store.DataEvent
	must(t, s.Tx(ctx, func(q store.Querier) error {
		var err error
		claimed, err = q.ClaimDataEvents(ctx, 3)
		if err != nil {
			return err
		}
		return q.MarkDataEventsDispatched(ctx, []int64{claimed[0].Seq, claimed[1].Seq, claimed[2].Seq})
	}))
	if len(claimed) != 3 || claimed[0].Type != store.FileCreated || claimed[0].Seq >= claimed[1].Seq || claimed[0].Dispatched {
		t.Fatalf("claimed %+v", claimed)
	}
	rest, err := s.ClaimDataEvents(ctx, 10)
	must(t, err)
	if len(rest) != 2 || rest[0].Path != "b" || rest[1].Type != store.FileDeleted {
		t.Fatalf("claimed after marking = %+v", rest)
	}
	evs, err = s.ListDataEvents(ctx, "events", "", 0, 100)
	must(t, err)
	if !evs[len(evs)-1].Dispatched || evs[0].Dispatched {
		t.Fatalf("Dispatched flags = %+v", evs)
	}
}

// testConcurrentDataEventClaims: dispatchers claiming at once, each in
// its transaction, never get the same event.
func testConcurrentDataEventClaims(t *testing.T, s store.Store) {
	putChannel(t, s, "claims", "c")
	const n = 40
	for i := range n {
		putFile(t, s, "claims", "c", string(rune('A'+i)), 1, `{}`)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				var got []store.DataEvent
				err := s.Tx(ctx, func(q store.Querier) error {
					var err error
					if got, err = q.ClaimDataEvents(ctx, 3); err != nil || len(got) == 0 {
						return err
					}
					seqs := make([]int64, len(got))
					for i, e := range got {
						seqs[i] = e.Seq
					}
					return q.MarkDataEventsDispatched(ctx, seqs)
				})
				if errs.Is(err, errs.Unavailable) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					seen[e.Seq]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct events, want %d", len(seen), n)
	}
	for seq, k := range seen {
		if k != 1 {
			t.Fatalf("event %d claimed %d times", seq, k)
		}
	}
}
