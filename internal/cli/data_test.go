package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koya-dev/koya/client"
)

// TestDataEndToEnd: push a directory with sidecars, list, find, count by a
// label, pull by path and by query, change metadata, remove.
func TestDataEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.koya("data", "channel", "create", "raw", "--description", "camera")
	if out := h.koya("data", "channel", "ls"); !strings.Contains(out, "raw") || !strings.Contains(out, "camera") {
		t.Fatalf("channel ls:\n%s", out)
	}
	labels := []string{"cat", "dog", "cat", "cat", "bird"}
	for i, l := range labels {
		name := filepath.Join("imgs", "day1", "img00"+string(rune('1'+i))+".jpg")
		h.write(name, strings.Repeat(l, 100+i))
		h.write(name+".json", `{"label":"`+l+`","n":`+string(rune('0'+i))+`}`)
	}
	h.write("imgs/notes.txt", "no sidecar")
	// A missing channel is said once, before any upload, not per file.
	if errOut := h.fails(ExitNotFound, "data", "push", filepath.Join(h.dir, "imgs"), "--channel", "nope"); strings.Count(errOut, "error: ") != 1 || !strings.Contains(errOut, "koya data channel create nope") {
		t.Errorf("push to a missing channel:\n%s", errOut)
	}
	out := h.koya("data", "push", filepath.Join(h.dir, "imgs"), "--channel", "raw", "--prefix", "cam/", "--meta", `{"site":"lab","n":-1}`, "-j", "3")
	if strings.Count(out, "pushed ") != 6 {
		t.Fatalf("push:\n%s", out)
	}
	var files []client.DataFile
	h.koyaJSON(&files, "data", "ls", "cam/day1/", "--channel", "raw")
	if len(files) != 5 {
		t.Fatalf("ls: %d files, want 5 (no sidecars): %+v", len(files), files)
	}
	var meta bytes.Buffer
	_ = json.Compact(&meta, files[0].Meta)
	if files[0].Path != "cam/day1/img001.jpg" || meta.String() != `{"label":"cat","n":0,"site":"lab"}` || files[0].ContentType != "image/jpeg" {
		t.Fatalf("first file: %+v %s", files[0], files[0].Meta)
	}
	if out := h.koya("data", "ls", "--channel", "raw"); !strings.Contains(out, "cam/notes.txt") || strings.Contains(out, ".json") {
		t.Errorf("ls:\n%s", out)
	}

	out = h.koya("data", "find", `label = "cat"`, "--columns", "label,site")
	if strings.Count(out, "cam/day1/img00") != 3 || !strings.Contains(out, "LABEL") || !strings.Contains(out, "lab") {
		t.Errorf("find:\n%s", out)
	}
	var counts []client.DataCount
	h.koyaJSON(&counts, "data", "count", "--by", "label")
	if len(counts) < 3 || counts[0].Value != "cat" || counts[0].Count != 3 {
		t.Fatalf("count: %+v", counts)
	}
	if out := h.koya("data", "count", "--by", "label"); !strings.Contains(out, "███") {
		t.Errorf("count table without bars:\n%s", out)
	}
	if errOut := h.fails(ExitFailed, "data", "find", `label = `); !strings.Contains(errOut, "query:1:") {
		t.Errorf("bad query: %s", errOut)
	}

	// Pull one file, then every cat.
	dest := filepath.Join(h.dir, "out")
	h.koya("data", "pull", "cam/day1/img002.jpg", filepath.Join(dest, "dog.jpg"), "--channel", "raw")
	if b, _ := os.ReadFile(filepath.Join(dest, "dog.jpg")); string(b) != strings.Repeat("dog", 101) {
		t.Errorf("pulled dog: %q", b)
	}
	h.koya("data", "pull", "--query", `label = "cat"`, "--channel", "raw", filepath.Join(dest, "cats"))
	got, _ := filepath.Glob(filepath.Join(dest, "cats", "cam", "day1", "*"))
	if len(got) != 3 {
		t.Errorf("pulled cats: %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dest, "cats", "cam", "day1", ".*part")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Metadata.
	h.koya("data", "meta", "patch", "cam/notes.txt", `{"reviewed":true,"site":null}`, "--channel", "raw")
	if out := h.koya("data", "meta", "get", "cam/notes.txt", "--channel", "raw"); !strings.Contains(out, `"reviewed": true`) || strings.Contains(out, "site") {
		t.Errorf("meta get:\n%s", out)
	}

	// Remove; a channel with files stays.
	h.koya("data", "rm", "cam/notes.txt", "--channel", "raw")
	h.fails(ExitNotFound, "data", "meta", "get", "cam/notes.txt", "--channel", "raw")
	if errOut := h.fails(ExitFailed, "data", "channel", "rm", "raw"); !strings.Contains(strings.ToLower(errOut), "file") {
		t.Errorf("rm a full channel: %s", errOut)
	}
}

// TestDataPushResumable: a big file goes up in chunks; a push of a file
// whose path would escape is refused.
func TestDataPushResumable(t *testing.T) {
	h := newHarness(t)
	h.koya("data", "channel", "create", "raw")
	big := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
	p := filepath.Join(h.dir, "big.bin")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	out := h.koya("data", "push", p, "--channel", "raw", "--resumable-above", "1000000", "--chunk-size", "1000000")
	if !strings.Contains(out, "pushed raw/big.bin") {
		t.Fatalf("push:\n%s", out)
	}
	dest := filepath.Join(h.dir, "back.bin")
	h.koya("data", "pull", "big.bin", dest, "--channel", "raw")
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, big) {
		t.Fatalf("pulled %d bytes", len(b))
	}
	if left, _ := os.ReadDir(filepath.Join(h.dir, ".koya", "uploads")); len(left) != 0 {
		t.Errorf("resume state left: %v", left)
	}
	if errOut := h.fails(ExitFailed, "data", "push", p, "--channel", "raw", "--prefix", "../"); !strings.Contains(errOut, `".." segment`) {
		t.Errorf("escaping prefix: %s", errOut)
	}
}
