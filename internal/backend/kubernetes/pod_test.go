package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
)

// images is a hand-written Resolver: configs by reference, and a count.
type images struct {
	mu    sync.Mutex
	cfg   map[string]ImageConfig
	calls int
}

func (r *images) Resolve(ctx context.Context, ref string) (ImageConfig, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	c, ok := r.cfg[ref]
	if !ok {
		return ImageConfig{}, errs.At(errs.Invalid, "image", "no image %q", ref)
	}
	return c, nil
}

func newFake(t *testing.T, tune func(*Options)) (*Driver, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset()
	o := Options{
		Client: cs, AgentImage: "koya/agent:test", ServerURL: "http://10.1.2.3:7070", Instance: "unit",
		Resolver: &images{cfg: map[string]ImageConfig{
			"python:3.11":       {Entrypoint: nil, WorkingDir: ""},
			"trainer:1":         {Entrypoint: []string{"/usr/bin/tini", "--"}, User: "1000:2000"},
			"root-user:1":       {User: "0"},
			"named-user:1":      {User: "app"},
			"with-workdir:1":    {WorkingDir: "/app"},
			"ghcr.io/x/gpu:1.0": {Entrypoint: []string{"python3"}},
		}},
	}
	if tune != nil {
		tune(&o)
	}
	d, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, cs
}

func manifest(id string, mut func(*v1.TaskManifest)) *v1.TaskManifest {
	m := &v1.TaskManifest{AttemptID: id, Project: "churn", RunID: "run-1", Step: "train", Number: 1,
		Server: "http://127.0.0.1:7070", Token: "tok-" + id, Command: []string{"python3", "train.py"}, Image: "python:3.11"}
	if mut != nil {
		mut(m)
	}
	return m
}

