package v1

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// problems lists the errors Parse returned, one *errs.Error each.
func problems(t *testing.T, err error) []*errs.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var list errs.List
	if errors.As(err, &list) {
		return list
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *errs.Error: %T %v", err, err)
	}
	return []*errs.Error{e}
}

// TestLintGolden parses every testdata/*.yaml and compares the errors, one
// per line as users see them, with testdata/<name>.golden (empty for a
// file that must parse clean). go test ./api/v1 -run Golden -update
// rewrites them; review the diff.
func TestLintGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(filepath.Base(file), data)
			var got strings.Builder
			for _, e := range problems(t, perr) {
				if e.Code != errs.Invalid {
					t.Errorf("code %s, want invalid: %v", e.Code, e)
				}
				got.WriteString(e.Error() + "\n")
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got.String(), want)
			}
		})
	}
}
