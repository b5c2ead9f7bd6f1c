package sandbox

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockOpen opens path (flags: 0 or os.O_CREATE) and takes an open file
// description lock (F_OFD_SETLK) on it, not a flock, so that Held can ask
// whether anyone holds it without taking it: the local backend's agent
// host holds one per attempt, and the control plane asks.
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
