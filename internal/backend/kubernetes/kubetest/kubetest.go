// Package kubetest connects tests to the real Kubernetes API server that
// scripts/kube.sh starts on 127.0.0.1: kube-apiserver, etcd and
// kube-scheduler built from their Go modules, with kwok simulating the
// nodes and the lifecycle of the pods scheduled on them. No kubelet runs,
// so no container ever starts: a pod's status is what kwok's stages write.
//
// # Finding the cluster
//
// Config and Client read the kubeconfig named by $KOYA_TEST_KUBECONFIG
// (scripts/test.sh sets it from the last line of `bash scripts/kube.sh`).
// When it is unset the test is skipped, unless $CI is set: CI must run these
// tests, so there the test fails instead.
//
// # Asking for a pod's outcome
//
// A pod scheduled on a kwok node becomes Running (kwok's pod-ready stage).
// koya's own stage then finishes it as its annotations say:
//
//	koya.dev/kwok-exit: "3"          every container terminates with exit
//	                                 code 3; phase Failed ("0": Succeeded)
//	koya.dev/kwok-exit: "never"      stays Running until deleted
//	koya.dev/kwok-reason: OOMKilled  the containers' terminated reason
//	                                 (default Completed for 0, Error otherwise)
//	koya.dev/kwok-delay: 300ms       time spent Running first (default 1s)
//
// A pod without koya.dev/kwok-exit stays Running (a pod owned by a Job
// completes with exit code 0, kwok's default). A deleted pod is removed at
// once. restartPolicy is not simulated. Exits sets these annotations.
//
// # Nodes
//
// Three nodes, none tainted: kwok-node-0 and kwok-node-1 (cpu 8, memory
// 32Gi, 110 pods) and kwok-gpu-0 (cpu 16, memory 64Gi, nvidia.com/gpu 2,
// label koya.dev/gpu=true).
//
// # What does not run: no kube-controller-manager
//
// There is no ServiceAccount controller: a pod is rejected unless its
// ServiceAccount exists, so the Kubernetes driver creates the
// ServiceAccounts its pods use (Namespace creates "default" in the
// namespaces it makes). There is no namespace controller: a deleted
// namespace stays Terminating until finalized, which Namespace's cleanup
// does after deleting its pods. There is no garbage collector (owner
// references do not cascade), no Job, ReplicaSet or Deployment controller,
// no endpoints, and no network: NetworkPolicies are stored, not enforced.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvKubeconfig names the environment variable holding the kubeconfig path.
const EnvKubeconfig = "KOYA_TEST_KUBECONFIG"

// The pod annotations koya's kwok stage reads. Keep them stable: the
// Kubernetes driver's tests put them on the pods they create.
const (
	AnnotationExit   = "koya.dev/kwok-exit"
	AnnotationReason = "koya.dev/kwok-reason"
	AnnotationDelay  = "koya.dev/kwok-delay"
	// ExitNever as the value of AnnotationExit keeps a pod Running.
	ExitNever = "never"
)

// The simulated nodes.
const (
	GPUNode      = "kwok-gpu-0"
	GPUNodeLabel = "koya.dev/gpu" // "true" on GPUNode
	GPUResource  = corev1.ResourceName("nvidia.com/gpu")
)

// Exits returns the annotations that make a pod's containers terminate with
// code after delay (0: the default, 1s), with reason ("": Completed or
// Error).
func Exits(code int, reason string, delay time.Duration) map[string]string {
	a := map[string]string{AnnotationExit: strconv.Itoa(code)}
	if reason != "" {
		a[AnnotationReason] = reason
	}
	if delay > 0 {
		a[AnnotationDelay] = delay.String()
	}
	return a
}

// RunsForever returns the annotations that keep a pod Running until deleted.
func RunsForever() map[string]string {
	return map[string]string{AnnotationExit: ExitNever}
}

// Config returns the REST config of the test cluster, skipping the test when
// $KOYA_TEST_KUBECONFIG is unset (failing it when $CI is set).
func Config(t testing.TB) *rest.Config {
	t.Helper()
	path := os.Getenv(EnvKubeconfig)
	if path == "" {
		msg := "$" + EnvKubeconfig + " is not set: start the test cluster with " +
			"`export " + EnvKubeconfig + "=$(bash scripts/kube.sh | tail -n 1)`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI must run the Kubernetes tests)")
		}
		t.Skip(msg)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s ($%s): %v", path, EnvKubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = "koya-tests"
	return cfg
}

// Client returns a clientset for the test cluster (see Config).
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(Config(t))
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return c
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// Namespace creates a fresh namespace named after the test, with its
// "default" ServiceAccount, and removes it when the test ends: its pods are
// deleted at once, then the namespace is deleted and finalized (no namespace
// controller runs). Other objects left in it stay in etcd, unreachable
// (namespace names are never reused).
func Namespace(t testing.TB) string {
	t.Helper()
	c := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	ns, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kt-" + prefix + "-",
			Labels:       map[string]string{"koya.dev/test": "true"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	name := ns.Name
	t.Cleanup(func() { deleteNamespace(t, c, name) })
	_, err = c.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create ServiceAccount %s/default: %v", name, err)
	}
	return name
}

func deleteNamespace(t testing.TB, c kubernetes.Interface, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := int64(0)
	err := c.CoreV1().Pods(name).DeleteCollection(ctx,
		metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: delete the pods of namespace %s: %v", name, err)
	}
	err = c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("cleanup: delete namespace %s: %v", name, err)
		return
	}
	ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("cleanup: get namespace %s: %v", name, err)
		return
	}
	ns.Spec.Finalizers = nil
	if _, err := c.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: finalize namespace %s: %v", name, err)
	}
}

// WaitForPod polls the pod until done returns true or timeout passes, and
// returns the last pod seen; it fails the test on timeout.
func WaitForPod(t testing.TB, c kubernetes.Interface, namespace, name string, timeout time.Duration, what string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last *corev1.Pod
	var lastErr error
	for {
		p, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = p
			if done(p) {
				return p
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s: not %s after %s; last seen: %s (last error: %v)",
				namespace, name, what, timeout, describe(last), lastErr)
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describe sums up a pod's status for failure messages.
func describe(p *corev1.Pod) string {
	if p == nil {
		return "never"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%q node=%q", p.Status.Phase, p.Spec.NodeName)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		if c.Message != "" {
			fmt.Fprintf(&b, "(%s)", c.Message)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, " %s:terminated(%d,%s)", cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
		case cs.State.Running != nil:
			fmt.Fprintf(&b, " %s:running", cs.Name)
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, " %s:waiting(%s)", cs.Name, cs.State.Waiting.Reason)
		}
	}
	return b.String()
}
