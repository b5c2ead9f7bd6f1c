package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// The agent and the local backend need a Unix; on Windows these only
// compile, so that the koya binary (its CLI) builds.
var errUnsupported = errors.New("the koya agent needs Linux (or another Unix)")

type Process struct{ Enforced string }

func Start(cmd *exec.Cmd, s Spec) (*Process, error)     { return nil, errUnsupported }
func (p *Process) Pid() int                             { return 0 }
func (p *Process) Signal(sig syscall.Signal) error      { return errUnsupported }
func (p *Process) Wait() (Result, error)                { return Result{}, errUnsupported }
func Probe() Support                                    { return Support{Why: "Windows"} }
func StartTime(pid int) (uint64, error)                 { return 0, nil }
func Alive(pid int, start uint64) bool                  { return false }
func LockFile(path string, wait bool) (func(), error)   { return nil, errUnsupported }
func LockOpen(path string, wait bool) (*os.File, error) { return nil, errUnsupported }
func Held(path string) bool                             { return false }
func KillGroup(pid int)                                 {}
func Terminate(pid int) error                           { return errUnsupported }
func Detach(cmd *exec.Cmd)                              {}
