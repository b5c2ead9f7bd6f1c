package agent

import "golang.org/x/sys/unix"

// memoryBacked reports whether dir is on a file system held in memory
// (tmpfs, ramfs): what is written there never reaches a disk (unless the
// machine swaps).
func memoryBacked(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}
