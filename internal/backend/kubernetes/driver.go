package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/backend"
)

// Name is the kubernetes backend's name.
const Name = "kubernetes"

// Options configure the kubernetes driver.
type Options struct {
	// Client talks to the cluster (required).
	Client k8s.Interface
	// AgentImage holds a static koya binary; the init container of every
	// pod runs AgentInstall in it to copy the agent into an emptyDir.
	AgentImage string
	// AgentInstall is the init container's command (default
	// ["/koya", "server", "install-agent", "/koya-agent"]: the koya binary
	// copies itself; see InstallAgent).
	AgentInstall []string
	// AgentArgs come before "--manifest <path>" (default ["agent"]).
	AgentArgs []string
	// ServerURL is the control plane's URL as pods reach it; it replaces
	// the engine's in the agents' manifests when set. Its host's
	// addresses (or ServerCIDRs) and port are what network: none pods may
	// still connect to.
	ServerURL   string
	ServerCIDRs []string
	// Env is added to every task container's environment (KOYA_AGENT_*
	// tunables); KOYA_AGENT_FSYNC=false unless set.
	Env map[string]string
	// NamespacePrefix names projects' namespaces: prefix + project
	// (default "koya-").
	NamespacePrefix string
	// NamespaceFor, if set, names a project's namespace instead (tests
	// give every project one fresh namespace).
	NamespaceFor func(project string) string
	// Instance labels what this control plane creates, and selects the
	// pods it watches (default "koya"): two control planes on one cluster
	// need different ones.
	Instance string
	// Resolver reads step images' configs at Start (default a
	// RegistryResolver with the default keychain; NoResolve for kwok).
	Resolver Resolver
	// DefaultImage runs steps that name no image ("": such steps fail).
	DefaultImage string
	// ProjectPlacement, if set, gives a project's default nodeSelector and
	// tolerations (ProjectSpec's), merged with the step's.
	ProjectPlacement func(ctx context.Context, project string) (map[string]string, []v1.Toleration, error)
	// TimeoutGrace is added to a step's timeout before the driver deletes
	// its pod (the agent enforces the timeout itself and reports it; this
	// is the backstop when it cannot). Default 2m.
	TimeoutGrace time.Duration
	// WritableRootfs leaves every task container's root filesystem writable.
	WritableRootfs bool
	// DefaultCPURequest and DefaultMemoryRequest are the requests of steps
	// that ask for nothing (default 100m and 128Mi).
	DefaultCPURequest, DefaultMemoryRequest string
	// Simulate marks a kwok cluster: pods get the kwok annotations their
	// command asks for (see kwokAnnotations).
	Simulate bool
	// Clock (default time.Now).
	Clock func() time.Time
}

// Driver runs each attempt as a pod; see the package documentation.
type Driver struct {
	o           Options
	client      k8s.Interface
	caps        backend.Capabilities
	informer    cache.SharedIndexInformer
	stopCh      chan struct{}
	closeOnce   sync.Once
	serverPeers []networkingv1.NetworkPolicyPeer
	serverPort  int32

	mu       sync.Mutex
	projects map[string]bool           // namespaces made ready
	gone     map[string]backend.Status // deleted pods' last terminal status, by attempt
	timers   map[string]*time.Timer    // deadlines of running pods, by attempt
	notify   func(attemptID string)    // the engine's TaskEnded
	ended    map[string]bool           // attempts notified as ended (replayed to a new notifier)
}

// state is the handle's driver state.
type state struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	UID       types.UID `json:"uid,omitempty"`
}

const byAttempt = "attempt"

