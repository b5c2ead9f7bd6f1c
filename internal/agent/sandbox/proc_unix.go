//go:build unix

package sandbox

import (
	"errors"
	"os/exec"
	"syscall"
)

// KillGroup sends SIGKILL to the process group led by pid.
func KillGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// Terminate sends SIGTERM to pid; a process already gone is not an error.
func Terminate(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// Detach makes cmd start in its own session, out of reach of signals to
// its parent's process group and of its parent's death.
func Detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
