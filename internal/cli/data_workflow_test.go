package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
)

const datalakeWorkflow = `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: sizes}
spec:
  steps:
    - name: each
      backend: local
      foreach: 'datalake://default/raw?query=label = "cat"&sort=path'
      command: [sh, -c, 'mkdir -p out && wc -c < inputs/img | tr -d " " > out/n.json && echo "{{ item.path }} {{ item.meta.label }}"']
      inputs: {img: "{{ item.uri }}"}
      outputs: {n: out/n.json}
    - name: all
      backend: local
      command: [sh, -c, 'mkdir -p out && cat inputs/cats/cam/*.jpg | wc -c | tr -d " " > out/total.json']
      inputs: {cats: 'datalake://default/raw?query=label = "cat"'}
      outputs: {total: out/total.json}
    - name: one
      backend: local
      command: [sh, -c, 'mkdir -p out && cp inputs/dog out/dog.jpg']
      inputs: {dog: "datalake://default/raw/cam/b.jpg"}
      outputs: {dog: out/dog.jpg}
`

// A workflow reads the datalake on a real backend: a foreach over a query
// (one task per file, each given its file), a query as a directory of
// files, and one file by path. The agent fetches and checks each file.
func TestDatalakeWorkflowOnLocalBackend(t *testing.T) {
	h := newHarness(t)
	h.koya("data", "channel", "create", "raw")
	files := map[string]string{"a": "cat", "b": "dog", "c": "cat"}
	for name, label := range files {
		h.write(filepath.Join("cam", name+".jpg"), strings.Repeat(name, 10+len(name)*int(name[0]-'a')))
		h.write(filepath.Join("cam", name+".jpg.json"), `{"label":"`+label+`"}`)
	}
	h.koya("data", "push", filepath.Join(h.dir, "cam"), "--channel", "raw", "--prefix", "cam/")
	h.koya("apply", "-f", h.write("sizes.yaml", datalakeWorkflow))
	if out := h.koya("run", "sizes", "--follow"); !strings.Contains(out, "Succeeded") {
		t.Fatalf("run sizes:\n%s", out)
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs", "--workflow", "sizes")
	id := runs[0].Metadata.Name
	if out := h.koya("logs", id, "--step", "each"); !strings.Contains(out, "cam/a.jpg cat") || !strings.Contains(out, "cam/c.jpg cat") || strings.Contains(out, "b.jpg") {
		t.Errorf("each step's logs:\n%s", out)
	}
	for i, want := range []string{"10", "12"} { // a.jpg: 10 bytes, c.jpg: 10+2*1
		dest := filepath.Join(h.dir, "n.json")
		h.koya("artifacts", "get", id, "each", "n", "--index", string(rune('0'+i)), "-o", dest)
		if b, _ := os.ReadFile(dest); strings.TrimSpace(string(b)) != want {
			t.Errorf("each[%d] read %q bytes, want %s", i, b, want)
		}
	}
	dest := filepath.Join(h.dir, "total.json")
	h.koya("artifacts", "get", id, "all", "total", "-o", dest)
	if b, _ := os.ReadFile(dest); strings.TrimSpace(string(b)) != "22" {
		t.Errorf("all read %q bytes of cats, want 22", b)
	}
	dest = filepath.Join(h.dir, "dog.jpg")
	h.koya("artifacts", "get", id, "one", "dog", "-o", dest)
	if b, _ := os.ReadFile(dest); string(b) != strings.Repeat("b", 11) {
		t.Errorf("one read %q", b)
	}
}
