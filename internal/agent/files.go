package agent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// Files of an attempt directory (the directory holding the manifest). The
// names are reserved: an input or output path may not use them.
const (
	ManifestFile = "manifest.json"
	ResultFile   = "result.json" // the v1.Exit, written once the command ended
	RunFile      = "run.json"    // written before the command starts: it never starts twice
	CancelFile   = "cancel"      // asks the agent (even a future one) to stop
	LockFile     = "agent.lock"  // held by the running agent when the manifest is read-only
	OutboxDir    = "outbox"      // events and log lines not yet acknowledged
	LogFile      = "agent.log"   // the agent's own log (the agent host writes it)
)

var reserved = map[string]bool{ManifestFile: true, ResultFile: true, RunFile: true, CancelFile: true,
	LockFile: true, OutboxDir: true, LogFile: true}

// ErrCancelled and ErrLost are the wire values of api/v1: a stopped attempt,
// and a command that started under a previous agent which cannot tell how
// it ended.
const (
	ErrCancelled = v1.ExitCancelled
	ErrLost      = v1.ExitLost
)

// ReadResult reads the attempt directory's result.json; ok is false when
// the command has not finished (or never ran).
func ReadResult(dir string) (exit v1.Exit, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if errors.Is(err, fs.ErrNotExist) {
		return exit, false, nil
	}
	if err != nil {
		return exit, false, err
	}
	if err := json.Unmarshal(b, &exit); err != nil {
		return exit, false, err
	}
	return exit, true, nil
}

// Running reports whether an agent holds the attempt directory (see
// lockDir): true for exactly the agent's life, whichever process it is in.
func Running(dir string) bool {
	return sandbox.Held(filepath.Join(dir, ManifestFile)) || sandbox.Held(filepath.Join(dir, LockFile))
}

// ExitOK reports whether an exit is a success (the engine's rule).
func ExitOK(x v1.Exit) bool {
	return x.Code == 0 && x.Signal == 0 && !x.TimedOut && !x.OOMKilled && x.Error == ""
}

// runRecord is run.json: the command's pid and start time once known.
type runRecord struct {
	PID   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"`
}

// KillLeftovers kills the process group of a command whose agent died,
// if it still runs. Drivers call it before removing an attempt directory.
func KillLeftovers(dir string) {
	var r runRecord
	if readJSON(filepath.Join(dir, RunFile), &r) != nil || r.PID <= 0 {
		return
	}
	if sandbox.Alive(r.PID, r.Start) {
		sandbox.KillGroup(r.PID)
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeFileAtomic replaces path atomically: a crash leaves the old content
// or the new, never a torn file. durable adds fsyncs, so that the new
// content also survives a crash of the machine, not only of the process.
func writeFileAtomic(path string, data []byte, perm os.FileMode, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if !durable {
		return nil
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// writeState writes one of the attempt's state files (run.json,
// result.json) atomically, durably unless the options say NoFsync.
func (a *attempt) writeState(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(a.dir, name), b, 0o600, !a.opts.NoFsync)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
