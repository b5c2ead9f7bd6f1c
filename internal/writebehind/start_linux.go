package writebehind

import (
	"os"

	"golang.org/x/sys/unix"
)

// start asks the kernel to begin writing back [off, off+n) of f. Errors
// are ignored: the fsync that follows reports the ones that matter, and a
// file system without the call (EINVAL, ENOSYS) just flushes later.
func start(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
