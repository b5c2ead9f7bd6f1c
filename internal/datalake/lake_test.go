package datalake

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newLake is a Lake over SQLite and memory objects, with channel raw in p.
func newLake(t *testing.T) (*Lake, *objects.Store, *fakeClock) {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, filepath.Join(t.TempDir(), "koya.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := objects.Open(ctx, "mem://", keys.NewKeyring(kek, &keys.MemStore{}, keys.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	if err := st.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutChannel(ctx, store.Channel{Project: "p", Name: "raw"}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(st, objs, clock.Now), objs, clock
}

func keysOf(t *testing.T, objs *objects.Store) []string {
	t.Helper()
	ls, err := objs.ListData(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ls {
		out = append(out, strings.TrimPrefix(e.Key, objects.DataPrefix("p")))
	}
	return out
}

// TestDataSessionExpiry: an abandoned session expires, and the next
// session of the project sweeps it and its parts away.
func TestDataSessionExpiry(t *testing.T) {
	l, objs, clock := newLake(t)
	ctx := context.Background()
	s, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "a.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WriteChunk(ctx, "p", s.ID, 0, strings.NewReader("part one")); err != nil {
		t.Fatal(err)
	}
	if n := len(keysOf(t, objs)); n != 2 {
		t.Fatalf("objects: %v", keysOf(t, objs))
	}
	clock.add(SessionTTL + time.Minute)
	if _, err := l.WriteChunk(ctx, "p", s.ID, 8, strings.NewReader("late")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("chunk to an expired session: %v", err)
	}
	s2, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "b.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, objs); len(got) != 1 || got[0] != "uploads/"+s2.ID+".json" {
		t.Fatalf("after the sweep: %v", got)
	}
	// A completed session's parts survive any sweep.
	if _, err := l.WriteChunk(ctx, "p", s2.ID, 0, strings.NewReader("bee")); err != nil {
		t.Fatal(err)
	}
	f, _, err := l.CompleteUpload(ctx, "p", s2.ID)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(2 * SessionTTL)
	if err := l.Sweep(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	_, rd, err := l.Open(ctx, "p", "raw", "b.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	buf := make([]byte, 10)
	n, _ := rd.Read(buf)
	if string(buf[:n]) != "bee" || f.Size != 3 {
		t.Fatalf("read %q", buf[:n])
	}
}

// TestDataPatchRetries: concurrent merge patches of different keys all land.
func TestDataPatchRetries(t *testing.T) {
	l, _, _ := newLake(t)
	ctx := context.Background()
	if _, _, err := l.Put(ctx, Upload{Project: "p", Channel: "raw", Path: "f"}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			patch := json.RawMessage(`{"k` + string(rune('a'+i)) + `":` + string(rune('0'+i)) + `}`)
			if _, err := l.PatchMeta(ctx, "p", "raw", "f", patch, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := l.Get(ctx, "p", "raw", "f")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(f.Meta, &m)
	if len(m) != 8 || f.Version != 9 {
		t.Fatalf("meta %s at version %d: an update was lost", f.Meta, f.Version)
	}
}

func TestDataMergePatch(t *testing.T) {
	for _, tc := range []struct{ target, patch, want string }{ // RFC 7396 appendix A, in part
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		var target, patch any
		_ = json.Unmarshal([]byte(tc.target), &target)
		_ = json.Unmarshal([]byte(tc.patch), &patch)
		got, _ := json.Marshal(MergePatch(target, patch))
		if string(got) != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.target, tc.patch, got, tc.want)
		}
	}
}

// TestUploadMaxParts: a session refuses a chunk past its most parts, with
// what to do, and keeps what it had.
func TestUploadMaxParts(t *testing.T) {
	l, objs, _ := newLake(t)
	l.maxParts = 2
	ctx := context.Background()
	s, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "many.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, part := range []string{"one", "two"} {
		if _, err := l.WriteChunk(ctx, "p", s.ID, int64(3*i), strings.NewReader(part)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = l.WriteChunk(ctx, "p", s.ID, 6, strings.NewReader("three"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "larger chunks") {
		t.Fatalf("a third chunk: %v", err)
	}
	got, err := l.GetUpload(ctx, "p", s.ID)
	if err != nil || got.Offset != 6 || len(got.Parts) != 2 {
		t.Fatalf("after the refusal: %+v, %v", got, err)
	}
	if n := len(keysOf(t, objs)); n != 3 {
		t.Fatalf("objects %v, want the state and two parts", keysOf(t, objs))
	}
}
