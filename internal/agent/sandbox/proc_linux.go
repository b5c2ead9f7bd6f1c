package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// StartTime is field 22 of /proc/<pid>/stat: when the process started, in
// clock ticks since boot. With the pid it names a process unambiguously
// (pids are reused, start times of one pid are not).
func StartTime(pid int) (uint64, error) {
	_, start, err := stat(pid)
	return start, err
}

// Alive reports whether pid runs and, when start is not 0, is the process
// that started then. Zombies count as dead.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, st, err := stat(pid)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return start == 0 || st == start
}

func stat(pid int) (state string, start uint64, err error) {
	b, err := readProcFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64) // field 22: fields start at 3
	return f[0], start, err
}

// readProcFile reads a small /proc file with three system calls (open,
// one read, close) where os.ReadFile makes six: the kernel generates a
// stat file whole on the first read when the buffer holds it. The agent
// host reads one per command it starts.
func readProcFile(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	b := make([]byte, 4096) // a stat line is at most about 1,100 bytes
	n, err := syscall.Read(fd, b)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if n == len(b) {
		return nil, fmt.Errorf("%s: longer than %d bytes", path, len(b))
	}
	return b[:n], nil
}
