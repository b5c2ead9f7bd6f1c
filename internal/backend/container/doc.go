// Package container is the backend that runs each attempt in a container
// of the step's image, through the Docker Engine API: Docker itself, or
// Podman's Docker-compatible service (`podman system service`).
//
// # Agent injection
//
// The user's image is run with the koya agent bind-mounted read-only at
// /koya/koya (a static binary: the server's own executable when it is
// static, else Options.AgentPath) and the container's command rewritten to
//
//	/koya/koya agent --manifest /koya/run/manifest.json
//
// The manifest's Command is the image's ENTRYPOINT followed by the step's
// command, which replaces the image's CMD as `docker run image cmd...`
// does; both are read from the image config (ImageInspect) at Start. The
// agent then works exactly as on the local backend: secrets, inputs, live
// logs with secret values masked, outputs, outbox, typed exit.
//
// # Host layout
//
//	Root/<attempt>/            0700, the driver's (root's)
//	  task.json                the manifest as the engine gave it (token, server URL)
//	  oom                      the relay saw the container's cgroup OOM-kill
//	  sock/agent.sock          the relay          → /koya/sock (read-only)
//	  run/                     the agent's, owned by the task uid → /koya/run
//	    manifest.json          the container's manifest: no token
//	    outbox/ result.json run.json cancel    as on the local backend
//	    work/                  the command's working directory
//
// # Reaching the control plane: a relay on a Unix socket
//
// Each attempt's agent talks HTTP over the Unix socket /koya/sock/agent.sock
// (its manifest says server unix:///koya/sock/agent.sock), which the driver
// serves on the host and forwards to the control plane's URL. This was
// chosen over giving tasks a network path to the control plane because:
//
//   - network: none containers get NetworkMode "none" — no interface but
//     loopback — and still report; steps with egress get the engine's
//     bridge network and need no route to the control plane either.
//   - the relay accepts only the attempt's own agent routes
//     (/api/v1/agent/attempts/<id>/...) and adds the attempt's token
//     itself: the token never enters the container, where the user's
//     command, running as the same uid as the agent, could read it.
//   - it is where the driver adds what only the host can tell: an exit by
//     SIGKILL is reported OOM-killed when the container's memory cgroup
//     counted an OOM kill (the agent inside, unprivileged and under a
//     cgroup v1 or v2 hierarchy it does not own, cannot tell).
//
// The relay lives in the control plane. When it restarts, the agents'
// requests fail and their outboxes keep events and log lines; the new
// driver's Recover (and Status, Start) listens again at the same path and
// the agents deliver what they kept. A control plane on another machine
// than the engine cannot serve the socket: the driver needs the engine's
// host (the local socket, or DOCKER_HOST naming this machine).
//
// # Locked down by default
//
// Every container runs as a non-root user (the image's USER when it is a
// numeric uid other than 0, else 65534:65534), with all capabilities
// dropped, no-new-privileges, the engine's default seccomp profile, a pids
// limit, a read-only root filesystem with a tmpfs /tmp (unless the step's
// working directory is in the image: the image's WORKDIR or an absolute
// workingDir, which the command may write to; or Options.WritableRootfs),
// memory (no swap) and CPU limits from the step's resources, and labels
// koya.attempt, koya.project, koya.run, koya.step, koya.root by which
// Recover and Cleanup find it. Containers with network: none get no
// network; the others get the engine's bridge network, and none can reach
// the cloud metadata addresses 169.254.169.254 and fd00:ec2::254: New
// installs, idempotently, a rule in the raw table's PREROUTING chain that
// drops packets to them arriving on any interface but loopback (container
// traffic enters the host's stack through its bridge or veth; the host's
// own traffic does not pass there). The raw table is consulted before any
// rule the engine's network backend adds, so no later ACCEPT can bypass it.
// Rootless engines (slirp4netns) send container traffic from a host
// process: there, block the addresses on the host instead.
//
// Stop writes the attempt's cancel file and sends SIGTERM to the
// container's first process, the agent, which stops the command (SIGTERM,
// then SIGKILL after its grace) and reports the cancel.
package container