// New checks o, and starts and syncs the informer over the pods of this
// instance (status comes from its cache, not from polling).
func New(ctx context.Context, o Options) (*Driver, error) {
	if o.Client == nil {
		return nil, errs.E(errs.Invalid, "kubernetes backend: a client is required")
	}
	if o.AgentImage == "" {
		return nil, errs.E(errs.Invalid, "kubernetes backend: an agent image is required (a static koya binary at /koya)")
	}
	if o.AgentInstall == nil {
		o.AgentInstall = []string{"/koya", "server", "install-agent", installMount}
	}
	if o.AgentArgs == nil {
		o.AgentArgs = []string{"agent"}
	}
	if o.NamespacePrefix == "" {
		o.NamespacePrefix = "koya-"
	}
	if o.Instance == "" {
		o.Instance = "koya"
	}
	if o.Resolver == nil {
		o.Resolver = &RegistryResolver{}
	}
	if o.TimeoutGrace < 0 {
		o.TimeoutGrace = 0
	} else if o.TimeoutGrace == 0 {
		o.TimeoutGrace = 2 * time.Minute
	}
	if o.DefaultCPURequest == "" {
		o.DefaultCPURequest = "100m"
	}
	if o.DefaultMemoryRequest == "" {
		o.DefaultMemoryRequest = "128Mi"
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	peers, port, err := serverEgress(o.ServerURL, o.ServerCIDRs)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		o: o, client: o.Client, stopCh: make(chan struct{}), serverPeers: peers, serverPort: port,
		projects: map[string]bool{}, gone: map[string]backend.Status{}, timers: map[string]*time.Timer{}, ended: map[string]bool{},
		caps: backend.Capabilities{NetworkIsolation: true, MemoryLimit: true, CPULimit: true, GPU: true, OOMDetection: true, Images: true},
	}
	selector := LabelManagedBy + "=" + ManagedBy + "," + LabelInstance + "=" + o.Instance
	factory := informers.NewSharedInformerFactoryWithOptions(o.Client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = selector }))
	d.informer = factory.Core().V1().Pods().Informer()
	if err := d.informer.AddIndexers(cache.Indexers{byAttempt: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Annotations[AnnotationAttempt] != "" {
			return []string{p.Annotations[AnnotationAttempt]}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "kubernetes backend: indexing pods")
	}
	if _, err := d.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.observe(nil, obj) },
		UpdateFunc: func(old, obj any) { d.observe(old, obj) },
		DeleteFunc: d.deleted,
	}); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "kubernetes backend: watching pods")
	}
	go d.informer.Run(d.stopCh)
	if !cache.WaitForCacheSync(ctxDone(ctx, d.stopCh), d.informer.HasSynced) {
		d.Close()
		if ctx.Err() != nil {
			return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "kubernetes backend: listing pods: interrupted")
		}
		return nil, errs.E(errs.Unavailable, "kubernetes backend: could not list pods (is the API server reachable, may koya list and watch pods cluster-wide?)")
	}
	return d, nil
}

// ctxDone is a channel closed when ctx ends or stop is closed.
func ctxDone(ctx context.Context, stop <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		close(ch)
	}()
	return ch
}

// Close stops the informer and the deadline timers; pods keep running (a
// new driver recovers them).
func (d *Driver) Close() {
	d.closeOnce.Do(func() {
		close(d.stopCh)
		d.mu.Lock()
		for id, t := range d.timers {
			t.Stop()
			delete(d.timers, id)
		}
		d.mu.Unlock()
	})
}

func (d *Driver) Name() string                       { return Name }
func (d *Driver) Capabilities() backend.Capabilities { return d.caps }

// Client is the driver's clientset (for tests and tools).
func (d *Driver) Client() k8s.Interface { return d.client }

// SetNotifier sets what is called, from the informer's goroutine and
// without blocking it for long, when an attempt's pod ended (terminated,
// or deleted): the engine's TaskEnded. Attempts that ended before are
// told at once.
func (d *Driver) SetNotifier(f func(attemptID string)) {
	d.mu.Lock()
	d.notify = f
	ids := make([]string, 0, len(d.ended))
	for id := range d.ended {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	if f != nil {
		for _, id := range ids {
			f(id)
		}
	}
}

func (d *Driver) tell(id string) {
	d.mu.Lock()
	d.ended[id] = true
	f := d.notify
	d.mu.Unlock()
	if f != nil {
		f(id)
	}
}

// attemptPod is obj as a pod of an attempt, and the attempt's id ("":
// not one).
func attemptPod(obj any) (*corev1.Pod, string) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, ""
	}
	return p, p.Annotations[AnnotationAttempt]
}

