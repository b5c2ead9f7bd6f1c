package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/agent/sandbox"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/imagecfg"
)

// Name is the container backend's name.
const Name = "container"

// Paths inside every container.
const (
	agentInContainer = "/koya/koya"
	runInContainer   = "/koya/run"
	sockInContainer  = "/koya/sock"
	socketName       = "agent.sock"
	// ServerInContainer is the server URL of the containers' manifests.
	ServerInContainer = "unix://" + sockInContainer + "/" + socketName
)

// Files of an attempt directory on the host (see doc.go).
const (
	taskFile = "task.json"
	oomFile  = "oom"
	runDir   = "run"
	sockDir  = "sock"
)

// Labels on every container of this backend.
const (
	LabelAttempt = "koya.attempt"
	LabelProject = "koya.project"
	LabelRun     = "koya.run"
	LabelStep    = "koya.step"
	LabelRoot    = "koya.root"
)

// DefaultUser runs containers whose image names no numeric non-root user.
const DefaultUser = "65534:65534"

// Options configure the container driver.
type Options struct {
	// Host is the engine's address (unix:///run/podman/podman.sock,
	// unix:///var/run/docker.sock, tcp://...); empty: DOCKER_HOST, else
	// the platform's default socket. The engine must run on this machine:
	// containers bind-mount directories of Root.
	Host string
	// Root holds one directory per attempt (created 0700).
	Root string
	// AgentPath is a static koya binary, mounted read-only into every
	// container as /koya/koya.
	AgentPath string
	// AgentArgs come before "--manifest <path>" (default ["agent"]).
	AgentArgs []string
	// Env is added to every container's environment (KOYA_AGENT_*
	// tunables). KOYA_AGENT_FSYNC=false unless set here: the outbox
	// survives the agent's death in the host's page cache.
	Env []string
	// DefaultImage runs steps that name no image ("" : such steps fail).
	DefaultImage string
	// Network is the engine network of steps with egress (default
	// "bridge", the engine's default network).
	Network string
	// User runs containers whose image names no numeric non-root user
	// (default DefaultUser).
	User string
	// WritableRootfs leaves every container's root filesystem writable.
	WritableRootfs bool
	// PidsLimit caps each container's processes (default 4096).
	PidsLimit int64
	// AllowMetadata skips blocking the cloud metadata addresses (for
	// machines where the operator blocks them otherwise, or where New
	// cannot run iptables).
	AllowMetadata bool
}

// Driver runs attempts in containers; see the package documentation.
type Driver struct {
	o      Options
	cli    *client.Client
	rootID string
	caps   backend.Capabilities
	relays *relays
}

// state is the handle's driver state.
type state struct {
	Container string `json:"container,omitempty"` // the engine's id
	Name      string `json:"name"`
}

