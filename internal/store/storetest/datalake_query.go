package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// lakeFiles stores the query suite's files: 50 in channel c1 and 6 in
// c2 of project "lake", with metadata of every kind, missing keys, arrays,
// nested objects, mixed types under one key, and ties in every sort key.
// They come back in insertion order (which breaks sort ties).
func lakeFiles(t *testing.T, s store.Store) []store.File {
	t.Helper()
	putChannel(t, s, "lake", "c1")
	putChannel(t, s, "lake", "c2")
	labels := []any{"cat", "dog", "bird", "Cat", "black cat"}
	tagSet := []string{"night", "day", "cat", "outdoor"}
	models := []string{"Nikon Z6", "Canon R5", "Sony A7"}
	types := []string{"image/png", "image/jpeg", "text/plain"}
	var out []store.File
	for i := range 56 {
		m := map[string]any{}
		switch {
		case i%13 == 0:
			m["label"] = nil
		case i%11 == 0:
			m["label"] = 5
		case i%7 == 0: // no label
		default:
			m["label"] = labels[i%5]
		}
		if i%6 == 0 {
			m["width"] = "640"
		} else if i%8 != 1 {
			m["width"] = (i % 9) * 160
		}
		var tags []any
		for k, tg := range tagSet {
			if (i>>k)&1 == 1 {
				tags = append(tags, tg)
			}
		}
		if i == 12 {
			tags = append(tags, tags[0]) // a repeated element: counted once
		}
		if tags != nil || i%5 == 0 {
			m["tags"] = append([]any{}, tags...) // i%5 == 0 may be []
		}
		if i%2 == 0 {
			m["camera"] = map[string]any{"model": models[i%3], "iso": []any{100 * (i%4 + 1), 800}}
		}
		switch {
		case i%9 == 0:
			m["shot_at"] = "2025-12-31"
		case i%3 != 0:
			m["shot_at"] = time.Date(2026, 1, 1+i%20, i%24, 0, 0, 0, time.FixedZone("", (i%3-1)*3600)).Format(time.RFC3339)
		}
		if i%4 != 3 {
			m["ok"] = i%4 == 0
		}
		m["score"] = float64(i%10) / 4
		if i%4 == 0 {
			m["size"] = i % 10
		}
		if i%3 == 1 {
			m["a"] = map[string]any{"b": map[string]any{"c": i % 3}}
		}
		meta, err := json.Marshal(m)
		must(t, err)
		ch, path := "c1", fmt.Sprintf("dir%d/file%02d.%s", i%4, i, strings.Split(types[i%3], "/")[1])
		if i >= 50 {
			ch, path = "c2", fmt.Sprintf("other/%02d", i)
		}
		f, _, err := s.PutFile(ctx, store.File{Project: "lake", Channel: ch, Path: path, ContentType: types[i%3],
			Size: int64(i * 37 % 500), Digest: fmt.Sprintf("sha256:%02x", i%16), Ref: "r", Meta: meta, CreatedAt: at(i / 3 * 60)})
		must(t, err)
		out = append(out, f)
	}
	return out
}

var lakeQueries = []string{
	``,
	`label = "cat"`,
	`label != "cat"`,
	`not label = "cat"`,
	`label = 5`,
	`label = null`,
	`label exists`,
	`not label exists`,
	`label contains "cat"`,
	`label startswith "b"`,
	`label > "b" and label <= "cat"`,
	`label in ["dog", "bird", 5]`,
	`width >= 640`,
	`width = "640"`,
	`width < 500 or width = "640"`,
	`width != 0`,
	`tags contains "night"`,
	`tags = "cat" and tags = "day"`,
	`tags exists`,
	`not tags exists`,
	`tags contains "a"`,
	`camera exists`,
	`camera.model = "Nikon Z6" and camera.iso >= 300`,
	`camera.iso = 800 and not camera.iso = 100`,
	`camera.model startswith "S" or camera.model contains "R5"`,
	`shot_at > 2026-01-05`,
	`shot_at <= 2026-01-03T12:00:00Z`,
	`shot_at = 2025-12-31`,
	`shot_at = "2025-12-31"`,
	`shot_at < "2026-01-1"`,
	`ok = true`,
	`ok = false or ok != true`,
	`score > 1.2 and score < 2`,
	`score in [0.25, 0.5, 2]`,
	`meta.size >= 4`,
	`size > 100 and size <= 300`,
	`size in [0, 37, 111]`,
	`size > 36.5`,
	`content_type = "image/png" and path startswith "dir1/"`,
	`path contains "file1"`,
	`digest > "sha256:0a"`,
	`created > 2026-03-14T06:15:00Z`,
	`updated > 2000-01-01`,
	`a.b.c = 1`,
	`a exists and a.b exists and not a.b.c = 2 and not a.b.d exists`,
	`(label = "dog" or label = "bird") and (width >= 320 or tags contains "day") and not ok = true`,
	longIn(),
	`not (label = "cat" or not camera exists)`,
}

