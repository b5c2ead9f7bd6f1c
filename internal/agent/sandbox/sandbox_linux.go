package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a started command.
type Process struct {
	cmd   *exec.Cmd
	cg    *cgroup
	start time.Time
	// Enforced describes, for the task's log, how the limits were applied.
	Enforced string
}

// Start starts cmd (not yet started) isolated per s. cmd must not be used
// afterwards but through the Process: a start that cannot trace the command
// retries with a copy of it.
func Start(cmd *exec.Cmd, s Spec) (*Process, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if s.UID != 0 {
		attr.Credential = &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: []uint32{}}
	}
	if s.NetworkNone {
		if os.Geteuid() != 0 {
			return nil, ErrNetworkNeedsRoot
		}
		attr.Cloneflags |= syscall.CLONE_NEWNET
	}
	p := &Process{cmd: cmd}
	var why string
	if s.MemoryBytes > 0 || s.CPU > 0 {
		cg, err := newCgroup(s)
		if err != nil {
			why = err.Error()
		} else {
			p.cg = cg
			attr.UseCgroupFD, attr.CgroupFD = true, cg.fd
		}
	}
	cmd.SysProcAttr = attr
	var err error
	switch {
	case p.cg != nil:
		p.Enforced = p.cg.describe()
		err = cmd.Start()
		p.cg.closeFD()
	case s.MemoryBytes > 0 && s.UID != 0:
		// Tracing a command that changes user is not allowed: util-linux's
		// prlimit sets the limit on itself and execs the command, so no
		// user code runs unlimited either.
		p.Enforced = fmt.Sprintf("memory: RLIMIT_AS %d bytes per process (prlimit)", s.MemoryBytes)
		var path string
		if path, err = exec.LookPath("prlimit"); err == nil {
			cmd.Args = append([]string{"prlimit", fmt.Sprintf("--as=%d", s.MemoryBytes), "--", cmd.Path}, cmd.Args[1:]...)
			cmd.Path = path
			err = cmd.Start()
		}
	case s.MemoryBytes > 0:
		p.Enforced = fmt.Sprintf("memory: RLIMIT_AS %d bytes per process", s.MemoryBytes)
		p.cmd, err = startLimited(cmd, s.MemoryBytes)
	default:
		err = cmd.Start()
	}
	if p.cg == nil && s.CPU > 0 {
		p.Enforced = strings.TrimPrefix(p.Enforced+"; cpu: not enforced", "; ")
	}
	if why != "" {
		p.Enforced += " (no cgroup v2: " + why + ")"
	}
	if err != nil {
		if p.cg != nil {
			p.cg.remove()
		}
		return nil, err
	}
	p.start = time.Now()
	return p, nil
}

// startLimited starts cmd traced so that it stops right after exec, sets
// its RLIMIT_AS and lets it go: no user instruction runs unlimited. Where
// tracing is forbidden (a seccomp profile) the limit is set just after the
// start instead.
func startLimited(cmd *exec.Cmd, limit int64) (*exec.Cmd, error) {
	lim := unix.Rlimit{Cur: uint64(limit), Max: uint64(limit)}
	// The tracer is the thread that forked; detaching must happen on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	plain := copyCmd(cmd)
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		if !errors.Is(err, syscall.EPERM) {
			return nil, err
		}
		if err := plain.Start(); err != nil {
			return nil, err
		}
		if err := unix.Prlimit(plain.Process.Pid, unix.RLIMIT_AS, &lim, nil); err != nil {
			_ = syscall.Kill(-plain.Process.Pid, syscall.SIGKILL)
			_ = plain.Wait()
			return nil, fmt.Errorf("setting the memory limit: %w", err)
		}
		return plain, nil
	}
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, syscall.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || !ws.Stopped() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return nil, fmt.Errorf("the command did not stop after exec (%v)", err)
		}
		break
	}
	perr := unix.Prlimit(pid, unix.RLIMIT_AS, &lim, nil)
	if err := syscall.PtraceDetach(pid); err != nil || perr != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("setting the memory limit: %v", errors.Join(perr, err))
	}
	return cmd, nil
}

func copyCmd(c *exec.Cmd) *exec.Cmd {
	attr := *c.SysProcAttr
	return &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, ExtraFiles: c.ExtraFiles, SysProcAttr: &attr}
}

// Pid is the command's pid, also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the command's whole process group.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Wait waits for the command, then kills what it left behind in its group
// (and cgroup) so that nothing of a task outlives it.
func (p *Process) Wait() (Result, error) {
	err := p.cmd.Wait()
	r := Result{Duration: time.Since(p.start)}
	ps := p.cmd.ProcessState
	if ps == nil {
		return r, err
	}
	ws := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		r.Signal = int(ws.Signal())
		r.Code = 128 + r.Signal
	default:
		r.Code = ws.ExitStatus()
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.PeakMemory = ru.Maxrss * 1024 // KiB on Linux
	}
	_ = p.Signal(syscall.SIGKILL)
	if p.cg != nil {
		r.OOMKilled = p.cg.oomKilled()
		if peak := p.cg.peak(); peak > 0 {
			r.PeakMemory = peak
		}
		p.cg.kill()
		p.cg.remove()
	}
	return r, nil
}

var (
	probeOnce sync.Once
	probed    Support
)

// Probe tells what this machine lets a process like this one enforce. The
// answer is computed once.
func Probe() Support {
	probeOnce.Do(func() {
		probed = Support{NetNS: os.Geteuid() == 0, Rlimit: true}
		base, err := cgroupBase()
		if err == nil {
			err = enableControllers(base)
		}
		if err == nil {
			var cpu bool
			cpu, err = probeChild(base)
			probed.Cgroup, probed.CPU = err == nil, cpu
		}
		if err != nil {
			probed.Why = err.Error()
		}
	})
	return probed
}