func getPod(t *testing.T, cs *fake.Clientset, d *Driver, m *v1.TaskManifest) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(d.Namespace(m.Project)).Get(context.Background(), PodName(m.AttemptID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// restricted evaluates a pod against the Pod Security "restricted" profile.
func restricted(t *testing.T, p *corev1.Pod) []string {
	t.Helper()
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, r := range ev.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &p.ObjectMeta, &p.Spec) {
		if !r.Allowed {
			problems = append(problems, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return problems
}

// TestEveryPodShapePassesRestricted builds every shape of pod koya makes
// and checks it with the pod-security-admission evaluator, and what each
// shape must hold.
func TestEveryPodShapePassesRestricted(t *testing.T) {
	d, cs := newFake(t, func(o *Options) {
		o.ProjectPlacement = func(ctx context.Context, project string) (map[string]string, []v1.Toleration, error) {
			return map[string]string{"pool": "batch", "zone": "a"}, []v1.Toleration{{Key: "batch", Operator: "Exists", Effect: "NoSchedule"}}, nil
		}
	})
	secs := int64(30)
	shapes := []struct {
		name  string
		mut   func(*v1.TaskManifest)
		check func(t *testing.T, p *corev1.Pod, m v1.TaskManifest)
	}{
		{"plain", nil, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			c := p.Spec.Containers[0]
			if !*c.SecurityContext.ReadOnlyRootFilesystem || !hasMount(c, "/tmp") {
				t.Error("a step working in the agent's directory gets a read-only root and a /tmp emptyDir")
			}
			if m.WorkDir != "work" || !slices.Equal(m.Command, []string{"python3", "train.py"}) {
				t.Errorf("agent manifest workingDir %q command %q", m.WorkDir, m.Command)
			}
			if *p.Spec.SecurityContext.RunAsUser != DefaultUID {
				t.Errorf("uid %d", *p.Spec.SecurityContext.RunAsUser)
			}
			if p.Labels[LabelNetwork] != "egress" {
				t.Errorf("network label %q", p.Labels[LabelNetwork])
			}
		}},
		{"entrypoint-and-user", func(m *v1.TaskManifest) { m.Image = "trainer:1" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if !slices.Equal(m.Command, []string{"/usr/bin/tini", "--", "python3", "train.py"}) {
				t.Errorf("the image's entrypoint is not before the step's command: %q", m.Command)
			}
			c := p.Spec.Containers[0]
			if *c.SecurityContext.RunAsUser != 1000 || *c.SecurityContext.RunAsGroup != 2000 || *p.Spec.SecurityContext.FSGroup != 2000 {
				t.Errorf("the image's numeric user 1000:2000 is not used: %+v", c.SecurityContext)
			}
		}},
		{"root-image", func(m *v1.TaskManifest) { m.Image = "root-user:1" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if *p.Spec.Containers[0].SecurityContext.RunAsUser != DefaultUID {
				t.Error("an image whose USER is root must run as the default uid")
			}
		}},
		{"named-user", func(m *v1.TaskManifest) { m.Image = "named-user:1" }, nil},
		{"gpu", func(m *v1.TaskManifest) {
			m.Image = "ghcr.io/x/gpu:1.0"
			m.Resources = v1.Resources{CPU: 2.5, Memory: "4Gi", GPU: 2}
		}, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			r := p.Spec.Containers[0].Resources
			if r.Limits.Cpu().MilliValue() != 2500 || r.Requests.Cpu().MilliValue() != 2500 ||
				r.Limits.Memory().Value() != 4<<30 || r.Requests.Memory().Value() != 4<<30 {
				t.Errorf("resources %+v", r)
			}
			if g := r.Limits[GPUResource]; g.Value() != 2 {
				t.Errorf("nvidia.com/gpu limit %v", r.Limits)
			}
			if !slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return t.Key == string(GPUResource) }) {
				t.Errorf("no nvidia.com/gpu toleration: %+v", p.Spec.Tolerations)
			}
		}},
		{"network-none", func(m *v1.TaskManifest) { m.Network = "none" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if p.Labels[LabelNetwork] != "none" {
				t.Errorf("network label %q", p.Labels[LabelNetwork])
			}
		}},
		{"image-workdir", func(m *v1.TaskManifest) { m.Image = "with-workdir:1" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if *p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem || m.WorkDir != "/app" {
				t.Error("a step working in the image's WORKDIR needs a writable root filesystem")
			}
		}},
		{"absolute-workdir", func(m *v1.TaskManifest) { m.WorkDir = "/data/out" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if *p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem {
				t.Error("a step working in /data/out needs a writable root filesystem")
			}
		}},
		{"tmp-workdir", func(m *v1.TaskManifest) { m.WorkDir = "/tmp/w" }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if !*p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem {
				t.Error("a step working in /tmp keeps a read-only root filesystem")
			}
		}},
		{"secrets", func(m *v1.TaskManifest) { m.Secrets = []string{"WANDB_KEY"}; m.Env = map[string]string{"A": "b"} }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if !slices.Equal(m.Secrets, []string{"WANDB_KEY"}) || m.Env["A"] != "b" {
				t.Errorf("manifest secrets %v env %v", m.Secrets, m.Env)
			}
			for _, e := range p.Spec.Containers[0].Env {
				if e.Name == "WANDB_KEY" || e.ValueFrom != nil {
					t.Errorf("a secret reached the pod spec: %+v", e)
				}
			}
		}},
		{"placement", func(m *v1.TaskManifest) {
			m.NodeSelector = map[string]string{"zone": "b", "disk": "ssd"}
			m.Tolerations = []v1.Toleration{{Key: "spot", Operator: "Equal", Value: "true", Effect: "NoExecute", TolerationSeconds: &secs}}
		}, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			want := map[string]string{"pool": "batch", "zone": "b", "disk": "ssd"}
			if fmt.Sprint(p.Spec.NodeSelector) != fmt.Sprint(want) {
				t.Errorf("nodeSelector %v, want %v (the step's keys over the project's)", p.Spec.NodeSelector, want)
			}
			if len(p.Spec.Tolerations) != 2 || p.Spec.Tolerations[1].Key != "spot" || *p.Spec.Tolerations[1].TolerationSeconds != 30 {
				t.Errorf("tolerations %+v", p.Spec.Tolerations)
			}
			if m.NodeSelector != nil || m.Tolerations != nil {
				t.Error("placement leaked into the agent's manifest")
			}
		}},
		{"timeout", func(m *v1.TaskManifest) { m.Timeout = v1.Duration{Duration: 90 * time.Second} }, func(t *testing.T, p *corev1.Pod, m v1.TaskManifest) {
			if p.Spec.ActiveDeadlineSeconds == nil || *p.Spec.ActiveDeadlineSeconds != 90+120 || p.Annotations[AnnotationDeadline] == "" {
				t.Errorf("activeDeadlineSeconds %v, deadline %q", p.Spec.ActiveDeadlineSeconds, p.Annotations[AnnotationDeadline])
			}
		}},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			m := manifest("shape-"+sh.name, sh.mut)
			if _, err := d.Start(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			p := getPod(t, cs, d, m)
			if problems := restricted(t, p); len(problems) > 0 {
				t.Fatalf("pod %s fails Pod Security restricted:\n%s", sh.name, strings.Join(problems, "\n"))
			}
			am := commonChecks(t, cs, d, p, m)
			if sh.check != nil {
				sh.check(t, p, am)
			}
		})
	}
}

