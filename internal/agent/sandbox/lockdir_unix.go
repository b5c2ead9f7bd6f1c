//go:build unix

package sandbox

import (
	"os"

	"golang.org/x/sys/unix"
)

// LockDir takes an exclusive flock on a directory, waiting for it: a lock
// that needs no file of its own (creating one costs more than the lock).
// The kernel releases it when the holder closes it or dies.
func LockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
