//go:build unix && !linux

package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started command.
type Process struct {
	cmd      *exec.Cmd
	start    time.Time
	Enforced string
}

// Start starts cmd in its own process group; limits and network isolation
// need Linux.
func Start(cmd *exec.Cmd, s Spec) (*Process, error) {
	if s.NetworkNone {
		return nil, errors.New("network: none needs Linux on the local backend")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{cmd: cmd}
	if s.MemoryBytes > 0 || s.CPU > 0 {
		p.Enforced = "memory and cpu limits are not enforced on this OS"
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.start = time.Now()
	return p, nil
}

func (p *Process) Pid() int { return p.cmd.Process.Pid }

func (p *Process) Signal(sig syscall.Signal) error { return syscall.Kill(-p.cmd.Process.Pid, sig) }

func (p *Process) Wait() (Result, error) {
	err := p.cmd.Wait()
	r := Result{Duration: time.Since(p.start)}
	ps := p.cmd.ProcessState
	if ps == nil {
		return r, err
	}
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		r.Signal = int(ws.Signal())
		r.Code = 128 + r.Signal
	} else {
		r.Code = ws.ExitStatus()
	}
	_ = p.Signal(syscall.SIGKILL)
	return r, nil
}

// Probe: nothing but process groups off Linux.
func Probe() Support { return Support{Why: "not Linux"} }

// StartTime is not known off Linux; Alive then trusts the pid alone.
func StartTime(pid int) (uint64, error) { return 0, nil }

func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}