func hasMount(c corev1.Container, path string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
}

// commonChecks: what every pod holds. It returns the agent's manifest.
func commonChecks(t *testing.T, cs *fake.Clientset, d *Driver, p *corev1.Pod, m *v1.TaskManifest) v1.TaskManifest {
	t.Helper()
	s := p.Spec
	if s.RestartPolicy != corev1.RestartPolicyNever || s.ServiceAccountName != ServiceAccountName ||
		s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("restartPolicy %s, serviceAccount %s, automount %v", s.RestartPolicy, s.ServiceAccountName, s.AutomountServiceAccountToken)
	}
	if p.Namespace != "koya-churn" || p.Annotations[AnnotationAttempt] != m.AttemptID || p.Labels[LabelAttempt] == "" ||
		p.Labels[LabelProject] != "churn" || p.Labels[LabelRun] != "run-1" || p.Labels[LabelStep] != "train" {
		t.Errorf("namespace %s labels %v annotations %v", p.Namespace, p.Labels, p.Annotations)
	}
	if len(s.InitContainers) != 1 || s.InitContainers[0].Image != "koya/agent:test" {
		t.Fatalf("init containers %+v", s.InitContainers)
	}
	c := s.Containers[0]
	if c.Image != m.Image || !slices.Equal(c.Command, []string{"/koya/koya"}) || !slices.Equal(c.Args, []string{"agent", "--manifest", "/koya/run/manifest.json"}) {
		t.Errorf("task container image %s command %q args %q", c.Image, c.Command, c.Args)
	}
	for _, mnt := range c.VolumeMounts {
		if mnt.MountPath == "/koya" && !mnt.ReadOnly || mnt.MountPath == manifestPath && !mnt.ReadOnly {
			t.Errorf("%s is mounted writable", mnt.MountPath)
		}
	}
	sec, err := cs.CoreV1().Secrets(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var am v1.TaskManifest
	if err := json.Unmarshal(sec.Data[manifestKey], &am); err != nil {
		t.Fatal(err)
	}
	if am.Token != m.Token || am.Server != "http://10.1.2.3:7070" || am.AttemptID != m.AttemptID {
		t.Errorf("agent manifest token %q server %q", am.Token, am.Server)
	}
	return am
}