// longIn is an in of 600 values (more than a compound SELECT of SQLite
// may hold), two of which match.
func longIn() string {
	vals := []string{`"dog"`, `5`}
	for i := range 598 {
		vals = append(vals, fmt.Sprintf("%d.5", i))
	}
	return "label in [" + strings.Join(vals, ",") + "]"
}

// fieldsOf is what Match sees of a stored file.
func fieldsOf(t *testing.T, f store.File) query.Fields {
	var m map[string]any
	must(t, json.Unmarshal(f.Meta, &m))
	return query.Fields{Path: f.Path, Size: f.Size, ContentType: f.ContentType, Digest: f.Digest,
		Created: f.CreatedAt, Updated: f.UpdatedAt, Meta: m}
}

func paths(files []store.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Channel+":"+f.Path)
	}
	return out
}

// testDatalakeQuery ties the stores' SQL to query.Match: for each query,
// FindFiles returns exactly the files Match accepts, in creation order
// (the default).
func testDatalakeQuery(t *testing.T, s store.Store) {
	files := lakeFiles(t, s)
	checkQueries(t, s, files, true)
	if len(files) != 56 {
		t.Fatal("lost files")
	}
	// The channel of the query must exist.
	if _, err := s.FindFiles(ctx, store.FileQuery{Project: "lake", Channel: "nope"}); err == nil {
		t.Fatal("FindFiles in a missing channel succeeded")
	}
	page, err := s.FindFiles(ctx, store.FileQuery{Project: "nothing"})
	must(t, err)
	if len(page.Files) != 0 {
		t.Fatalf("FindFiles in a project without channels = %v", paths(page.Files))
	}
	verifyIndexes(t, s)
}

// testDatalakeQueryAfterChanges: the queries still give Match's files
// after metadata is replaced, files are deleted and paths are written
// again (what a store derives from metadata follows every write).
func testDatalakeQueryAfterChanges(t *testing.T, s store.Store) {
	files := lakeFiles(t, s)
	var kept []store.File
	for i, f := range files {
		switch {
		case i%5 == 1:
			_, err := s.DeleteFile(ctx, f.Project, f.Channel, f.Path)
			must(t, err)
			continue
		case i%3 == 0:
			// Another file's metadata: values move between files.
			g, err := s.SetFileMeta(ctx, f.Project, f.Channel, f.Path, files[(i+7)%len(files)].Meta, 0)
			must(t, err)
			f = g
		case i%7 == 2:
			g, err := s.SetFileMeta(ctx, f.Project, f.Channel, f.Path, json.RawMessage(`{"label": "cat", "width": -0.0}`), 0)
			must(t, err)
			f = g
		}
		kept = append(kept, f)
	}
	checkQueries(t, s, kept, false)
	verifyIndexes(t, s)
}

// verifyIndexes checks what a store derives from metadata against the
// metadata, when the store can (sqlstore's bitmaps).
func verifyIndexes(t *testing.T, s store.Store) {
	t.Helper()
	if v, ok := s.(interface{ VerifyMetaBits(context.Context) error }); ok {
		if err := v.VerifyMetaBits(ctx); err != nil {
			t.Fatalf("VerifyMetaBits: %v", err)
		}
	}
}

// DatalakeAcrossChunks runs the query suites on files whose internal ids
// straddle 65,536 (a chunk of the SQL stores' bitmaps): setNextFid makes
// the store give the next file it creates that internal id.
func DatalakeAcrossChunks(t *testing.T, s store.Store, setNextFid func(t *testing.T, fid int64)) {
	setNextFid(t, 1<<16-20)
	t.Run("Query", func(t *testing.T) { testDatalakeQuery(t, s) })
	t.Run("QueryPages", func(t *testing.T) { testDatalakePages(t, s) })
	t.Run("Count", func(t *testing.T) { testDatalakeCount(t, s) })
	t.Run("QueryAfterChanges", func(t *testing.T) { testDatalakeQueryAfterChanges(t, s) })
}