// observe follows a pod's adds and updates: it arms the deadline of a
// running pod and tells the engine when one terminates.
func (d *Driver) observe(old, obj any) {
	p, id := attemptPod(obj)
	if id == "" {
		return
	}
	if terminal(p) {
		d.disarm(id)
		if op, ok := old.(*corev1.Pod); !ok || !terminal(op) {
			d.tell(id)
		}
		return
	}
	if p.DeletionTimestamp == nil {
		d.arm(p)
	}
}

// deleted records a deleted pod's last terminal status (Status answers
// from it until Cleanup) and tells the engine.
func (d *Driver) deleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, id := attemptPod(obj)
	if id == "" {
		return
	}
	d.disarm(id)
	if terminal(p) {
		d.mu.Lock()
		d.gone[id] = podStatus(p)
		d.mu.Unlock()
	}
	d.tell(id)
}

// arm starts the deadline timer of a running pod, once.
func (d *Driver) arm(p *corev1.Pod) {
	at, err := time.Parse(time.RFC3339Nano, p.Annotations[AnnotationDeadline])
	if err != nil {
		return
	}
	id, ns, name := p.Annotations[AnnotationAttempt], p.Namespace, p.Name
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.timers[id]; ok {
		return
	}
	select {
	case <-d.stopCh:
		return
	default:
	}
	d.timers[id] = time.AfterFunc(at.Sub(d.o.Clock()), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.end(ctx, ns, name, "timeout"); err != nil {
			// The next resync or Status does not retry it: the engine's
			// own deadline catches an attempt that never ends.
			_ = err
		}
	})
}

func (d *Driver) disarm(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.timers[id]; ok {
		t.Stop()
		delete(d.timers, id)
	}
}

// end records why the driver ends a pod on its Secret, then deletes the
// pod (its agent, in a real cluster, gets SIGTERM and reports).
func (d *Driver) end(ctx context.Context, ns, name, why string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationEnded: why}}})
	_, err := d.client.CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err, "marking the secret %s/%s %s", ns, name, why)
	}
	err = d.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err, "deleting pod %s/%s", ns, name)
	}
	return nil
}

// terminal: the pod's containers are done (its phase says so).
func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// pod finds an attempt's pod in the informer's cache.
func (d *Driver) pod(h backend.Handle) *corev1.Pod {
	objs, err := d.informer.GetIndexer().ByIndex(byAttempt, h.AttemptID)
	if err != nil {
		return nil
	}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			return p
		}
	}
	return nil
}

func (d *Driver) handle(attemptID string, p *corev1.Pod) backend.Handle {
	raw, _ := json.Marshal(state{Namespace: p.Namespace, Pod: p.Name, UID: p.UID})
	return backend.Handle{Version: backend.HandleVersion, Driver: Name, AttemptID: attemptID, State: raw}
}

// where is the namespace and name of a handle's pod and Secret.
func (d *Driver) where(h backend.Handle) (ns, name string, ok bool) {
	var s state
	if len(h.State) > 0 && json.Unmarshal(h.State, &s) == nil && s.Namespace != "" && s.Pod != "" {
		return s.Namespace, s.Pod, true
	}
	if p := d.pod(h); p != nil {
		return p.Namespace, p.Name, true
	}
	return "", "", false
}

