package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where cgroup v2 must be mounted; a variable for tests of
// the file handling.
var cgroupRoot = "/sys/fs/cgroup"

// cgroup is a child group of this process's own cgroup, one per command.
type cgroup struct {
	dir    string
	fd     int
	memory int64
	cpu    float64
}

// cgroupBase is this process's own cgroup directory, if it is cgroup v2.
func cgroupBase() (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return "", fmt.Errorf("%s: %v", cgroupRoot, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", fmt.Errorf("%s is not a cgroup2 mount (cgroup v1 or hybrid)", cgroupRoot)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(cgroupRoot, p), nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// enableControllers makes memory (and cpu where offered) available to
// child groups of base. It fails when base holds processes and is not the
// root group (cgroup v2's "no internal processes" rule): run koya in a
// delegated group (systemd Delegate=yes) whose subtree_control already
// enables memory and cpu.
func enableControllers(base string) error {
	avail, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return err
	}
	on, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	for _, c := range []string{"memory", "cpu"} {
		if hasWord(on, c) {
			continue
		}
		if !hasWord(avail, c) {
			if c == "memory" {
				return fmt.Errorf("the memory controller is not available in %s", base)
			}
			continue
		}
		if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+"+c), 0); err != nil {
			if c == "memory" {
				return fmt.Errorf("cannot enable the memory controller in %s: %v", base, err)
			}
		}
	}
	return nil
}

func hasWord(b []byte, w string) bool {
	for _, f := range strings.Fields(string(b)) {
		if f == w {
			return true
		}
	}
	return false
}

// probeChild checks that a child group can be made with memory.max; it
// reports whether cpu.max is there too.
func probeChild(base string) (cpu bool, err error) {
	dir := filepath.Join(base, fmt.Sprintf("koya-probe-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return false, err
	}
	defer os.Remove(dir)
	if _, err := os.Stat(filepath.Join(dir, "memory.max")); err != nil {
		return false, fmt.Errorf("no memory.max in a child group of %s", base)
	}
	_, err = os.Stat(filepath.Join(dir, "cpu.max"))
	return err == nil, nil
}

func newCgroup(s Spec) (*cgroup, error) {
	base, err := cgroupBase()
	if err != nil {
		return nil, err
	}
	if err := enableControllers(base); err != nil {
		return nil, err
	}
	c, err := makeCgroup(base, "koya-"+s.Name, s)
	if err != nil {
		return nil, err
	}
	if c.fd, err = unix.Open(c.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// makeCgroup creates base/name with s's limits. A group left by a crashed
// agent is removed first when empty, else a fresh name is used.
func makeCgroup(base, name string, s Spec) (*cgroup, error) {
	dir := filepath.Join(base, name)
	if err := os.Mkdir(dir, 0o755); os.IsExist(err) {
		if os.Remove(dir) != nil {
			dir = fmt.Sprintf("%s-%d", dir, os.Getpid())
		}
		err = os.Mkdir(dir, 0o755)
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	c := &cgroup{dir: dir, fd: -1, memory: s.MemoryBytes, cpu: s.CPU}
	if s.MemoryBytes > 0 {
		if err := c.write("memory.max", strconv.FormatInt(s.MemoryBytes, 10)); err != nil {
			c.remove()
			return nil, err
		}
		_ = c.write("memory.swap.max", "0") // else the limit only moves pages to swap
	}
	if s.CPU > 0 {
		const period = 100000
		quota := int64(s.CPU * period)
		if quota < 1000 {
			quota = 1000
		}
		if err := c.write("cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
			c.cpu = 0 // no cpu controller: memory still applies
		}
	}
	return c, nil
}

func (c *cgroup) write(file, v string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(v), 0)
}

func (c *cgroup) describe() string {
	var parts []string
	if c.memory > 0 {
		parts = append(parts, fmt.Sprintf("memory: cgroup memory.max %d bytes", c.memory))
	}
	if c.cpu > 0 {
		parts = append(parts, fmt.Sprintf("cpu: cgroup cpu.max %.2f cores", c.cpu))
	}
	return strings.Join(parts, "; ")
}

func (c *cgroup) closeFD() {
	if c.fd >= 0 {
		_ = unix.Close(c.fd)
		c.fd = -1
	}
}

// oomKilled reads memory.events: oom_kill counts processes the kernel's
// OOM killer ended inside the group.
func (c *cgroup) oomKilled() bool {
	return readKey(filepath.Join(c.dir, "memory.events"), "oom_kill") > 0
}

// peak is memory.peak (kernel 5.19+), 0 when absent.
func (c *cgroup) peak() int64 {
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.peak"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// kill ends every process left in the group (cgroup.kill, kernel 5.14+,
// else one by one).
func (c *cgroup) kill() {
	if c.write("cgroup.kill", "1") == nil {
		return
	}
	b, _ := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// remove deletes the group, waiting briefly for killed processes to leave.
func (c *cgroup) remove() {
	c.closeFD()
	for i := 0; i < 50; i++ {
		if err := os.Remove(c.dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readKey(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
