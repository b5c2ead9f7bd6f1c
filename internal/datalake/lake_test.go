package datalake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
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
	f, _, err := l.CompleteUpload(ctx, "p", s2.ID, "")
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
// what to do, and keeps what it had; a chunk that ends exactly at the
// last part is taken.
func TestUploadMaxParts(t *testing.T) {
	l, objs, _ := newLake(t)
	l.maxParts, l.partBytes = 2, 3
	ctx := context.Background()
	s, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "many.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WriteChunk(ctx, "p", s.ID, 0, strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	// Ends at the boundary of the last part: no error.
	if _, err := l.WriteChunk(ctx, "p", s.ID, 3, strings.NewReader("two")); err != nil {
		t.Fatal(err)
	}
	_, err = l.WriteChunk(ctx, "p", s.ID, 6, strings.NewReader("three"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "announcing its size") {
		t.Fatalf("a third part: %v", err)
	}
	got, err := l.GetUpload(ctx, "p", s.ID)
	if err != nil || got.Offset != 6 || len(got.Parts) != 2 {
		t.Fatalf("after the refusal: %+v, %v", got, err)
	}
	if n := len(keysOf(t, objs)); n != 3 {
		t.Fatalf("objects %v, want the state and two parts", keysOf(t, objs))
	}
	// A file of known size gets parts large enough for it.
	l.maxParts, l.partBytes = 10, 1<<20
	if got := l.partSize(Session{Total: 25 << 20}); got != 3<<20 {
		t.Errorf("part size of 25 MiB in 10 parts: %d, want 3 MiB", got)
	}
	if got := l.partSize(Session{Total: -1}); got != 1<<20 {
		t.Errorf("part size of an unknown size: %d, want 1 MiB", got)
	}
}

// TestUploadLargeChunk: a chunk larger than a part is stored as parts; a
// chunk cut in the middle keeps the whole parts before the cut, and the
// rest resent from the session's offset makes the whole file.
func TestUploadLargeChunk(t *testing.T) {
	l, objs, _ := newLake(t)
	l.partBytes = 4
	ctx := context.Background()
	content := "0123456789abcdefghij"
	s, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "large.bin"}, int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	// 10 bytes in one chunk: parts of 4, 4 and 2 bytes.
	got, err := l.WriteChunk(ctx, "p", s.ID, 0, strings.NewReader(content[:10]))
	if err != nil || got.Offset != 10 || len(got.Parts) != 3 || got.Parts[2].Size != 2 {
		t.Fatalf("10 bytes: %+v, %v", got, err)
	}
	// 7 more bytes, cut: the whole part (4 bytes) stays, the 3 after it do not.
	cut := io.MultiReader(strings.NewReader(content[10:17]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := l.WriteChunk(ctx, "p", s.ID, 10, cut); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut chunk: %v", err)
	}
	got, err = l.GetUpload(ctx, "p", s.ID)
	if err != nil || got.Offset != 14 || len(got.Parts) != 4 {
		t.Fatalf("after the cut: %+v, %v", got, err)
	}
	if n := len(keysOf(t, objs)); n != 5 {
		t.Fatalf("objects %v, want the state and four parts", keysOf(t, objs))
	}
	if _, err := l.WriteChunk(ctx, "p", s.ID, 14, strings.NewReader(content[14:])); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	crc := fmt.Sprintf("%08x", crc32.Checksum([]byte(content), crc32.MakeTable(crc32.Castagnoli)))
	if _, _, err := l.CompleteUpload(ctx, "p", s.ID, "nothex!!"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("completing with a malformed CRC: %v", err)
	}
	f, _, err := l.CompleteUpload(ctx, "p", s.ID, strings.ToUpper(crc)) // the client's, in any case
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(content)) || f.Digest != "sha256:"+hex.EncodeToString(sum[:]) || f.CRC32C != crc {
		t.Fatalf("file: %+v, want CRC32C %s", f, crc)
	}
	// One PUT keeps the same sums.
	g, _, err := l.Put(ctx, Upload{Project: "p", Channel: "raw", Path: "put.bin"}, strings.NewReader(content))
	if err != nil || g.Digest != f.Digest || g.CRC32C != crc {
		t.Fatalf("put: %+v, %v", g, err)
	}
	// A client's CRC that is not the content's: nothing is stored.
	before := len(keysOf(t, objs))
	if _, _, err := l.Put(ctx, Upload{Project: "p", Channel: "raw", Path: "bad.bin", CRC32C: "00000000"}, strings.NewReader(content)); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "send the file again") {
		t.Fatalf("put with another CRC: %v", err)
	}
	bad, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "bad.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WriteChunk(ctx, "p", bad.ID, 0, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.CompleteUpload(ctx, "p", bad.ID, "00000000"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("completing with another CRC: %v", err)
	}
	if _, err := l.GetUpload(ctx, "p", bad.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the session after a CRC mismatch: %v", err)
	}
	if _, err := l.Get(ctx, "p", "raw", "bad.bin"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a file after a CRC mismatch: %v", err)
	}
	if n := len(keysOf(t, objs)); n != before {
		t.Fatalf("objects after two CRC mismatches: %d, were %d", n, before)
	}
	// A session begun before koya kept CRCs gives a file without one.
	old, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "old.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	old.CRC32C = nil
	if err := l.save(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WriteChunk(ctx, "p", old.ID, 0, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if h, _, err := l.CompleteUpload(ctx, "p", old.ID, ""); err != nil || h.Digest != f.Digest || h.CRC32C != "" {
		t.Fatalf("old session: %+v, %v", h, err)
	}
	rd, err := objs.OpenData(ctx, "p", f.Ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if b, err := io.ReadAll(rd); err != nil || string(b) != content {
		t.Fatalf("content %q, %v", b, err)
	}
}