// Start creates the attempt's Secret and Pod, unless they exist: the pod
// is named from the attempt id, and AlreadyExists is success.
func (d *Driver) Start(ctx context.Context, m *v1.TaskManifest) (backend.Handle, error) {
	if p := d.pod(backend.Handle{AttemptID: m.AttemptID}); p != nil {
		return d.handle(m.AttemptID, p), nil
	}
	ref := m.Image
	if ref == "" {
		ref = d.o.DefaultImage
	}
	if ref == "" {
		return backend.Handle{}, errs.At(errs.Invalid, "image", "the kubernetes backend runs steps in their image, and this step names none")
	}
	selector, tolerations := m.NodeSelector, m.Tolerations
	if d.o.ProjectPlacement != nil {
		ps, pt, err := d.o.ProjectPlacement(ctx, m.Project)
		if err != nil {
			return backend.Handle{}, err
		}
		selector, tolerations = mergePlacement(selector, tolerations, ps, pt)
	}
	img, err := d.o.Resolver.Resolve(ctx, ref)
	if err != nil {
		return backend.Handle{}, err
	}
	p, err := d.plan(m, ref, img, selector, tolerations, d.o.Clock())
	if err != nil {
		return backend.Handle{}, err
	}
	if err := d.ensureProject(ctx, m.Project); err != nil {
		return backend.Handle{}, err
	}
	ns, name := p.pod.Namespace, p.pod.Name
	secrets, pods := d.client.CoreV1().Secrets(ns), d.client.CoreV1().Pods(ns)
	if _, err := secrets.Create(ctx, p.secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		// Started before: if the driver ended its pod (stop, timeout),
		// that is the attempt's end and it is not run again.
		old, gerr := secrets.Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return backend.Handle{}, kubeErr(gerr, "reading secret %s/%s", ns, name)
		}
		if old.Annotations[AnnotationEnded] != "" {
			if pod, gerr := pods.Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				return d.handle(m.AttemptID, pod), nil
			}
			return d.handle(m.AttemptID, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}), nil
		}
	} else if err != nil {
		return backend.Handle{}, kubeErr(err, "creating secret %s/%s", ns, name)
	}
	created, err := pods.Create(ctx, p.pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if created, err = pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return backend.Handle{}, kubeErr(err, "reading pod %s/%s", ns, name)
		}
	} else if err != nil {
		return backend.Handle{}, kubeErr(err, "creating pod %s/%s", ns, name)
	}
	return d.handle(m.AttemptID, created), nil
}

// Status answers from the informer's cache: a pending or running pod is
// Running; a terminated one Succeeded or Failed with the exit of its task
// container. A pod that is gone is what its last terminal state said, or
// what the driver ended it for (cancelled, timed out: recorded on its
// Secret), else Lost.
func (d *Driver) Status(ctx context.Context, h backend.Handle) (backend.Status, error) {
	if p := d.pod(h); p != nil {
		return podStatus(p), nil
	}
	d.mu.Lock()
	st, ok := d.gone[h.AttemptID]
	d.mu.Unlock()
	ns, name, where := d.where(h)
	if !where {
		ns, name = "", ""
	}
	if !ok && ns != "" {
		// Created a moment ago and not yet seen by the watch?
		p, err := d.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return podStatus(p), nil
		}
		if !apierrors.IsNotFound(err) {
			return backend.Status{}, kubeErr(err, "reading pod %s/%s", ns, name)
		}
	}
	var why string
	if ns != "" {
		sec, err := d.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return backend.Status{}, kubeErr(err, "reading secret %s/%s", ns, name)
		}
		if err == nil {
			why = sec.Annotations[AnnotationEnded]
		}
	}
	switch {
	case why == "cancelled" && (!ok || st.Phase != v1.Succeeded):
		return backend.Status{Phase: v1.Failed, Exit: &v1.Exit{Code: 143, Signal: 15, Error: v1.ExitCancelled}}, nil
	case why == "timeout" && (!ok || st.Phase != v1.Succeeded):
		return backend.Status{Phase: v1.Failed, Exit: &v1.Exit{Code: 143, Signal: 15, TimedOut: true}}, nil
	case ok:
		return st, nil
	}
	return backend.Status{Phase: v1.Lost}, nil
}

// podStatus maps a pod to a Status.
func podStatus(p *corev1.Pod) backend.Status {
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
	default:
		if msg := unstartable(p); msg != "" {
			return backend.Status{Phase: v1.Failed, Exit: &v1.Exit{Code: -1, Error: msg}}
		}
		return backend.Status{Phase: v1.Running}
	}
	var term *corev1.ContainerStateTerminated
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == taskContainer || len(p.Status.ContainerStatuses) == 1 {
			term = cs.State.Terminated
			if term == nil {
				term = cs.LastTerminationState.Terminated
			}
		}
	}
	if term == nil {
		if p.Status.Reason == "DeadlineExceeded" {
			return backend.Status{Phase: v1.Failed, Exit: &v1.Exit{Code: 143, Signal: 15, TimedOut: true}}
		}
		// Failed before the task container ran (evicted, the init
		// container failed): no exit to tell.
		return backend.Status{Phase: v1.Lost}
	}
	x := v1.Exit{Code: int(term.ExitCode)}
	if x.Code > 128 && x.Code <= 128+64 {
		x.Signal = x.Code - 128
	}
	if term.Reason == "OOMKilled" {
		x.OOMKilled = true
	}
	if p.Status.Reason == "DeadlineExceeded" {
		x.TimedOut = true
	}
	if !term.StartedAt.IsZero() && !term.FinishedAt.IsZero() {
		x.Duration = term.FinishedAt.Sub(term.StartedAt.Time).Seconds()
	}
	if x.Code == 0 && x.Signal == 0 && !x.OOMKilled && !x.TimedOut {
		return backend.Status{Phase: v1.Succeeded, Exit: &x}
	}
	return backend.Status{Phase: v1.Failed, Exit: &x}
}