// checkQueries compares FindFiles with Match for every query; with
// discriminate, each query must also select some files and not all.
func checkQueries(t *testing.T, s store.Store, files []store.File, discriminate bool) {
	t.Helper()
	for _, src := range lakeQueries {
		e, err := query.Parse(src)
		if err != nil {
			t.Fatalf("Parse(%s): %v", src, err)
		}
		for _, ch := range []string{"", "c1"} {
			var want []store.File
			for _, f := range files {
				if (ch == "" || f.Channel == ch) && query.Match(e, fieldsOf(t, f)) {
					want = append(want, f)
				}
			}
			// want is in creation order, FindFiles' default.
			page, err := s.FindFiles(ctx, store.FileQuery{Project: "lake", Channel: ch, Where: e, Limit: 1000})
			if err != nil {
				t.Fatalf("FindFiles(%s): %v", src, err)
			}
			if got, w := paths(page.Files), paths(want); !slices.Equal(got, w) {
				t.Errorf("FindFiles(%s) in channel %q:\n got  %d %v\n want %d %v", src, ch, len(got), got, len(w), w)
			}
			if page.Next != "" {
				t.Errorf("FindFiles(%s): a Next on the only page", src)
			}
			// Every query but the two that match all selects some files
			// and leaves some out: the table tests something.
			if discriminate && ch == "" && src != "" && src != "updated > 2000-01-01" && (len(want) == 0 || len(want) == len(files)) {
				t.Errorf("query %s selects %d of %d files: make it discriminate", src, len(want), len(files))
			}
		}
	}
}

