package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// containerOOMKills counts the OOM kills in the memory cgroup of the
// container whose first process is pid (as the host sees it): cgroup v1's
// memory.oom_control or cgroup v2's memory.events, field oom_kill.
func containerOOMKills(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("the container has no process")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return readKey(filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control"), "oom_kill")
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
				if n, err := readKey(filepath.Join(base, parts[2], "memory.events"), "oom_kill"); err == nil {
					return n, nil
				}
			}
		}
	}
	return 0, errors.New("no memory cgroup found for the container")
}

// canReadOOM: this machine has a memory cgroup hierarchy (v1 or v2) the
// driver can read containers' OOM kills from.
func canReadOOM() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.oom_control"); err == nil {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && bytes.Contains(b, []byte("memory"))
}

func readKey(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", path, key)
}

// Metadata addresses of the clouds (AWS, GCP, Azure, ... and AWS's IPv6 one).
var metadataRules = []struct {
	bin, addr string
}{
	{"iptables", "169.254.169.254/32"},
	{"ip6tables", "fd00:ec2::254/128"},
}

var metadataMu sync.Mutex

// BlockMetadata makes the host drop packets to the cloud metadata
// addresses that arrive on any interface but loopback — containers'
// traffic — in the raw table's PREROUTING chain, before any rule of the
// engine's network backend (see doc.go). Idempotent: a rule present is
// left alone. IPv6 is skipped where ip6tables is missing or IPv6 is off.
func BlockMetadata() error {
	// Check-then-insert, serialised in this process and across processes
	// (control planes or test binaries starting at once).
	metadataMu.Lock()
	defer metadataMu.Unlock()
	unlock, err := sandbox.LockFile(filepath.Join(os.TempDir(), "koya-metadata-rules.lock"), true)
	if err != nil {
		return fmt.Errorf("locking the metadata rules: %v", err)
	}
	defer unlock()
	for _, r := range metadataRules {
		if _, err := exec.LookPath(r.bin); err != nil {
			if r.bin == "ip6tables" {
				continue
			}
			return fmt.Errorf("%s is not installed", r.bin)
		}
		rule := []string{"PREROUTING", "!", "-i", "lo", "-d", r.addr, "-j", "DROP"}
		check := append([]string{"-w", "-t", "raw", "-C"}, rule...)
		if exec.Command(r.bin, check...).Run() == nil {
			continue
		}
		insert := append([]string{"-w", "-t", "raw", "-I"}, rule...)
		if out, err := exec.Command(r.bin, insert...).CombinedOutput(); err != nil {
			if r.bin == "ip6tables" {
				continue // no IPv6 here: nothing to reach over it either
			}
			return fmt.Errorf("%s %s: %v: %s", r.bin, strings.Join(insert, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