// New connects to the engine, checks the agent binary and blocks the
// metadata addresses from containers.
func New(ctx context.Context, o Options) (*Driver, error) {
	if o.Root == "" {
		return nil, errs.E(errs.Invalid, "container backend: a root directory is required")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "container backend: root %q", o.Root)
	}
	o.Root = root
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "container backend: creating %s", o.Root)
	}
	if err := CheckStatic(o.AgentPath); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "container backend: agent %v", err)
	}
	if o.AgentArgs == nil {
		o.AgentArgs = []string{"agent"}
	}
	if o.Network == "" {
		o.Network = "bridge"
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if _, _, ok := imagecfg.NonRootUser(o.User); !ok {
		return nil, errs.E(errs.Invalid, "container backend: user %q: want a numeric non-root uid[:gid]", o.User)
	}
	if o.PidsLimit == 0 {
		o.PidsLimit = 4096
	}
	opts := []client.Opt{client.FromEnv}
	if o.Host != "" {
		opts = append(opts, client.WithHost(o.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "container backend: engine %q: %v", o.Host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "container backend: the engine at %q does not answer: %v", cli.DaemonHost(), err)
	}
	if !o.AllowMetadata {
		if err := BlockMetadata(); err != nil {
			cli.Close()
			return nil, errs.Wrap(errs.Unavailable, err, "container backend: blocking the cloud metadata addresses from containers: %v (run koya as root with iptables installed, or allow them explicitly)", err)
		}
	}
	sum := sha256.Sum256([]byte(o.Root))
	d := &Driver{o: o, cli: cli, rootID: hex.EncodeToString(sum[:6]), relays: newRelays()}
	d.caps = backend.Capabilities{NetworkIsolation: true, MemoryLimit: true, CPULimit: true, OOMDetection: canReadOOM(), Images: true}
	return d, nil
}

// Close stops the relays and the engine client; containers keep running
// (a new driver recovers them).
func (d *Driver) Close() error {
	d.relays.closeAll()
	return d.cli.Close()
}

func (d *Driver) Name() string                       { return Name }
func (d *Driver) Capabilities() backend.Capabilities { return d.caps }

// Client is the engine client (for tests and tools).
func (d *Driver) Client() *client.Client { return d.cli }

func (d *Driver) dir(attemptID string) string { return filepath.Join(d.o.Root, attemptID) }

// ContainerName is the attempt's container name: readable, and unique per
// driver root (two control planes on one engine do not collide).
func (d *Driver) ContainerName(attemptID string) string {
	sum := sha256.Sum256([]byte(d.rootID + "/" + attemptID))
	var b strings.Builder
	for _, c := range attemptID {
		if b.Len() >= 40 {
			break
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return "koya-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

func (d *Driver) handle(attemptID, id string) backend.Handle {
	raw, _ := json.Marshal(state{Container: id, Name: d.ContainerName(attemptID)})
	return backend.Handle{Version: backend.HandleVersion, Driver: Name, AttemptID: attemptID, State: raw}
}

// inspect finds the attempt's container; ok is false when there is none.
// Podman's compat API now and then fails an inspect while it removes
// another container (seen about once in a hundred under load): a failed
// inspect is asked again a few times before it counts.
func (d *Driver) inspect(ctx context.Context, attemptID string) (container.InspectResponse, bool, error) {
	var res client.ContainerInspectResult
	var err error
	for try := 0; try < 4; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return container.InspectResponse{}, false, engineErr(ctx.Err(), "inspecting the container of attempt %s", attemptID)
			case <-time.After(time.Duration(try) * 50 * time.Millisecond):
			}
		}
		res, err = d.cli.ContainerInspect(ctx, d.ContainerName(attemptID), client.ContainerInspectOptions{})
		if err == nil || cerrdefs.IsNotFound(err) || client.IsErrConnectionFailed(err) {
			break
		}
	}
	if cerrdefs.IsNotFound(err) {
		return container.InspectResponse{}, false, nil
	}
	if err != nil {
		return container.InspectResponse{}, false, engineErr(err, "inspecting the container of attempt %s", attemptID)
	}
	if res.Container.State == nil {
		res.Container.State = &container.State{}
	}
	return res.Container, true, nil
}

func engineErr(err error, format string, args ...any) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, format, args...)
	}
	if client.IsErrConnectionFailed(err) {
		return errs.Wrap(errs.Unavailable, err, format+": the engine is unreachable", args...)
	}
	return errs.Wrap(errs.Internal, err, format, args...)
}

// live: the container runs, or is created and about to.
func live(c container.InspectResponse) bool {
	return c.State.Running || c.State.Restarting || c.State.Paused || c.State.Status == "created"
}

