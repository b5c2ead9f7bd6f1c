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

// LockFile takes an exclusive lock on path (created if needed), waiting for
// it or not (ErrLocked when another holder has it). The kernel releases it
// when the holder closes it or dies.
func LockFile(path string, wait bool) (unlock func(), err error) {
	f, err := lockOpen(path, os.O_CREATE, wait)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// LockOpen is LockFile of an existing file that returns the locked file,
// open for reading and writing at its start, for a holder that also reads
// it; closing it releases the lock.
func LockOpen(path string, wait bool) (*os.File, error) { return lockOpen(path, 0, wait) }