// sortValue is a file's value for one sort field, as the stores order it:
// built-ins by their column; a metadata key by its first value's kind
// (missing < null < bool < number < string), number, then string.
func sortCompare(t *testing.T, a, b store.File, s query.Sort) int {
	var c int
	if s.Field.Builtin {
		switch s.Field.Name {
		case "path":
			c = strings.Compare(a.Path, b.Path)
		case "content_type":
			c = strings.Compare(a.ContentType, b.ContentType)
		case "digest":
			c = strings.Compare(a.Digest, b.Digest)
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		case "created":
			c = a.CreatedAt.Compare(b.CreatedAt)
		case "updated":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
	} else {
		ka, kb := firstValue(t, a, s.Field.Name), firstValue(t, b, s.Field.Name)
		c = cmp.Compare(ka.rank, kb.rank)
		if c == 0 {
			c = cmp.Compare(ka.num, kb.num)
		}
		if c == 0 {
			c = strings.Compare(ka.str, kb.str)
		}
	}
	if s.Desc {
		c = -c
	}
	return c
}

type sortKey struct {
	rank int
	num  float64
	str  string
}

func firstValue(t *testing.T, f store.File, key string) sortKey {
	for _, kv := range query.Flatten(fieldsOf(t, f).Meta) {
		if kv.Key != key {
			continue
		}
		switch kv.Kind {
		case query.Null:
			return sortKey{rank: 0}
		case query.Bool:
			if kv.Bool {
				return sortKey{rank: 1, num: 1}
			}
			return sortKey{rank: 1}
		case query.Number:
			return sortKey{rank: 2, num: kv.Num}
		}
		return sortKey{rank: 3, str: kv.Str}
	}
	return sortKey{rank: -1}
}

// testDatalakePages: every order, walked three files at a time, gives the
// full ordered list, which is the order computed here.
func testDatalakePages(t *testing.T, s store.Store) {
	files := lakeFiles(t, s)
	index := map[string]int{}
	for i, f := range files {
		index[f.ID] = i
	}
	for _, tc := range []struct{ where, sort string }{
		{``, ``},
		{``, `created desc, label`},
		{``, `label`},
		{`label exists or width exists`, `width desc, created`},
		{``, `size, path desc`},
		{``, `shot_at`},
		{``, `camera.iso desc, ok`},
		{`not ok = true`, `ok desc, score, content_type`},
		{``, `digest, meta.size desc, updated`},
		{`tags exists`, `tags, a.b.c desc`},
		{`label = "cat"`, ``},
		{`label in ["dog", "bird", 5] and width >= 320`, ``},
		{`tags = "night" and ok = true and camera.model = "Nikon Z6"`, ``},
		{`shot_at > 2026-01-05 and score < 2`, ``},
		{``, `path`},
	} {
		e, err := query.Parse(tc.where)
		must(t, err)
		sorts, err := query.ParseSort(tc.sort)
		must(t, err)
		order := sorts // none: creation order (index)
		var want []store.File
		for _, f := range files {
			if query.Match(e, fieldsOf(t, f)) {
				want = append(want, f)
			}
		}
		sort.SliceStable(want, func(i, j int) bool {
			for _, s := range order {
				if c := sortCompare(t, want[i], want[j], s); c != 0 {
					return c < 0
				}
			}
			return index[want[i].ID] < index[want[j].ID]
		})
		fq := store.FileQuery{Project: "lake", Where: e, Sort: sorts, Limit: 1000}
		full, err := s.FindFiles(ctx, fq)
		must(t, err)
		what := fmt.Sprintf("where %q sort %q", tc.where, tc.sort)
		if got, w := paths(full.Files), paths(want); !slices.Equal(got, w) {
			t.Errorf("%s:\n got  %v\n want %v", what, got, w)
			continue
		}
		fq.Limit = 3
		var walked []store.File
		for n := 0; ; n++ {
			if n > 30 {
				t.Fatalf("%s: more than 30 pages of 3", what)
			}
			page, err := s.FindFiles(ctx, fq)
			must(t, err)
			if len(page.Files) > 3 || (page.Next != "" && len(page.Files) != 3) {
				t.Fatalf("%s: page of %d, next %q", what, len(page.Files), page.Next)
			}
			walked = append(walked, page.Files...)
			if page.Next == "" {
				break
			}
			fq.After = page.Next
		}
		if got, w := paths(walked), paths(want); !slices.Equal(got, w) {
			t.Errorf("%s, pages of 3:\n got  %v\n want %v", what, got, w)
		}
	}
	_, err := s.FindFiles(ctx, store.FileQuery{Project: "lake", After: "garbage"})
	if err == nil {
		t.Fatal("FindFiles with a bad cursor succeeded")
	}
}

// testDatalakeCount: CountFiles agrees with counting Flatten's values of
// the files Match accepts.
func testDatalakeCount(t *testing.T, s store.Store) {
	files := lakeFiles(t, s)
	for _, where := range []string{``, `camera exists`, `not label = "cat"`} {
		e, err := query.Parse(where)
		must(t, err)
		for _, by := range []string{"", "label", "tags", "content_type", "camera.model", "ok", "width", "camera.iso", "size", "meta.size"} {
			for _, ch := range []string{"", "c2"} {
				checkCount(t, s, files, "lake", ch, where, e, by)
			}
		}
	}
}

// checkCount compares CountFiles with counting the files Match accepts:
// a file counts once in the group of each value it holds, and with no
// value in the nil group.
func checkCount(t *testing.T, s store.Store, files []store.File, project, ch, where string, e query.Expr, by string) {
	t.Helper()
	want := map[string]int64{}
	for _, f := range files {
		fl := fieldsOf(t, f)
		if ch != "" && f.Channel != ch || !query.Match(e, fl) {
			continue
		}
		switch by {
		case "":
			want["<nil>"]++
		case "content_type":
			want[groupKey(f.ContentType)]++
		case "size":
			want[groupKey(float64(f.Size))]++
		default:
			key := strings.TrimPrefix(by, "meta.")
			groups := map[string]bool{}
			for _, kv := range query.Flatten(fl.Meta) {
				if kv.Key != key {
					continue
				}
				switch kv.Kind {
				case query.Null:
					groups["<nil>"] = true
				case query.Bool:
					groups[groupKey(kv.Bool)] = true
				case query.Number:
					groups[groupKey(kv.Num)] = true
				default:
					groups[groupKey(kv.Str)] = true
				}
			}
			if len(groups) == 0 {
				groups["<nil>"] = true
			}
			for g := range groups {
				want[g]++
			}
		}
	}
	groups, err := s.CountFiles(ctx, store.FileQuery{Project: project, Channel: ch, Where: e}, by)
	must(t, err)
	got := map[string]int64{}
	for i, g := range groups {
		if i > 0 && g.Count > groups[i-1].Count {
			t.Fatalf("CountFiles(%s, by %q): not largest first: %+v", where, by, groups)
		}
		got[groupKey(g.Value)] += g.Count
	}
	if by == "" && len(want) == 0 {
		want["<nil>"] = 0
	}
	same(t, fmt.Sprintf("CountFiles(where %q, by %q, channel %q)", where, by, ch), got, want)
}

func groupKey(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T:%v", v, v)
}
