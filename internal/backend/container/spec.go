package container

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/backend/imagecfg"
)

// plan is what Start makes of a manifest: the container's manifest (what
// its agent runs), the container to create, and its user.
type plan struct {
	manifest *v1.TaskManifest
	create   client.ContainerCreateOptions
	uid, gid int
}

// plan resolves the step's image (its config gives the entrypoint, the
// user and the working directory) and builds the locked-down container.
func (d *Driver) plan(ctx context.Context, m *v1.TaskManifest, dir string) (*plan, error) {
	ref := m.Image
	if ref == "" {
		ref = d.o.DefaultImage
	}
	if ref == "" {
		return nil, errs.At(errs.Invalid, "image", "the container backend runs steps in their image, and this step names none")
	}
	img, err := d.image(ctx, ref)
	if err != nil {
		return nil, err
	}
	var entrypoint []string
	var imgUser, imgWorkDir string
	if img.Config != nil {
		entrypoint, imgUser, imgWorkDir = img.Config.Entrypoint, img.Config.User, img.Config.WorkingDir
	}
	mem, err := v1.MemoryBytes(m.Resources.Memory)
	if err != nil {
		return nil, errs.At(errs.Invalid, "resources.memory", "%v", err)
	}
	if m.Resources.CPU < 0 {
		return nil, errs.At(errs.Invalid, "resources.cpu", "%v is negative", m.Resources.CPU)
	}
	user := d.o.User
	if u, g, ok := imagecfg.NonRootUser(imgUser); ok {
		user = fmt.Sprintf("%d:%d", u, g)
	}
	uid64, gid64, err := imagecfg.ParseUser(user)
	if err != nil {
		return nil, errs.E(errs.Invalid, "container backend: user: %v", err)
	}
	uid, gid := int(uid64), int(gid64)
	wd, readonly := imagecfg.WorkDir(m.WorkDir, imgWorkDir, runInContainer)
	readonly = readonly && !d.o.WritableRootfs

	// The container's manifest: the image's entrypoint before the step's
	// command; the relay's socket for a server, and no token (the relay
	// adds it); network and resources are the container's, not the agent's.
	cm := *m
	cm.Server, cm.Token = ServerInContainer, ""
	cm.Command = append(append([]string(nil), entrypoint...), m.Command...)
	cm.WorkDir = wd
	cm.Network = ""
	cm.Resources = v1.Resources{}
	cm.Image = ref

	network := d.o.Network
	if m.Network == "none" {
		network = "none"
	}
	env := append([]string(nil), d.o.Env...)
	if !hasKey(env, "KOYA_AGENT_FSYNC") {
		env = append(env, "KOYA_AGENT_FSYNC=false")
	}
	pids := d.o.PidsLimit
	hc := &container.HostConfig{
		Binds: []string{
			d.o.AgentPath + ":" + agentInContainer + ":ro",
			filepath.Join(dir, runDir) + ":" + runInContainer + ":rw",
			filepath.Join(dir, sockDir) + ":" + sockInContainer + ":ro",
		},
		NetworkMode:    container.NetworkMode(network),
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: readonly,
		Resources: container.Resources{
			Memory:    mem,
			NanoCPUs:  int64(m.Resources.CPU * 1e9),
			PidsLimit: &pids,
		},
	}
	if mem > 0 {
		hc.MemorySwap = mem // no swap
	}
	if readonly {
		hc.Tmpfs = map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"}
	}
	cmd := append(append([]string(nil), d.o.AgentArgs...), "--manifest", runInContainer+"/"+agent.ManifestFile)
	return &plan{
		manifest: &cm,
		uid:      uid,
		gid:      gid,
		create: client.ContainerCreateOptions{
			Name: d.ContainerName(m.AttemptID),
			Config: &container.Config{
				Image:      img.ID,
				Entrypoint: []string{agentInContainer},
				Cmd:        cmd,
				Env:        env,
				User:       fmt.Sprintf("%d:%d", uid, gid),
				WorkingDir: runInContainer,
				Labels: map[string]string{
					LabelAttempt: m.AttemptID, LabelProject: m.Project, LabelRun: m.RunID,
					LabelStep: m.Step, LabelRoot: d.rootID, "koya.image": ref,
				},
			},
			HostConfig: hc,
		},
	}, nil
}

// image inspects ref, pulling it when the engine does not have it.
func (d *Driver) image(ctx context.Context, ref string) (image.InspectResponse, error) {
	res, err := d.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		pull, perr := d.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
		if perr == nil {
			_, perr = io.Copy(io.Discard, pull)
			pull.Close()
		}
		if perr != nil {
			return image.InspectResponse{}, errs.At(errs.Invalid, "image", "image %q is not on the engine's host and pulling it failed: %v", ref, perr)
		}
		res, err = d.cli.ImageInspect(ctx, ref)
	}
	if cerrdefs.IsNotFound(err) {
		return image.InspectResponse{}, errs.At(errs.Invalid, "image", "image %q is not on the engine's host", ref)
	}
	if err != nil {
		return image.InspectResponse{}, engineErr(err, "inspecting image %q", ref)
	}
	return res.InspectResponse, nil
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}
