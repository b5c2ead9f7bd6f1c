package objects

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
)

// TestWalkPages: a walk over more objects than a listing page visits
// every object of the project exactly once.
func TestWalkPages(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 2*listPage + 7
		want := map[string]bool{}
		for i := range n {
			out, err := s.Put(ctx, "p", strings.NewReader("artifact "+strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			want[out.Ref] = true
		}
		seen := map[string]int{}
		if err := s.Walk(ctx, "p", func(o Object) error { seen[o.Ref]++; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != n {
			t.Fatalf("walked %d objects, want %d", len(seen), n)
		}
		for ref, k := range seen {
			if k != 1 || !want[ref] {
				t.Fatalf("%s walked %d times (put: %v)", ref, k, want[ref])
			}
		}
	})
}

// TestWalkSkipsLeftovers: a walk visits a datalake file's content, an
// upload session's part and a manifest, not a session's state, and not
// the temporary file of a write that a crash cut (next to its object in a
// file:// bucket): that holds no whole object, and counted under its key
// it would keep the key from ever being disabled. A rewrap refuses it.
func TestWalkSkipsLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := open(t, "file://"+dir)
	ctx := context.Background()
	content, err := s.PutData(ctx, "p", strings.NewReader("content"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 16)
	part := DataPrefix("p") + "uploads/" + id + "/" + fmt.Sprintf("%020d", 0)
	if _, err := s.PutDataPart(ctx, "p", part, strings.NewReader("part"), io.Discard); err != nil {
		t.Fatal(err)
	}
	manifest, err := s.PutDataManifest(ctx, "p", Manifest{Parts: []Part{{Key: part, Size: 4}}, Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutDataJSON(ctx, "p", DataPrefix("p")+"uploads/"+id+".json", map[string]int{"offset": 4}); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(content.Ref)))
	if err != nil {
		t.Fatal(err)
	}
	leftover := content.Ref + ".187a3c0f1e2d4b5a.tmp"
	writeAt(t, dir, leftover, stored[:len(stored)/2], time.Now())

	seen := map[string]bool{}
	if err := s.Walk(ctx, "p", func(o Object) error { seen[o.Ref] = o.Encrypted && o.Datalake; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || !seen[content.Ref] || !seen[part] || !seen[manifest] {
		t.Fatalf("walked %v, want the content, the part and the manifest", seen)
	}
	if _, err := s.Rewrap(ctx, "p", leftover, 1); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("rewrap of a leftover: %v", err)
	}
}
