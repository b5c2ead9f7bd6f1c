package sandbox

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUsersTakeAndRelease(t *testing.T) {
	u := NewUsers(TaskUIDBase, 3)
	seen := map[uint32]bool{}
	for range 3 {
		uid, err := u.Take()
		if err != nil || uid < TaskUIDBase || uid >= TaskUIDBase+3 || seen[uid] {
			t.Fatalf("Take = %d, %v (seen %v)", uid, err, seen)
		}
		seen[uid] = true
	}
	if _, err := u.Take(); err != ErrNoTaskUser {
		t.Fatalf("a fourth Take: %v", err)
	}
	// A released uid comes back only once a sweep found nothing of it.
	u.Release(TaskUIDBase + 1)
	if _, err := u.Take(); err != ErrNoTaskUser {
		t.Fatalf("Take of a released, unswept uid: %v", err)
	}
	KillStrays(u)
	if uid, err := u.Take(); err != nil || uid != TaskUIDBase+1 {
		t.Fatalf("Take after a release and a sweep = %d, %v", uid, err)
	}
}

// runAs runs a shell script as uid (gid uid) and returns its output.
func runAs(t *testing.T, uid uint32, script string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout, cmd.Stderr, cmd.Dir = &out, &out, "/"
	p, err := Start(cmd, Spec{Name: "t", UID: uid, GID: uid})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err == nil && res.Code != 0 {
		err = &exec.ExitError{}
	}
	return strings.TrimSpace(out.String()), err
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("task users need root")
	}
}

// A command given a task uid runs as it, with its gid and no other group,
// and cannot read a root-only file.
func TestTaskUser(t *testing.T) {
	needRoot(t)
	uid := uint32(TaskUIDBase + 42)
	out, err := runAs(t, uid, "id -u; id -g; id -G")
	want := strconv.Itoa(int(uid))
	if err != nil || out != want+"\n"+want+"\n"+want {
		t.Fatalf("id: %q, %v; want %s three times", out, err, want)
	}
	secret := t.TempDir() + "/secret"
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runAs(t, uid, "cat "+secret); err == nil || strings.Contains(out, "root only") {
		t.Fatalf("a task user read a root-only file: %q", out)
	}
}

// Connections from task uids to the metadata addresses are refused by the
// kernel. The connection is only tried once the rule is in place, so no
// packet leaves the machine.
func TestBlockMetadata(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("iptables is missing: scripts/test.sh installs it")
		}
		t.Skip("iptables is not installed")
	}
	lo, hi := uint32(TaskUIDBase), uint32(TaskUIDEnd) // what agent hosts block
	if err := BlockMetadata(lo, hi); err != nil {
		t.Fatal(err)
	}
	if err := BlockMetadata(lo, hi); err != nil { // idempotent
		t.Fatal(err)
	}
	owner := strconv.Itoa(int(lo)) + "-" + strconv.Itoa(int(hi))
	if err := exec.Command("iptables", "-w", "-C", "OUTPUT", "-m", "owner", "--uid-owner", owner, "-d", "169.254.169.254", "-j", "REJECT").Run(); err != nil {
		t.Fatalf("the rule is not in place: %v", err)
	}
	n := func() int {
		out, _ := exec.Command("iptables", "-w", "-S", "OUTPUT").Output()
		return strings.Count(string(out), "169.254.169.254")
	}
	if got := n(); got != 1 {
		t.Fatalf("%d rules for the address, want 1", got)
	}
	start := time.Now()
	out, err := runAs(t, lo+7, "bash -c 'exec 3<>/dev/tcp/169.254.169.254/80'")
	if err == nil || !strings.Contains(out, "refused") {
		t.Fatalf("a task user's connection to the metadata address: %q, %v; want it refused", out, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %s: the packet may have left", d)
	}
}

// A task user's command gets its memory limit too.
func TestTaskUserMemoryLimit(t *testing.T) {
	needRoot(t)
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", "ulimit -v; id -u")
	cmd.Stdout, cmd.Stderr, cmd.Dir = &out, &out, "/"
	uid := uint32(TaskUIDBase + 43)
	p, err := Start(cmd, Spec{Name: "t", UID: uid, GID: uid, MemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Wait(); err != nil || res.Code != 0 {
		t.Fatalf("%+v %v: %s", res, err, out.String())
	}
	if got := strings.Fields(out.String()); len(got) != 2 || got[0] != strconv.Itoa(256<<10) || got[1] != strconv.Itoa(int(uid)) {
		t.Errorf("ulimit -v and id -u: %q, want %d KiB as %d", out.String(), 256<<10, uid)
	}
}

// What a task left running as a uid no attempt holds is killed; a uid in
// use is left alone.
func TestKillStrays(t *testing.T) {
	needRoot(t)
	u := NewUsers(TaskUIDBase+100, 2)
	held, err := u.Take()
	if err != nil {
		t.Fatal(err)
	}
	stray, err := u.Take()
	if err != nil {
		t.Fatal(err)
	}
	u.Release(stray) // its command ended; something it started did not
	start := func(uid uint32) *Process {
		cmd := exec.Command("sleep", "30")
		cmd.Dir = "/"
		p, err := Start(cmd, Spec{Name: "t", UID: uid, GID: uid})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pHeld, pStray := start(held), start(stray)
	defer pHeld.Signal(9)
	if n := KillStrays(u); n != 1 {
		t.Errorf("KillStrays killed %d, want 1", n)
	}
	if res, _ := pStray.Wait(); res.Signal != 9 {
		t.Errorf("the stray ended %+v, want killed", res)
	}
	if err := syscall.Kill(pHeld.Pid(), 0); err != nil {
		t.Errorf("the held uid's process is gone: %v", err)
	}
}

func TestTaskUIDRanges(t *testing.T) {
	a, b := TaskUIDRange("/var/lib/koya/attempts"), TaskUIDRange("/tmp/other/attempts")
	for _, lo := range []uint32{a, b} {
		if lo < TaskUIDBase || lo+TaskUIDCount-1 > TaskUIDEnd || (lo-TaskUIDBase)%TaskUIDCount != 0 {
			t.Errorf("range at %d is outside the task uids or misaligned", lo)
		}
	}
	if a == b {
		t.Errorf("two roots share the range %d", a)
	}
}
