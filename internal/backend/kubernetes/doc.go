// Package kubernetes is the backend that runs each attempt as one Pod
// (restartPolicy Never) through client-go.
//
// # Per attempt
//
// A Secret and a Pod, both named PodName(attempt id) in the project's
// namespace: the same attempt always maps to the same names, and Start
// treats AlreadyExists as success, so a Start repeated after a crash never
// runs an attempt twice. The Secret holds the agent's manifest (it holds
// the attempt's token: a Secret, not a ConfigMap).
//
//	init container koya-agent   image Options.AgentImage (a static koya at /koya);
//	                            runs `koya server install-agent /koya-agent`
//	                            (InstallAgent) into the emptyDir koya-agent
//	container task              the step's image; command
//	                            /koya/koya agent --manifest /koya/run/manifest.json
//	  /koya                     emptyDir koya-agent, read-only
//	  /koya/run                 emptyDir koya-run: the agent's outbox, work/
//	  /koya/run/manifest.json   the Secret's manifest.json (subPath, read-only)
//	  /tmp                      emptyDir, when the root filesystem is read-only
//
// The manifest's command is the image's ENTRYPOINT followed by the
// step's command, read from the image config at Start (Options.Resolver:
// go-containerregistry with the server's registry keychain, cached), so
// the cluster needs no registry credentials of koya's at run time. The
// agent then works exactly as on the local and container backends:
// secrets, inputs, live logs with secret values masked, outputs, outbox,
// typed exit. Its own exit code is the container's.
//
// # Locked down
//
// Every pod passes the Pod Security "restricted" profile (its namespace
// enforces it; the unit tests check every pod shape with
// k8s.io/pod-security-admission): non-root (the image's numeric USER,
// else 65534), no privilege escalation, all capabilities dropped, seccomp
// RuntimeDefault, a read-only root filesystem with an emptyDir /tmp
// unless the step's working directory is in the image, the ServiceAccount
// koya-task with automountServiceAccountToken false. Resources: cpu and
// memory requests = limits, nvidia.com/gpu as a limit (with a toleration
// of the nvidia.com/gpu taint). nodeSelector and tolerations come from
// the step, merged over the project's (Options.ProjectPlacement).
//
// # Per project
//
// A namespace NamespacePrefix+project labelled
// pod-security.kubernetes.io/enforce=restricted, the ServiceAccount, and
// NetworkPolicies: koya-deny-ingress (no ingress to any task);
// koya-network-none for pods labelled koya.dev/network=none, whose only
// egress is DNS (kube-dns in kube-system) and the control plane: the
// addresses of Options.ServerURL's host (resolved at New) or
// Options.ServerCIDRs, on its port (koya server --kubernetes-server-url,
// --kubernetes-server-cidr); koya-egress for the others: anywhere but the
// cloud metadata addresses 169.254.169.254/32 and fd00:ec2::254/128.
// NetworkPolicies need a network plugin that enforces them.
//
// # Status from a watch
//
// New starts an informer over the pods labelled with this instance
// (app.kubernetes.io/managed-by=koya, koya.dev/instance) and Status
// answers from its cache: pending or running is Running; Succeeded or
// Failed carry the task container's terminated state (exit code; signal
// = code-128 above 128; reason OOMKilled sets OOMKilled; the pod's reason
// DeadlineExceeded sets TimedOut). A pod that is gone is what its last
// terminal state said, or what the driver deleted it for — Stop
// ("cancelled") and the driver's deadline ("timeout": the step's timeout
// plus TimeoutGrace; the agent enforces the timeout itself and this is
// the backstop) are recorded on the attempt's Secret before the pod is
// deleted — else Lost. The informer's events also tell the engine
// (SetNotifier: engine.TaskEnded) as soon as a pod terminates or is
// deleted, so that an attempt whose agent never reported (kwok; an agent
// killed with its pod) is finished from this status without waiting for
// staleness, and every ended attempt is cleaned up (Cleanup: pod and
// Secret deleted, propagation background) once its outcome is recorded.
//
// Recover after a control-plane restart finds the pod by its attempt
// annotation among the pods the new informer listed.
//
// # kwok
//
// Under kwok no container runs: with Options.Simulate the pod is
// annotated with the outcome its command asks for in the mock backend's
// script language (kwokAnnotations), which koya's kwok stages
// (scripts/kube.sh) play; real commands succeed. Use NoResolve for
// images that exist nowhere.
//
// # Permissions
//
// The control plane's credentials need: namespaces create/get;
// serviceaccounts create; networkpolicies create/get/update; pods
// create/get/list/watch/delete cluster-wide; secrets
// create/get/patch/delete.
package kubernetes
