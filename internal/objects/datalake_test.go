package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
)

// TestDataObjects: one-pass put (digest of the plaintext, ciphertext only
// in the bucket), a failed reader leaves nothing, parts read as one
// stream, a ciphertext moved to another key or project is refused, and
// keys outside the project's datalake are refused.
func TestDataObjects(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		o, err := s.PutData(ctx, "p", strings.NewReader("plain text content"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("plain text content"))
		if o.Size != 18 || o.Digest != "sha256:"+hex.EncodeToString(sum[:]) || !strings.HasPrefix(o.Ref, "projects/p/datalake/") {
			t.Fatalf("put: %+v", o)
		}
		raw, err := s.bucket.ReadAll(ctx, o.Ref)
		if err != nil || bytes.Contains(raw, []byte("plain text")) {
			t.Fatalf("stored in the clear (%v)", err)
		}
		if got := readData(t, s, "p", o.Ref); got != "plain text content" {
			t.Fatalf("read %q", got)
		}

		// A reader that fails: nothing stored.
		before := len(listKeys(t, s))
		_, err = s.PutData(ctx, "p", io.MultiReader(strings.NewReader("half"), brokenReader{}))
		if err == nil || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("failing reader: %v", err)
		}
		if n := len(listKeys(t, s)); n != before {
			t.Fatalf("a failed put left %d objects", n-before)
		}

		// Parts and a manifest.
		h := sha256.New()
		var parts []Part
		for i, chunk := range []string{"one ", "two ", "three"} {
			key := DataPrefix("p") + "uploads/x/" + string(rune('0'+i))
			n, err := s.PutDataPart(ctx, "p", key, strings.NewReader(chunk), h)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, Part{Key: key, Size: n})
		}
		ref, err := s.PutDataManifest(ctx, "p", Manifest{Parts: parts, Size: 13})
		if err != nil {
			t.Fatal(err)
		}
		if got := readData(t, s, "p", ref); got != "one two three" {
			t.Fatalf("parts read %q", got)
		}

		// Moved ciphertext: another key, another project.
		for _, to := range []string{DataPrefix("p") + "moved", DataPrefix("q") + "moved"} {
			if err := s.bucket.WriteAll(ctx, to, raw, nil); err != nil {
				t.Fatal(err)
			}
			project := strings.Split(to, "/")[1]
			r, err := s.OpenData(ctx, project, to)
			if err == nil {
				_, err = io.ReadAll(r)
				r.Close()
			}
			if !errs.Is(err, errs.Forbidden) {
				t.Errorf("moved to %s: %v", to, err)
			}
		}
		for _, bad := range []string{"projects/q/datalake/" + o.Ref[len("projects/p/datalake/"):], "projects/p/artifacts/x", "projects/p/datalake/../x", "projects/p/datalake/"} {
			if _, err := s.OpenData(ctx, "p", bad); !errs.Is(err, errs.Forbidden) {
				t.Errorf("open %s: %v", bad, err)
			}
		}

		// Delete a manifest: its parts go too.
		if err := s.DeleteData(ctx, "p", ref); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if ok, _ := s.bucket.Exists(ctx, p.Key); ok {
				t.Errorf("part %s left", p.Key)
			}
		}
	})
}

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

func readData(t *testing.T, s *Store, project, ref string) string {
	t.Helper()
	r, err := s.OpenData(context.Background(), project, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size %d", len(b), r.Size())
	}
	return string(b)
}

func listKeys(t *testing.T, s *Store) []DataEntry {
	t.Helper()
	ls, err := s.ListData(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}