// TestRestrictedCheckCanFail: the evaluator used above refuses what
// koya must never generate, so the shape test proves something.
func TestRestrictedCheckCanFail(t *testing.T) {
	d, cs := newFake(t, nil)
	m := manifest("weakened", nil)
	if _, err := d.Start(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	for name, weaken := range map[string]func(p *corev1.Pod){
		"root":         func(p *corev1.Pod) { z := int64(0); p.Spec.Containers[0].SecurityContext.RunAsUser = &z },
		"escalation":   func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil },
		"capabilities": func(p *corev1.Pod) { p.Spec.InitContainers[0].SecurityContext.Capabilities = nil },
		"seccomp": func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = nil
			p.Spec.Containers[0].SecurityContext.SeccompProfile = nil
		},
		"hostPath": func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		},
	} {
		p := getPod(t, cs, d, m)
		weaken(p)
		if len(restricted(t, p)) == 0 {
			t.Errorf("%s: a weakened pod passed the restricted check", name)
		}
	}
}

// TestProjectObjects: the namespace enforces restricted; the service
// account mounts no token; the network policies say what the doc says.
func TestProjectObjects(t *testing.T) {
	d, cs := newFake(t, nil)
	if _, err := d.Start(context.Background(), manifest("a", nil)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "koya-churn", metav1.GetOptions{})
	if err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace %+v %v", ns, err)
	}
	sa, err := cs.CoreV1().ServiceAccounts("koya-churn").Get(ctx, ServiceAccountName, metav1.GetOptions{})
	if err != nil || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Fatalf("service account %+v %v", sa, err)
	}
	none, err := cs.NetworkingV1().NetworkPolicies("koya-churn").Get(ctx, PolicyNetworkNone, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if none.Spec.PodSelector.MatchLabels[LabelNetwork] != "none" || len(none.Spec.Egress) != 2 {
		t.Fatalf("network-none policy %+v", none.Spec)
	}
	cp := none.Spec.Egress[1]
	if cp.To[0].IPBlock.CIDR != "10.1.2.3/32" || cp.Ports[0].Port.IntValue() != 7070 {
		t.Errorf("network-none pods reach %+v, want the control plane 10.1.2.3/32:7070 only", cp)
	}
	if none.Spec.Egress[0].Ports[0].Port.IntValue() != 53 {
		t.Errorf("network-none pods do not reach DNS: %+v", none.Spec.Egress[0])
	}
	eg, err := cs.NetworkingV1().NetworkPolicies("koya-churn").Get(ctx, PolicyEgress, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var blocked []string
	for _, peer := range eg.Spec.Egress[0].To {
		blocked = append(blocked, peer.IPBlock.CIDR+" except "+strings.Join(peer.IPBlock.Except, ","))
	}
	if want := "0.0.0.0/0 except 169.254.169.254/32|::/0 except fd00:ec2::254/128"; strings.Join(blocked, "|") != want {
		t.Errorf("egress policy %q, want %q", blocked, want)
	}
	if _, err := cs.NetworkingV1().NetworkPolicies("koya-churn").Get(ctx, PolicyNoIngress, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
}

// TestStartIsIdempotent: concurrent and repeated Starts of one attempt
// create one pod, and give the same handle.
func TestStartIsIdempotent(t *testing.T) {
	d, cs := newFake(t, nil)
	var created int
	var mu sync.Mutex
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		created++
		mu.Unlock()
		return false, nil, nil
	})
	m := manifest("once", nil)
	hs := make([]backend.Handle, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := d.Start(context.Background(), m)
			if err != nil {
				t.Error(err)
			}
			hs[i] = h
		}()
	}
	wg.Wait()
	pods, _ := cs.CoreV1().Pods("koya-churn").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 {
		t.Fatalf("%d pods", len(pods.Items))
	}
	for _, h := range hs[1:] {
		if string(h.State) != string(hs[0].State) {
			t.Errorf("handles differ: %s vs %s", h.State, hs[0].State)
		}
	}
	// Once the informer has seen it, Start does not even try to create.
	waitFor(t, func() bool { return d.pod(hs[0]) != nil })
	mu.Lock()
	before := created
	mu.Unlock()
	if _, err := d.Start(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if created != before {
		t.Errorf("a Start of a known attempt created a pod again")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPodStatus(t *testing.T) {
	term := func(code int32, reason string) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: map[bool]corev1.PodPhase{true: corev1.PodSucceeded, false: corev1.PodFailed}[code == 0],
			ContainerStatuses: []corev1.ContainerStatus{{Name: taskContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}}}}
	}
	deadline := term(143, "Error")
	deadline.Status.Reason = "DeadlineExceeded"
	badImage := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
		{Name: taskContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "InvalidImageName", Message: "bad"}}}}}}
	for _, c := range []struct {
		name  string
		pod   *corev1.Pod
		phase v1.Phase
		exit  string
	}{
		{"pending", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, v1.Running, ""},
		{"running", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, v1.Running, ""},
		{"success", term(0, "Completed"), v1.Succeeded, "code=0 signal=0 oom=false timeout=false"},
		{"exit3", term(3, "Error"), v1.Failed, "code=3 signal=0 oom=false timeout=false"},
		{"signal", term(137, "Error"), v1.Failed, "code=137 signal=9 oom=false timeout=false"},
		{"oom", term(137, "OOMKilled"), v1.Failed, "code=137 signal=9 oom=true timeout=false"},
		{"deadline", deadline, v1.Failed, "code=143 signal=15 oom=false timeout=true"},
		{"evicted", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}, v1.Lost, ""},
		{"bad-image", badImage, v1.Failed, "code=-1 signal=0 oom=false timeout=false"},
	} {
		st := podStatus(c.pod)
		got := ""
		if st.Exit != nil {
			got = fmt.Sprintf("code=%d signal=%d oom=%v timeout=%v", st.Exit.Code, st.Exit.Signal, st.Exit.OOMKilled, st.Exit.TimedOut)
		}
		if st.Phase != c.phase || got != c.exit {
			t.Errorf("%s: %s %s, want %s %s", c.name, st.Phase, got, c.phase, c.exit)
		}
	}
}

