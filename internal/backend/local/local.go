package local

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/agent/sandbox"
	"github.com/koya-dev/koya/internal/backend"
)

// Name is the local backend's name.
const Name = "local"

// Options configure the local driver.
type Options struct {
	// Root holds one directory per attempt: Root/<attemptID>, and the
	// agent host's socket, lock and log.
	Root string
	// AgentPath is the koya binary (default: this executable).
	AgentPath string
	// AgentArgs come before "--host <root>" (default ["agent"]).
	AgentArgs []string
	// Env is added to the agent host's environment (e.g. KOYA_AGENT_*
	// tunables). The host does not inherit the control plane's
	// environment, which may hold its secrets: only PATH, HOME, USER,
	// LANG, LC_*, TZ, TMPDIR.
	Env []string
}

// Driver runs attempts as local processes under agents that live in the
// root's agent host (see agent.ServeHost).
type Driver struct {
	o     Options
	caps  backend.Capabilities
	host  *hostClient
	trash *trash
}

// state is the handle's driver state: the attempt directory and the agent
// host that took it (for people and tests; liveness is the directory lock).
type state struct {
	Dir   string `json:"dir"`
	PID   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"` // /proc/<pid>/stat field 22: tells a reused pid apart
}

// New makes a local driver; Root is created if needed.
func New(o Options) (*Driver, error) {
	if o.Root == "" {
		return nil, errs.E(errs.Invalid, "local backend: a root directory is required")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "local backend: root %q", o.Root)
	}
	o.Root = root
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "local backend: creating %s", o.Root)
	}
	if agent.TaskUsers() {
		// Tasks run as unprivileged users (see agent.Options.Users), who
		// pass through the root to their working directories: traversable,
		// not listable; everything in it is closed to them.
		if err := os.Chmod(o.Root, 0o711); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "local backend: %s", o.Root)
		}
		if err := agent.Traversable(o.Root); err != nil {
			return nil, errs.Wrap(errs.Invalid, err, "local backend: %v", err)
		}
	}
	if o.AgentPath == "" {
		if o.AgentPath, err = os.Executable(); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "local backend: finding the koya binary")
		}
	}
	if o.AgentArgs == nil {
		o.AgentArgs = []string{"agent"}
	}
	hc, err := newHostClient(o)
	if err != nil {
		return nil, err
	}
	return &Driver{o: o, caps: capabilities(), host: hc, trash: newTrash(o.Root)}, nil
}

// capabilities follow what the agent can enforce on this machine; see doc.go.
func capabilities() backend.Capabilities {
	sup := sandbox.Probe()
	return backend.Capabilities{
		NetworkIsolation: sup.NetNS,
		MemoryLimit:      sup.Cgroup || sup.Rlimit,
		CPULimit:         sup.CPU,
		OOMDetection:     sup.Cgroup,
	}
}

func (d *Driver) Name() string                       { return Name }
func (d *Driver) Capabilities() backend.Capabilities { return d.caps }

func (d *Driver) dir(h backend.Handle) (string, state) {
	var st state
	if len(h.State) > 0 {
		_ = json.Unmarshal(h.State, &st)
	}
	if st.Dir == "" {
		st.Dir = filepath.Join(d.o.Root, h.AttemptID)
	}
	return st.Dir, st
}

func handle(attemptID string, st state) backend.Handle {
	raw, _ := json.Marshal(st)
	return backend.Handle{Version: backend.HandleVersion, Driver: Name, AttemptID: attemptID, State: raw}
}

// Start has the agent host run the attempt, unless its agent already runs
// or it has a delivered result. A lock on the attempt directory serialises
// concurrent Starts (in this process or another control plane).
func (d *Driver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	d.trash.started()
	dir := filepath.Join(d.o.Root, m.AttemptID)
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return backend.Handle{}, errs.Wrap(errs.Internal, err, "creating the attempt directory")
	}
	created := err == nil
	unlock, err := sandbox.LockDir(dir)
	if err != nil {
		return backend.Handle{}, errs.Wrap(errs.Internal, err, "locking the attempt directory")
	}
	defer unlock()
	if created {
		return d.start(ctx, m, dir) // a new attempt: no agent can have it yet
	}

	if alive(dir) {
		return handle(m.AttemptID, state{Dir: dir}), nil
	}
	if _, ok, _ := agent.ReadResult(dir); ok && agent.Delivered(dir) {
		return handle(m.AttemptID, state{Dir: dir}), nil
	}
	// Never started, or its agent died: (re)start. A restarted agent
	// does not run the command again; it delivers what is left.
	return d.start(ctx, m, dir)
}

