package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// trashTest makes a root with one attempt directory full of files.
func trashTest(t *testing.T) (root, attempt string) {
	root = t.TempDir()
	attempt = filepath.Join(root, "a1")
	if err := os.MkdirAll(filepath.Join(attempt, "work", "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"manifest.json", "work/x", "work/deep/y"} {
		if err := os.WriteFile(filepath.Join(attempt, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root, attempt
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

func (t *trash) isRunning() bool { t.mu.Lock(); defer t.mu.Unlock(); return t.running }

// TestTrashWaitsForQuiet: a cleaned-up directory leaves its place at
// once; its deletion waits while Starts keep coming, happens once they
// stop, and the goroutine ends with the trash empty.
func TestTrashWaitsForQuiet(t *testing.T) {
	root, attempt := trashTest(t)
	tr := newTrash(root) // empty: no goroutine yet
	tr.idle, tr.maxAge = 100*time.Millisecond, time.Hour
	tr.started()
	if err := tr.put(attempt); err != nil {
		t.Fatal(err)
	}
	if exists(attempt) {
		t.Fatal("the attempt directory is still in its place")
	}
	moved := filepath.Join(root, trashDir, "a1")
	for range 30 { // 300 ms of Starts, every 10 ms
		tr.started()
		time.Sleep(10 * time.Millisecond)
		if !exists(moved) {
			t.Fatal("deleted while Starts were coming")
		}
	}
	eventually(t, "the trash is not emptied once Starts stopped", func() bool { return !exists(moved) && !tr.isRunning() })
}

// TestTrashMaxAge: under Starts that never stop, the trash is emptied
// once its oldest entry is maxAge old.
func TestTrashMaxAge(t *testing.T) {
	root, attempt := trashTest(t)
	tr := newTrash(root)
	tr.idle, tr.maxAge = time.Hour, 200*time.Millisecond
	tr.started()
	if err := tr.put(attempt); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the trash is not emptied at its max age", func() bool {
		tr.started()
		return !exists(filepath.Join(root, trashDir, "a1"))
	})
}

// TestTrashLeftovers: what an earlier control plane left in the trash is
// deleted by the next driver.
func TestTrashLeftovers(t *testing.T) {
	root, attempt := trashTest(t)
	if err := os.Mkdir(filepath.Join(root, trashDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(attempt, filepath.Join(root, trashDir, "a1")); err != nil {
		t.Fatal(err)
	}
	tr := newTrash(root)
	eventually(t, "leftovers are not deleted", func() bool { return !exists(filepath.Join(root, trashDir, "a1")) && !tr.isRunning() })
}
