// Package sandbox starts a task's user command the way the agent needs it:
// in its own process group, optionally in a fresh network namespace and
// under memory and CPU limits, and tells how it ended (code, signal, OOM,
// peak memory).
//
// Limits, on Linux:
//   - memory and CPU through a cgroup v2 child group (memory.max, cpu.max)
//     when /sys/fs/cgroup is a cgroup2 mount whose controllers this process
//     may delegate; OOM kills then come from memory.events and the peak
//     from memory.peak;
//   - otherwise memory as RLIMIT_AS on the command (each of its processes
//     gets the limit, as rlimits are per process): an allocation past it
//     fails inside the program, which is not detectable as an OOM kill; CPU
//     is then not enforced.
//
// The rlimit is applied while the command is stopped at its first
// instruction (it starts traced and is released after prlimit), so no user
// code runs unlimited.
package sandbox

import (
	"errors"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Spec is how to isolate one command.
type Spec struct {
	// Name names the cgroup (the attempt id); it must be a path element.
	Name        string
	NetworkNone bool
	MemoryBytes int64   // 0: no limit
	CPU         float64 // cores; 0: no limit
	// UID and GID the command runs as (0: the agent's own), with no
	// supplementary groups. See Users.
	UID, GID uint32
}

// Result is how a command ended.
type Result struct {
	Code       int // exit status, or 128+signal when killed by one (shell convention)
	Signal     int
	OOMKilled  bool
	PeakMemory int64
	Duration   time.Duration
}

// Support says what this machine lets the agent enforce.
type Support struct {
	NetNS  bool // network: none (needs root)
	Cgroup bool // memory.max, OOM detection, memory.peak
	CPU    bool // cpu.max
	Rlimit bool // RLIMIT_AS fallback for memory
	// Why explains a missing cgroup, for documentation and logs.
	Why string
}

// ErrLocked is LockFile's answer when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// ErrNetworkNeedsRoot is returned by Start for NetworkNone when not root.
var ErrNetworkNeedsRoot = errors.New("network: none needs root on the local backend")

// ParseMemory reads a Kubernetes-style quantity ("512Mi", "4Gi", "1G",
// "1500000") as bytes, as the workflow's validation does.
func ParseMemory(s string) (int64, error) { return v1.MemoryBytes(s) }