// start writes the manifest unless it is there and has the host take the
// attempt.
func (d *Driver) start(ctx context.Context, m *v1.TaskManifest, dir string) (backend.Handle, error) {
	if !exists(filepath.Join(dir, agent.ManifestFile)) {
		b, err := json.Marshal(m)
		if err != nil {
			return backend.Handle{}, errs.Wrap(errs.Invalid, err, "encoding the manifest")
		}
		if err := writeFile(filepath.Join(dir, agent.ManifestFile), b); err != nil {
			return backend.Handle{}, errs.Wrap(errs.Internal, err, "writing the manifest")
		}
	}
	hello, err := d.host.start(ctx, filepath.Join(dir, agent.ManifestFile))
	if err != nil {
		return backend.Handle{}, err
	}
	return handle(m.AttemptID, state{Dir: dir, PID: hello.PID, Start: hello.Start}), nil
}

// agentEnv is the part of this process's environment an agent needs.
func agentEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LANG", k == "TZ", k == "TMPDIR",
			strings.HasPrefix(k, "LC_"), strings.HasPrefix(k, "KOYA_AGENT_"):
			env = append(env, kv)
		}
	}
	return env
}

// Status: result.json decides; else a live agent is Running; else Lost.
func (d *Driver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	dir, _ := d.dir(h)
	if s, ok, err := result(dir); ok || err != nil {
		return s, err
	}
	if alive(dir) {
		return backend.Status{Phase: v1.Running}, nil
	}
	// The agent may have written its result and ended since the first look.
	if s, ok, err := result(dir); ok || err != nil {
		return s, err
	}
	return backend.Status{Phase: v1.Lost}, nil
}

func result(dir string) (backend.Status, bool, error) {
	exit, ok, err := agent.ReadResult(dir)
	if err != nil {
		return backend.Status{}, false, errs.Wrap(errs.Internal, err, "reading result.json")
	}
	if !ok {
		return backend.Status{}, false, nil
	}
	phase := v1.Failed
	if agent.ExitOK(exit) {
		phase = v1.Succeeded
	}
	return backend.Status{Phase: phase, Exit: &exit}, true, nil
}

// alive reports whether an agent holds the attempt: its directory lock is
// taken for exactly the agent's life, whichever host (or process) it is in.
func alive(dir string) bool { return agent.Running(dir) }

// Stop leaves a cancel file (a future agent honours it too) and asks the
// host to cancel the attempt: its agent stops the command and reports the
// cancel.
func (d *Driver) Stop(ctx context.Context, h backend.Handle) error {
	dir, _ := d.dir(h)
	if !exists(dir) {
		return nil
	}
	if _, ok, _ := agent.ReadResult(dir); ok {
		return nil
	}
	if err := writeFile(filepath.Join(dir, agent.CancelFile), nil); err != nil {
		return errs.Wrap(errs.Internal, err, "writing the cancel file")
	}
	if alive(dir) {
		return d.host.cancel(ctx, h.AttemptID)
	}
	return nil
}

// Recover checks the attempt directory is there. An agent that died with
// its result undelivered (a reboot) is started again to deliver it.
func (d *Driver) Recover(ctx context.Context, h backend.Handle) error {
	dir, _ := d.dir(h)
	if !exists(filepath.Join(dir, agent.ManifestFile)) {
		return errs.E(errs.NotFound, "attempt %s has no directory under %s", h.AttemptID, d.o.Root)
	}
	if alive(dir) || agent.Delivered(dir) {
		return nil
	}
	if _, ok, _ := agent.ReadResult(dir); !ok {
		return nil // died mid-command: Status says Lost
	}
	unlock, err := sandbox.LockDir(dir)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "locking the attempt directory")
	}
	defer unlock()
	if !alive(dir) {
		if _, err := d.host.start(ctx, filepath.Join(dir, agent.ManifestFile)); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup removes the attempt directory once its agent has ended: moves it
// into the trash, which deletes it in the background (see trash). An agent
// with a result is finishing its delivery (the engine cleans up once it
// ingested the exit): it is given a few seconds to end. An agent without a
// result is left alone, directory and all.
func (d *Driver) Cleanup(ctx context.Context, h backend.Handle) error {
	dir, _ := d.dir(h)
	if !exists(dir) {
		return nil
	}
	for i := 0; alive(dir); i++ {
		if _, ok, _ := agent.ReadResult(dir); !ok || i == 100 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	agent.KillLeftovers(dir)
	if err := d.trash.put(dir); err != nil {
		return errs.Wrap(errs.Internal, err, "removing %s", dir)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeFile replaces path atomically (0600: the manifest holds a token).
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

var _ backend.Driver = (*Driver)(nil)
