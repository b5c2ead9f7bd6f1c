//go:build unix && !linux

package sandbox

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockOpen opens path (flags: 0 or os.O_CREATE) and takes an exclusive
// flock on it.
func lockOpen(path string, create int, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|create, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// Held reports whether another process holds path's lock. Without a way to
// ask, it tries the lock (which a concurrent taker may then briefly miss).
func Held(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	unlock, err := LockFile(path, false)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	unlock()
	return false
}
