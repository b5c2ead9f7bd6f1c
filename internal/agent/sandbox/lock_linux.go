package sandbox

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// LockFile takes an exclusive lock on path (created if needed), waiting for
// it or not. The kernel releases it when the holder closes it or dies.
//
// It is an open file description lock (F_OFD_SETLK), not a flock, so that
// Held can ask whether anyone holds it without taking it: the local
// backend's agent host holds one per attempt, and the control plane asks.
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

func lockOpen(path string, create int, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|create, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	for {
		err = unix.FcntlFlock(f.Fd(), cmd, &lk)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// Held reports whether some process (this one included) holds path's
// LockFile lock. A missing file is not held.
func Held(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}