// TestWatchTellsEndsAndStatus: the informer tells the notifier when a
// pod terminates or is deleted; Stop and the deadline are recorded so that
// Status says cancelled or timed out once the pod is gone; Cleanup
// removes pod and Secret and Recover then says not found.
func TestWatchTellsEndsAndStatus(t *testing.T) {
	d, cs := newFake(t, func(o *Options) { o.TimeoutGrace = -1 })
	var mu sync.Mutex
	told := map[string]int{}
	d.SetNotifier(func(id string) { mu.Lock(); told[id]++; mu.Unlock() })
	toldOf := func(id string) int { mu.Lock(); defer mu.Unlock(); return told[id] }
	ctx := context.Background()

	// Terminates by itself.
	m := manifest("ends", nil)
	h, err := d.Start(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	p := getPod(t, cs, d, m)
	p.Status = term137(p)
	if _, err := cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return toldOf("ends") == 1 })
	if st, _ := d.Status(ctx, h); st.Phase != v1.Failed || !st.Exit.OOMKilled {
		t.Fatalf("status %+v", st)
	}
	// Deleted after it terminated: its last status stays.
	if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return toldOf("ends") == 2 })
	if st, _ := d.Status(ctx, h); st.Phase != v1.Failed || st.Exit == nil || !st.Exit.OOMKilled {
		t.Fatalf("status after deletion %+v", st)
	}

	// Stopped.
	ms := manifest("stopped", nil)
	hs, err := d.Start(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return d.pod(hs) != nil })
	if err := d.Stop(ctx, hs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return toldOf("stopped") == 1 })
	if st, _ := d.Status(ctx, hs); st.Phase != v1.Failed || st.Exit.Error != v1.ExitCancelled {
		t.Fatalf("stopped: status %+v", st)
	}
	if err := d.Recover(ctx, hs); err != nil {
		t.Errorf("Recover of a stopped attempt whose outcome is not yet taken: %v", err)
	}
	if h2, err := d.Start(ctx, ms); err != nil || getPodErr(cs, d, ms) == nil {
		t.Errorf("Start of a stopped attempt ran it again: %v %v", h2, err)
	}

	// Timed out by the driver's deadline (grace 0).
	mt := manifest("late", func(m *v1.TaskManifest) { m.Timeout = v1.Duration{Duration: 50 * time.Millisecond} })
	ht, err := d.Start(ctx, mt)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return toldOf("late") == 1 })
	if st, _ := d.Status(ctx, ht); st.Phase != v1.Failed || !st.Exit.TimedOut {
		t.Fatalf("late: status %+v", st)
	}

	// Cleanup removes everything; then the attempt is unknown.
	for _, hh := range []backend.Handle{h, hs, ht} {
		if err := d.Cleanup(ctx, hh); err != nil {
			t.Fatal(err)
		}
		if err := d.Cleanup(ctx, hh); err != nil {
			t.Fatal(err)
		}
		if err := d.Recover(ctx, hh); !errs.Is(err, errs.NotFound) {
			t.Errorf("Recover after Cleanup: %v", err)
		}
		if st, _ := d.Status(ctx, hh); st.Phase != v1.Lost {
			t.Errorf("Status after Cleanup: %s", st.Phase)
		}
	}
	secrets, _ := cs.CoreV1().Secrets("koya-churn").List(ctx, metav1.ListOptions{})
	if len(secrets.Items) != 0 {
		t.Errorf("%d secrets left", len(secrets.Items))
	}

	// A new notifier hears of what ended before it was set.
	m2 := manifest("before", nil)
	h2, _ := d.Start(ctx, m2)
	p2 := getPod(t, cs, d, m2)
	p2.Status = term137(p2)
	_, _ = cs.CoreV1().Pods(p2.Namespace).UpdateStatus(ctx, p2, metav1.UpdateOptions{})
	waitFor(t, func() bool { return toldOf("before") == 1 })
	var replay []string
	d.SetNotifier(func(id string) { replay = append(replay, id) })
	if !slices.Contains(replay, "before") {
		t.Errorf("replayed %v", replay)
	}
	_ = h2
}