// Start creates and starts the attempt's container, unless it exists. A
// lock on the attempt directory serialises concurrent Starts.
func (d *Driver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	if m.Resources.GPU > 0 {
		return backend.Handle{}, errs.At(errs.Invalid, "resources.gpu", "the container backend does not give GPUs to containers; use the kubernetes backend")
	}
	dir := d.dir(m.AttemptID)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return backend.Handle{}, errs.Wrap(errs.Internal, err, "creating the attempt directory")
	}
	unlock, err := sandbox.LockDir(dir)
	if err != nil {
		return backend.Handle{}, errs.Wrap(errs.Internal, err, "locking the attempt directory")
	}
	defer unlock()

	c, found, err := d.inspect(ctx, m.AttemptID)
	if err != nil {
		return backend.Handle{}, err
	}
	run := filepath.Join(dir, runDir)
	if found {
		if live(c) || agent.Delivered(run) {
			if err := d.relays.ensure(d, m.AttemptID, dir, m); err != nil {
				return backend.Handle{}, err
			}
			if c.State.Status == "created" {
				return d.startContainer(ctx, m.AttemptID, c.ID)
			}
			return d.handle(m.AttemptID, c.ID), nil
		}
		// It ended without delivering (its agent died): a new agent in
		// the same container delivers what is left, or reports it lost.
		if err := d.relays.ensure(d, m.AttemptID, dir, m); err != nil {
			return backend.Handle{}, err
		}
		return d.startContainer(ctx, m.AttemptID, c.ID)
	}
	if agent.Delivered(run) {
		return d.handle(m.AttemptID, ""), nil // ran, delivered, container removed
	}
	p, err := d.plan(ctx, m, dir)
	if err != nil {
		return backend.Handle{}, err
	}
	if err := d.prepare(dir, m, p); err != nil {
		return backend.Handle{}, err
	}
	if err := d.relays.ensure(d, m.AttemptID, dir, m); err != nil {
		return backend.Handle{}, err
	}
	res, err := d.cli.ContainerCreate(ctx, p.create)
	if cerrdefs.IsConflict(err) {
		// Another control plane created it a moment ago.
		c, found, ierr := d.inspect(ctx, m.AttemptID)
		if ierr != nil || !found {
			return backend.Handle{}, engineErr(err, "creating the container of attempt %s", m.AttemptID)
		}
		return d.handle(m.AttemptID, c.ID), nil
	}
	if err != nil {
		return backend.Handle{}, engineErr(err, "creating the container of attempt %s", m.AttemptID)
	}
	return d.startContainer(ctx, m.AttemptID, res.ID)
}

func (d *Driver) startContainer(ctx context.Context, attemptID, id string) (backend.Handle, error) {
	if _, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return backend.Handle{}, engineErr(err, "starting the container of attempt %s", attemptID)
	}
	return d.handle(attemptID, id), nil
}

// prepare lays out the attempt directory: the task manifest for the relay
// (the driver's, 0600), the relay's socket directory, and the agent's run
// directory with the container's manifest, owned by the container's user.
func (d *Driver) prepare(dir string, m *v1.TaskManifest, p *plan) error {
	if err := writeJSON(filepath.Join(dir, taskFile), m, 0o600); err != nil {
		return errs.Wrap(errs.Internal, err, "writing %s", taskFile)
	}
	if err := os.MkdirAll(filepath.Join(dir, sockDir), 0o755); err != nil {
		return errs.Wrap(errs.Internal, err, "creating the relay directory")
	}
	run := filepath.Join(dir, runDir)
	if err := os.MkdirAll(run, 0o700); err != nil {
		return errs.Wrap(errs.Internal, err, "creating the run directory")
	}
	mf := filepath.Join(run, agent.ManifestFile)
	if err := writeJSON(mf, p.manifest, 0o600); err != nil {
		return errs.Wrap(errs.Internal, err, "writing the container's manifest")
	}
	for _, path := range []string{run, mf} {
		if err := os.Lchown(path, p.uid, p.gid); err != nil {
			return errs.Wrap(errs.Internal, err, "giving %s to the container's user %d:%d (the container backend needs to run as root)", path, p.uid, p.gid)
		}
	}
	return nil
}

// Status: result.json decides; else a live container is Running; else Lost.
func (d *Driver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	dir := d.dir(h.AttemptID)
	if s, ok, err := d.result(dir); ok || err != nil {
		return s, err
	}
	c, found, err := d.inspect(ctx, h.AttemptID)
	if err != nil {
		return backend.Status{}, err
	}
	if found && live(c) {
		d.relays.ensureFromDisk(d, h.AttemptID, dir)
		return backend.Status{Phase: v1.Running}, nil
	}
	// The agent may have written its result and ended since the first look.
	if s, ok, err := d.result(dir); ok || err != nil {
		return s, err
	}
	return backend.Status{Phase: v1.Lost}, nil
}

// result reads the agent's result.json, with the OOM kill the relay saw.
func (d *Driver) result(dir string) (backend.Status, bool, error) {
	exit, ok, err := agent.ReadResult(filepath.Join(dir, runDir))
	if err != nil {
		return backend.Status{}, false, errs.Wrap(errs.Internal, err, "reading result.json")
	}
	if !ok {
		return backend.Status{}, false, nil
	}
	if exit.Signal == 9 && exists(filepath.Join(dir, oomFile)) {
		exit.OOMKilled = true
	}
	phase := v1.Failed
	if agent.ExitOK(exit) {
		phase = v1.Succeeded
	}
	return backend.Status{Phase: phase, Exit: &exit}, true, nil
}

