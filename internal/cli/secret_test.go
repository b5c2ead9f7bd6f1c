package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
)

// A step that prints its secret, run for real on the local backend: the
// secret arrives, and `koya logs` shows *** in its place.
const secretWorkflow = `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: leaky}
spec:
  steps:
    - name: show
      backend: local
      secrets: [MYSECRET, FROM_STDIN, FROM_FILE]
      command: [sh, -c, 'echo token=$MYSECRET; echo "stdin=$(printf %s "$FROM_STDIN" | wc -c) file=$(printf %s "$FROM_FILE" | wc -c)"']
---
apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: lacking}
spec:
  steps:
    - name: show
      backend: local
      secrets: [NEVER_SET]
      command: [sh, -c, 'echo ran']
`

const cliSecret = "cli-s3cr3t-Value"

func TestSecretsEndToEnd(t *testing.T) {
	h := newHarness(t)
	if out := h.koya("secret", "set", "MYSECRET", "--from-literal", cliSecret); !strings.Contains(out, "MYSECRET") || strings.Contains(out, cliSecret) {
		t.Fatalf("secret set:\n%s", out)
	}
	// From standard input, without its trailing newline; from a file, as is.
	if out, errOut, code := h.runIn("second\n", "secret", "set", "FROM_STDIN"); code != 0 {
		t.Fatalf("secret set from stdin: %d %s %s", code, out, errOut)
	}
	h.koya("secret", "set", "FROM_FILE", "--from-file", h.write("value.txt", "line\n"))
	h.fails(ExitUsage, "secret", "set", "X", "--from-literal", "a", "--from-file", "f")
	h.fails(ExitUsage, "secret", "set", "X", "--from-file", filepath.Join(h.dir, "nope"))
	if errOut := h.fails(ExitFailed, "secret", "set", "bad-name", "--from-literal", "v"); !strings.Contains(errOut, "not a secret name") {
		t.Errorf("a bad name: %s", errOut)
	}

	out := h.koya("secret", "list")
	for _, want := range []string{"NAME", "VERSION", "CREATED BY", "MYSECRET", "FROM_STDIN", "FROM_FILE"} {
		if !strings.Contains(out, want) {
			t.Errorf("secret list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, cliSecret) {
		t.Errorf("secret list shows a value:\n%s", out)
	}
	var ls []client.Secret
	h.koyaJSON(&ls, "secret", "list")
	if len(ls) != 3 || ls[2].Name != "MYSECRET" || ls[2].Version != 1 {
		t.Errorf("secret list -o json: %+v", ls)
	}

	h.koya("apply", "-f", h.write("leaky.yaml", secretWorkflow))
	if out := h.koya("run", "leaky", "--follow"); !strings.Contains(out, "Succeeded") {
		t.Fatalf("run leaky:\n%s", out)
	}
	var runs []v1.Run
	h.koyaJSON(&runs, "get", "runs", "--workflow", "leaky")
	// "second\n" from stdin lost its newline, "line\n" from a file kept it.
	if out := h.koya("logs", runs[0].Metadata.Name); out != "token=***\nstdin=6 file=5\n" {
		t.Errorf("logs of a step printing its secret:\n%q", out)
	}

	// A secret the project lacks fails the step before its command runs.
	if out, _, code := h.run("run", "lacking", "--follow"); code != ExitFailed {
		t.Fatalf("run lacking: exit %d\n%s", code, out)
	}
	h.koyaJSON(&runs, "get", "runs", "--workflow", "lacking")
	if out := h.koya("logs", runs[0].Metadata.Name); !strings.Contains(out, "NEVER_SET") || strings.Contains(out, "ran") {
		t.Errorf("logs of a step lacking its secret:\n%s", out)
	}

	h.koya("secret", "delete", "FROM_FILE")
	h.fails(ExitNotFound, "secret", "delete", "FROM_FILE")
	if out := h.koya("secret", "list"); strings.Contains(out, "FROM_FILE") {
		t.Errorf("a deleted secret is listed:\n%s", out)
	}

	// Neither the database nor the server's log holds the value.
	for _, f := range []string{"koya.db", "koya.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(h.dir, "data", f)); err == nil && bytes.Contains(b, []byte(cliSecret)) {
			t.Errorf("%s holds the plaintext", f)
		}
	}
	if strings.Contains(h.logs.String(), cliSecret) {
		t.Error("the server's log shows the value")
	}
}