func term137(p *corev1.Pod) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: taskContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}}
}

func getPodErr(cs *fake.Clientset, d *Driver, m *v1.TaskManifest) error {
	_, err := cs.CoreV1().Pods(d.Namespace(m.Project)).Get(context.Background(), PodName(m.AttemptID), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func TestStartRefusesWhatItCannotRun(t *testing.T) {
	d, _ := newFake(t, nil)
	ctx := context.Background()
	for name, m := range map[string]*v1.TaskManifest{
		"no image":      manifest("noimg", func(m *v1.TaskManifest) { m.Image = "" }),
		"unknown image": manifest("unk", func(m *v1.TaskManifest) { m.Image = "nowhere:1" }),
		"bad memory":    manifest("mem", func(m *v1.TaskManifest) { m.Resources.Memory = "lots" }),
	} {
		if _, err := d.Start(ctx, m); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestNamesAndKwokScripts(t *testing.T) {
	if n := PodName("3f0c2a1e-0000-4000-8000-00000000abcd"); n != "koya-3f0c2a1e-0000-4000-8000-00000000abcd" {
		t.Errorf("pod name %q", n)
	}
	long := PodName(strings.Repeat("A_b", 40))
	if len(long) > 63 || long == PodName(strings.Repeat("A_b", 41)) {
		t.Errorf("long names: %q", long)
	}
	for _, c := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"true"}, "0  100ms"},
		{[]string{"exit", "3"}, "3  100ms"},
		{[]string{"sleep", "1.5s"}, "0  1.5s"},
		{[]string{"mock", "--signal", "9"}, "137  100ms"},
		{[]string{"mock", "--oom"}, "137 OOMKilled 100ms"},
		{[]string{"sh", "-c", "echo hi"}, "0  100ms"},
	} {
		a, err := kwokAnnotations(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := a[KwokExit] + " " + a[KwokReason] + " " + a[KwokDelay]; got != c.want {
			t.Errorf("%q: %q, want %q", c.cmd, got, c.want)
		}
	}
	if _, err := kwokAnnotations([]string{"mock", "--bogus"}); err == nil {
		t.Error("a bad script was accepted")
	}
}
