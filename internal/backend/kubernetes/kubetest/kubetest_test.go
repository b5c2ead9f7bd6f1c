package kubetest_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/koya-dev/koya/internal/backend/kubernetes/kubetest"
)

const wait = 60 * time.Second

func pod(name string, annotations map[string]string, resources corev1.ResourceList) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{
				{Name: "main", Image: "example.invalid/task:1", Command: []string{"true"}},
				{Name: "side", Image: "example.invalid/side:1"},
			},
		},
	}
	if resources != nil {
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: resources, Limits: resources}
	}
	return p
}

func create(t *testing.T, c kubernetes.Interface, ns string, p *corev1.Pod) {
	t.Helper()
	if _, err := c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// TestExitStages: a pod annotated with an exit code ends with that code,
// reason and phase on every container.
func TestExitStages(t *testing.T) {
	c := kubetest.Client(t)
	ns := kubetest.Namespace(t)
	cases := []struct {
		name       string
		code       int
		reason     string
		wantPhase  corev1.PodPhase
		wantReason string
	}{
		{"exit-3", 3, "", corev1.PodFailed, "Error"},
		{"exit-0", 0, "", corev1.PodSucceeded, "Completed"},
		{"oom", 137, "OOMKilled", corev1.PodFailed, "OOMKilled"},
	}
	for _, tc := range cases {
		create(t, c, ns, pod(tc.name, kubetest.Exits(tc.code, tc.reason, 300*time.Millisecond), nil))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := kubetest.WaitForPod(t, c, ns, tc.name, wait, "finished", finished)
			if p.Status.Phase != tc.wantPhase {
				t.Errorf("phase = %s, want %s", p.Status.Phase, tc.wantPhase)
			}
			if p.Spec.NodeName == "" {
				t.Errorf("finished without a node")
			}
			if len(p.Status.ContainerStatuses) != 2 {
				t.Fatalf("container statuses = %+v, want 2", p.Status.ContainerStatuses)
			}
			for _, cs := range p.Status.ContainerStatuses {
				term := cs.State.Terminated
				if term == nil {
					t.Errorf("container %s: state %+v, want terminated", cs.Name, cs.State)
					continue
				}
				if int(term.ExitCode) != tc.code || term.Reason != tc.wantReason {
					t.Errorf("container %s: terminated (%d, %q), want (%d, %q)",
						cs.Name, term.ExitCode, term.Reason, tc.code, tc.wantReason)
				}
				if term.FinishedAt.IsZero() {
					t.Errorf("container %s: no finishedAt", cs.Name)
				}
			}
		})
	}
}

// TestNeverExits: a pod annotated "never" stays Running until deleted, and
// a deleted pod goes away.
func TestNeverExits(t *testing.T) {
	c := kubetest.Client(t)
	ns := kubetest.Namespace(t)
	create(t, c, ns, pod("forever", kubetest.RunsForever(), nil))
	p := kubetest.WaitForPod(t, c, ns, "forever", wait, "Running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning
	})
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready {
			t.Errorf("container %s: state %+v ready=%v, want running and ready", cs.Name, cs.State, cs.Ready)
		}
	}
	time.Sleep(3 * time.Second) // well past the default 1s delay
	p, err := c.CoreV1().Pods(ns).Get(context.Background(), "forever", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != corev1.PodRunning {
		t.Fatalf("phase after 3s = %s, want Running", p.Status.Phase)
	}

	if err := c.CoreV1().Pods(ns).Delete(context.Background(), "forever", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		_, err := c.CoreV1().Pods(ns).Get(context.Background(), "forever", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still there %s after delete (err %v)", wait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScheduling: kube-scheduler binds pods to nodes, and a pod asking for
// a GPU lands on the GPU node.
func TestScheduling(t *testing.T) {
	c := kubetest.Client(t)
	ns := kubetest.Namespace(t)
	create(t, c, ns, pod("cpu", kubetest.RunsForever(), corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1"),
		corev1.ResourceMemory: resource.MustParse("1Gi"),
	}))
	create(t, c, ns, pod("gpu", kubetest.RunsForever(), corev1.ResourceList{
		corev1.ResourceCPU:   resource.MustParse("1"),
		kubetest.GPUResource: resource.MustParse("1"),
	}))
	create(t, c, ns, pod("too-big", kubetest.RunsForever(), corev1.ResourceList{
		kubetest.GPUResource: resource.MustParse("3"),
	}))
	running := func(p *corev1.Pod) bool { return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning }

	p := kubetest.WaitForPod(t, c, ns, "cpu", wait, "scheduled and Running", running)
	t.Logf("cpu pod on %s", p.Spec.NodeName)

	p = kubetest.WaitForPod(t, c, ns, "gpu", wait, "scheduled and Running", running)
	if p.Spec.NodeName != kubetest.GPUNode {
		t.Errorf("gpu pod on %s, want %s", p.Spec.NodeName, kubetest.GPUNode)
	}

	// No node has 3 GPUs: the scheduler says so in the PodScheduled condition.
	p = kubetest.WaitForPod(t, c, ns, "too-big", wait, "unschedulable", func(p *corev1.Pod) bool {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
		return false
	})
	if p.Spec.NodeName != "" {
		t.Errorf("too-big pod bound to %s", p.Spec.NodeName)
	}
}

// TestNamespace: the namespace has its default ServiceAccount, so a pod
// that names none is admitted.
func TestNamespace(t *testing.T) {
	c := kubetest.Client(t)
	ns := kubetest.Namespace(t)
	if _, err := c.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("default ServiceAccount: %v", err)
	}
	create(t, c, ns, pod("plain", nil, nil))
}
