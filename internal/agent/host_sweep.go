package agent

import (
	"os"
	"path/filepath"
	"time"
)

// sweep removes the directories of attempts whose agent delivered
// everything and ended, once they are older than the retention: Keep for
// successes, KeepFailed for the rest (left longer for people to look at).
// Directories with a live agent, or whose result was not delivered, stay.
func (h *host) sweep(now time.Time) (removed int) {
	entries, err := os.ReadDir(h.o.Root)
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(h.o.Root, e.Name())
		st, err := os.Stat(filepath.Join(dir, OutboxDir, deliveredFile))
		if err != nil || Running(dir) {
			continue
		}
		keep := h.o.KeepFailed
		if exit, ok, _ := ReadResult(dir); ok && ExitOK(exit) {
			keep = h.o.Keep
		}
		if now.Sub(st.ModTime()) < keep {
			continue
		}
		KillLeftovers(dir)
		if os.RemoveAll(dir) == nil {
			removed++
		}
	}
	if removed > 0 {
		h.log.Info("removed finished attempt directories", "count", removed)
	}
	return removed
}
