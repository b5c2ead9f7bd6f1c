package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cgroup file handling, on plain files: this machine may not have a
// writable cgroup v2 (the kernel side is covered by the backend suite's
// OOM test where it has).
func TestCgroupFiles(t *testing.T) {
	base := t.TempDir()
	c, err := makeCgroup(base, "koya-x", Spec{MemoryBytes: 64 << 20, CPU: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(c.dir, f))
		return strings.TrimSpace(string(b))
	}
	if got := read("memory.max"); got != "67108864" {
		t.Errorf("memory.max = %q", got)
	}
	if got := read("cpu.max"); got != "50000 100000" {
		t.Errorf("cpu.max = %q", got)
	}
	if c.oomKilled() || c.peak() != 0 {
		t.Error("OOM or peak without events")
	}
	_ = os.WriteFile(filepath.Join(c.dir, "memory.events"), []byte("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n"), 0o644)
	_ = os.WriteFile(filepath.Join(c.dir, "memory.peak"), []byte("123456\n"), 0o644)
	if !c.oomKilled() || c.peak() != 123456 {
		t.Errorf("oomKilled=%v peak=%d", c.oomKilled(), c.peak())
	}
	if !strings.Contains(c.describe(), "memory.max 67108864") || !strings.Contains(c.describe(), "cpu.max 0.50") {
		t.Errorf("describe: %s", c.describe())
	}
	// A group left by a crashed agent that still holds files (processes,
	// on a real cgroupfs) makes a fresh name.
	c2, err := makeCgroup(base, "koya-x", Spec{MemoryBytes: 1 << 20})
	if err != nil || c2.dir == c.dir {
		t.Errorf("second group: %v %v", c2, err)
	}
}

func TestHasWord(t *testing.T) {
	if !hasWord([]byte("cpuset cpu io memory\n"), "cpu") || hasWord([]byte("cpuset io"), "cpu") {
		t.Error("hasWord")
	}
}
