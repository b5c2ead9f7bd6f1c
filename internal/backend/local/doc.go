// Package local is the backend that runs attempts as processes on this
// machine, each under its own koya agent; the agents of one Root live in
// one process, the agent host.
//
// Start creates Root/<attempt>/ (0700), writes manifest.json (0600: it
// holds the attempt's token) and asks the root's agent host, over the Unix
// socket Root/agent.sock (0600), to run it. When no host answers, the
// driver launches `<AgentPath> agent --host <Root>` detached: in its own
// session, stdin from /dev/null, output appended to Root/agent-host.log.
// The host therefore outlives the control plane (a kill -9 of it does not
// reach the host), and a new driver over the same Root finds the host and
// the attempts in their directories. A host of another binary version is
// drained (it keeps its running attempts to their end, then exits) and
// replaced; an idle host exits after KOYA_AGENT_HOST_IDLE (5m).
//
// Why one process: an agent process per attempt cost tens of milliseconds
// of CPU (a 58 MB static binary starting) per step; an agent in a
// goroutine costs about what forking the command does (bench/RESULTS.md).
// Each attempt still has its own agent — directory, lock, outbox, result
// and retry loop — exactly as `koya agent --manifest` has in a container.
//
//	manifest.json  what to run (driver); its agent holds a lock on it
//	               for its life, which is how Status tells a live agent
//	agent.log      the attempt's agent log, when it has something to say
//	cancel         Stop's request, for this agent and any restarted one
//	run.json       created before the command starts, then its pid (agent)
//	result.json    the command's v1.Exit (agent): Status reads it
//	outbox/        events and log lines until acknowledged (agent)
//
// Cleanup, once the engine ingested the exit, moves the directory into
// Root/.trash, emptied in the background when nothing has started for 2 s
// (or 5 min after its oldest entry came): deletion neither holds up the
// engine nor runs among the next tasks' file creations (see trash).
//
// The host's environment is PATH, HOME, USER, LANG, LC_*, TZ, TMPDIR and
// KOYA_AGENT_* from the control plane, plus Options.Env: never the control
// plane's other variables, which may hold its secrets. Its agents do not
// fsync their records (agent.Options.NoFsync): they survive the death of
// the agent host or of the control plane in the page cache; a machine
// crash, which ends every attempt of the machine anyway, may lose the last
// seconds of them (set KOYA_AGENT_FSYNC=true to fsync each record).
//
// # What is enforced
//
// The agent enforces limits on the user command (package sandbox);
// Capabilities reports what this machine allows, probed once:
//
//   - network: none — on Linux as root, the command starts in a fresh
//     network namespace (CLONE_NEWNET): only a loopback interface, down; no
//     route anywhere, 127.0.0.1 included. The agent keeps the host network.
//     Not root: NetworkIsolation is false, the portable Backend refuses such
//     steps, and an agent given one anyway reports the exit error
//     "network: none needs root on the local backend" before running
//     anything.
//   - memory — with cgroup v2 (/sys/fs/cgroup a cgroup2 mount whose memory
//     controller this process may delegate to a child group): memory.max
//     (and memory.swap.max 0) on a per-attempt child group; OOM kills are
//     read from memory.events (oom_kill) and the peak from memory.peak.
//     Without it: RLIMIT_AS on the command, applied while the command is
//     stopped right after exec (it starts traced, then prlimit, then
//     detach), so no user code runs unlimited. RLIMIT_AS caps each
//     process's virtual address space, not the sum of their resident
//     memory, and programs that reserve much more than they touch (JVMs,
//     Go, some BLAS builds with many threads) can fail below the limit. An
//     allocation past it fails inside the program (MemoryError,
//     "memory exhausted", …) with the program's own exit code: it is not
//     detectable as an OOM kill, so OOMDetection is false.
//   - cpu — cpu.max on the same cgroup v2 group (quota = cpu × 100ms per
//     100ms); without cgroup v2, not enforced (CPULimit false).
//   - peak memory — memory.peak with cgroup v2; else ru_maxrss of the
//     command from wait4 (the largest of it and the descendants it waited
//     for, not their sum).
//   - GPU and images — no: commands run on the host's filesystem.
//
// cgroup v1 is not used: it is legacy, and on hybrid hosts its hierarchies
// belong to whoever set the host up. To get cgroup enforcement, run koya
// on a cgroup v2 host in a delegated group (systemd Delegate=yes) whose
// cgroup.subtree_control enables memory and cpu, or as the root group of a
// container's cgroup namespace.
//
// On the machine this was developed on (Linux 6.18, root, cgroups in
// hybrid mode: /sys/fs/cgroup is a tmpfs of v1 hierarchies, and the
// cgroup2 mount at /sys/fs/cgroup/unified offers only hugetlb) that gives:
// network: none enforced; memory as RLIMIT_AS; CPU not enforced; OOM not
// detected — Capabilities{NetworkIsolation: true, MemoryLimit: true,
// CPULimit: false, OOMDetection: false, GPU: false, Images: false}.
package local
