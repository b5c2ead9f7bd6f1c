//go:build unix

package sandbox

import (
	"os/exec"
	"syscall"
)

// KillUser kills every process running as uid: a process of that uid
// sends SIGKILL to all it may signal (kill -1), itself included.
func KillUser(uid uint32) {
	cmd := exec.Command("kill", "-KILL", "-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}}
	_ = cmd.Run()
}