// unstartable says why a pending pod can never start (a bad image name,
// a missing agent image), "" when it may.
func unstartable(p *corev1.Pod) string {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "InvalidImageName", "ErrImageNeverPull":
					return "container " + cs.Name + " cannot start: " + w.Reason + ": " + w.Message
				}
			}
		}
	}
	return ""
}

// Stop ends a running attempt: its Secret records the cancel, and its pod
// is deleted (with its grace period: a real agent gets SIGTERM, stops the
// command and reports the cancel). Stopping an ended attempt does nothing.
func (d *Driver) Stop(ctx context.Context, h backend.Handle) error {
	if p := d.pod(h); p != nil {
		if terminal(p) {
			return nil
		}
		return d.end(ctx, p.Namespace, p.Name, "cancelled")
	}
	// Not seen yet (just created) or gone: the handle says where it was.
	ns, name, ok := d.where(h)
	if !ok {
		return nil
	}
	d.mu.Lock()
	_, finished := d.gone[h.AttemptID] // it terminated before it was deleted
	d.mu.Unlock()
	if finished {
		return nil
	}
	return d.end(ctx, ns, name, "cancelled")
}

// Recover finds the attempt's pod (by the attempt label, in the cache of
// pods listed from the API server), or the Secret of a pod the driver
// ended; errs.NotFound when neither exists.
func (d *Driver) Recover(ctx context.Context, h backend.Handle) error {
	if d.pod(h) != nil {
		return nil
	}
	if ns, name, ok := d.where(h); ok {
		sec, err := d.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && sec.Annotations[AnnotationEnded] != "" {
			return nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return kubeErr(err, "reading secret %s/%s", ns, name)
		}
	}
	return errs.E(errs.NotFound, "attempt %s has no pod", h.AttemptID)
}

// Cleanup deletes the attempt's pod and Secret (background propagation).
// Idempotent.
func (d *Driver) Cleanup(ctx context.Context, h backend.Handle) error {
	ns, name, ok := d.where(h)
	if ok {
		bg := metav1.DeletePropagationBackground
		opts := metav1.DeleteOptions{PropagationPolicy: &bg}
		if err := d.client.CoreV1().Pods(ns).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
			return kubeErr(err, "deleting pod %s/%s", ns, name)
		}
		if err := d.client.CoreV1().Secrets(ns).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
			return kubeErr(err, "deleting secret %s/%s", ns, name)
		}
	}
	d.disarm(h.AttemptID)
	d.mu.Lock()
	delete(d.gone, h.AttemptID)
	delete(d.ended, h.AttemptID)
	d.mu.Unlock()
	return nil
}

// kubeErr maps API errors to the errs vocabulary.
func kubeErr(err error, format string, args ...any) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, err, format+": interrupted", args...)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return errs.Wrap(errs.Invalid, err, format+": "+err.Error(), args...)
	case apierrors.IsForbidden(err):
		return errs.Wrap(errs.Forbidden, err, format+": "+err.Error(), args...)
	case apierrors.IsNotFound(err):
		return errs.Wrap(errs.NotFound, err, format, args...)
	case apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || isNetErr(err):
		return errs.Wrap(errs.Unavailable, err, format+": the API server is unavailable", args...)
	}
	return errs.Wrap(errs.Internal, err, format, args...)
}

func isNetErr(err error) bool {
	var se apierrors.APIStatus
	return !errors.As(err, &se)
}

var _ backend.Driver = (*Driver)(nil)