// Stop leaves a cancel file (a restarted agent honours it too) and sends
// SIGTERM to the agent, which stops the command and reports the cancel.
func (d *Driver) Stop(ctx context.Context, h backend.Handle) error {
	dir := d.dir(h.AttemptID)
	run := filepath.Join(dir, runDir)
	if !exists(run) {
		return nil
	}
	if _, ok, _ := agent.ReadResult(run); ok {
		return nil
	}
	if err := os.WriteFile(filepath.Join(run, agent.CancelFile), nil, 0o644); err != nil {
		return errs.Wrap(errs.Internal, err, "writing the cancel file")
	}
	c, found, err := d.inspect(ctx, h.AttemptID)
	if err != nil || !found || !c.State.Running {
		return err
	}
	_, err = d.cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "SIGTERM"})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return engineErr(err, "signalling the container of attempt %s", h.AttemptID)
	}
	return nil
}

// Recover finds the attempt's container by name (its labels say whose it
// is) and serves its relay again. A container whose agent died with its
// result undelivered (a reboot) is started again to deliver it.
func (d *Driver) Recover(ctx context.Context, h backend.Handle) error {
	dir := d.dir(h.AttemptID)
	run := filepath.Join(dir, runDir)
	c, found, err := d.inspect(ctx, h.AttemptID)
	if err != nil {
		return err
	}
	if !found || c.Config == nil || c.Config.Labels[LabelRoot] != d.rootID || c.Config.Labels[LabelAttempt] != h.AttemptID {
		if exists(filepath.Join(dir, taskFile)) && agent.Delivered(run) {
			return nil
		}
		return errs.E(errs.NotFound, "attempt %s has no container %s", h.AttemptID, d.ContainerName(h.AttemptID))
	}
	m, err := readTask(dir)
	if err != nil {
		return errs.Wrap(errs.NotFound, err, "attempt %s: its task manifest is gone from %s", h.AttemptID, dir)
	}
	if err := d.relays.ensure(d, h.AttemptID, dir, m); err != nil {
		return err
	}
	if live(c) || agent.Delivered(run) {
		return nil
	}
	if _, ok, _ := agent.ReadResult(run); !ok {
		return nil // died mid-command: Status says Lost
	}
	_, err = d.startContainer(ctx, h.AttemptID, c.ID)
	return err
}

// Cleanup removes the container and the attempt directory once the agent
// has ended. An agent with a result is finishing its delivery (the engine
// cleans up once it ingested the exit): it is given a few seconds. A live
// container without a result is left alone.
func (d *Driver) Cleanup(ctx context.Context, h backend.Handle) error {
	dir := d.dir(h.AttemptID)
	run := filepath.Join(dir, runDir)
	c, found, err := d.inspect(ctx, h.AttemptID)
	if err != nil {
		return err
	}
	if found && c.Config != nil && c.Config.Labels[LabelRoot] != d.rootID {
		found = false // another root's: not ours to remove
	}
	for i := 0; found && live(c); i++ {
		if _, ok, _ := agent.ReadResult(run); !ok || i == 100 {
			if !ok {
				return nil
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
		if c, found, err = d.inspect(ctx, h.AttemptID); err != nil {
			return err
		}
	}
	if found {
		if err := d.remove(ctx, c.ID); err != nil {
			return engineErr(err, "removing the container of attempt %s", h.AttemptID)
		}
	}
	d.relays.close(h.AttemptID)
	if err := os.RemoveAll(dir); err != nil {
		return errs.Wrap(errs.Internal, err, "removing %s", dir)
	}
	return nil
}

// remove force-removes a container. A container caught while it stops
// is refused by Podman ("could not be stopped"): asked again shortly.
func (d *Driver) remove(ctx context.Context, id string) error {
	var err error
	for i := 0; i < 20; i++ {
		_, err = d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

func readTask(dir string) (*v1.TaskManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, taskFile))
	if err != nil {
		return nil, err
	}
	var m v1.TaskManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// writeJSON replaces path atomically.
func writeJSON(path string, v any, mode os.FileMode) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

var _ backend.Driver = (*Driver)(nil)

// Root is the directory of the attempts.
func (d *Driver) Root() string { return d.o.Root }

// RootID is the value of the koya.root label on this driver's containers.
func (d *Driver) RootID() string { return d.rootID }
