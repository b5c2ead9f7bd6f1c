package local

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// trashDir is where Cleanup moves finished attempt directories, inside
// the root (the same file system, so a move is a rename). Its name starts
// with a dot: no attempt id does.
const trashDir = ".trash"

// trash deletes finished attempt directories in the background, once the
// driver has started nothing for a while, as Bazel deletes old output
// trees and RocksDB obsolete files: away from the work.
//
// Cleanup is called from the engine's reconcile loop, one ended attempt
// after the other; a RemoveAll there made the loop wait for the file
// system (a task that unpacked a data set leaves many thousands of
// files). And on ext4 without a journal (the benchmark VM's root), each
// new inode skips the inodes deleted in the last one to six minutes, a
// buffer lookup each: deleting a run's directories while its next tasks
// create theirs made every file creation cost ~0.25 ms of CPU instead of
// ~0.01 ms: a fifth of koya's CPU samples in a run of 1,000 short tasks.
//
// The goroutine exists only while the trash holds something.
type trash struct {
	dir    string
	idle   time.Duration // delete once nothing started for this long
	maxAge time.Duration // ... or once the oldest entry is this old
	clock  func() time.Time

	mu        sync.Mutex
	running   bool
	lastStart time.Time
	oldest    time.Time // when the trash last went from empty to not
}

// newTrash makes the trash directory once, here rather than at each put.
func newTrash(root string) *trash {
	t := &trash{dir: filepath.Join(root, trashDir), idle: 2 * time.Second, maxAge: 5 * time.Minute, clock: time.Now}
	_ = os.Mkdir(t.dir, 0o700) // put deletes in place if it is missing
	if entries, err := os.ReadDir(t.dir); err == nil && len(entries) > 0 {
		t.kick() // left by an earlier control plane
	}
	return t
}

// started notes a Start: deletion waits for a quiet spell.
func (t *trash) started() {
	t.mu.Lock()
	t.lastStart = t.clock()
	t.mu.Unlock()
}

// put moves dir into the trash, or deletes it at once where it cannot be
// moved.
func (t *trash) put(dir string) error {
	if os.Rename(dir, filepath.Join(t.dir, filepath.Base(dir))) != nil {
		return os.RemoveAll(dir)
	}
	t.kick()
	return nil
}

// kick starts the goroutine that empties the trash unless it runs.
func (t *trash) kick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.oldest.IsZero() {
		t.oldest = t.clock()
	}
	if !t.running {
		t.running = true
		go t.empty()
	}
}

// wait is how long deletion should wait still: 0 when the driver has been
// quiet long enough or the trash is too old to wait for one.
func (t *trash) wait() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	return max(0, min(t.idle-now.Sub(t.lastStart), t.maxAge-now.Sub(t.oldest)))
}

// empty deletes the trash's entries whenever the driver is quiet, and
// ends once the trash is empty.
func (t *trash) empty() {
	for {
		if d := t.wait(); d > 0 {
			time.Sleep(d)
			continue
		}
		t.mu.Lock()
		entries, err := os.ReadDir(t.dir)
		if err != nil || len(entries) == 0 {
			// Under the lock: a put whose rename came after this read
			// finds the goroutine gone and starts another.
			t.stopLocked()
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		removed, quiet := 0, true
		for _, e := range entries {
			if t.wait() > 0 {
				quiet = false // a Start: back to waiting
				break
			}
			if os.RemoveAll(filepath.Join(t.dir, e.Name())) == nil {
				removed++
			}
		}
		if quiet && removed == 0 {
			// Nothing could be deleted: stop rather than spin; the next
			// put tries again.
			t.mu.Lock()
			t.stopLocked()
			t.mu.Unlock()
			return
		}
	}
}

// stopLocked records the goroutine's end; t.mu is held.
func (t *trash) stopLocked() { t.running, t.oldest = false, time.Time{} }
