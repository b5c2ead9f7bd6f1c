// Package deploy_test checks the manifests that deploy koya on Kubernetes:
// every object is accepted by a real API server (a server-side dry run
// against the test cluster of scripts/kube.sh), and every pod they make
// passes Pod Security "restricted".
package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/koya-dev/koya/internal/backend/kubernetes/kubetest"
)

const namespace = "koya-system"

// object is one document of a manifest file.
type object struct {
	where string // file#document
	u     *unstructured.Unstructured
}

func (o object) String() string {
	return fmt.Sprintf("%s (%s %s)", o.where, o.u.GetKind(), o.u.GetName())
}

// manifests decodes every YAML file of this directory but kustomization.yaml.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
		for doc := 1; ; doc++ {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				t.Fatalf("%s: document %d: %v", f, doc, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				r.Close()
				t.Fatalf("%s: document %d: apiVersion, kind and metadata.name are required", f, doc)
			}
			objs = append(objs, object{where: fmt.Sprintf("%s#%d", f, doc), u: u})
		}
		r.Close()
	}
	if len(objs) == 0 {
		t.Fatal("no manifests found")
	}
	return objs
}

// TestKustomization: kustomization.yaml lists every manifest but the
// secrets template.
func TestKustomization(t *testing.T) {
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := utilyaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		listed := slices.Contains(k.Resources, f)
		switch f {
		case "kustomization.yaml":
		case "secrets.yaml":
			if listed {
				t.Errorf("kustomization.yaml lists secrets.yaml, a template of placeholders")
			}
		default:
			if !listed {
				t.Errorf("kustomization.yaml does not list %s", f)
			}
		}
	}
}

// TestKEKPlaceholder: the template's key-encryption key is not a usable
// key (koya wants exactly 32 bytes), so a copy applied as is fails loudly.
func TestKEKPlaceholder(t *testing.T) {
	for _, o := range manifests(t) {
		if o.u.GetKind() != "Secret" || o.u.GetName() != "koya-kek" {
			continue
		}
		kek, _, _ := unstructured.NestedString(o.u.Object, "stringData", "kek")
		if len(kek) == 32 {
			t.Errorf("%s: the placeholder key is 32 bytes long: koya would accept it", o)
		}
		return
	}
	t.Error("no Secret koya-kek in the manifests")
}

// podTemplate returns the pod template of a workload object, if it has one.
func podTemplate(t *testing.T, o object) (*corev1.PodTemplateSpec, bool) {
	t.Helper()
	var into any
	switch o.u.GetKind() {
	case "Deployment":
		into = &appsv1.Deployment{}
	case "StatefulSet":
		into = &appsv1.StatefulSet{}
	case "DaemonSet":
		into = &appsv1.DaemonSet{}
	case "Job":
		into = &batchv1.Job{}
	case "CronJob":
		into = &batchv1.CronJob{}
	case "Pod":
		into = &corev1.Pod{}
	default:
		return nil, false
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.u.Object, into, true); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	switch v := into.(type) {
	case *appsv1.Deployment:
		return &v.Spec.Template, true
	case *appsv1.StatefulSet:
		return &v.Spec.Template, true
	case *appsv1.DaemonSet:
		return &v.Spec.Template, true
	case *batchv1.Job:
		return &v.Spec.Template, true
	case *batchv1.CronJob:
		return &v.Spec.JobTemplate.Spec.Template, true
	case *corev1.Pod:
		return &corev1.PodTemplateSpec{ObjectMeta: v.ObjectMeta, Spec: v.Spec}, true
	}
	return nil, false
}

// TestPodSecurityRestricted: every pod the manifests make passes Pod
// Security "restricted" (the namespace enforces it), checked with the
// admission plugin's own evaluator.
func TestPodSecurityRestricted(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	// The evaluator does refuse a pod with no security context at all.
	bare := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}
	if policy.AggregateCheckResults(eval.EvaluatePod(lv, &metav1.ObjectMeta{}, bare)).Allowed {
		t.Fatal("the evaluator allowed a pod without any security context")
	}
	n := 0
	for _, o := range manifests(t) {
		tmpl, ok := podTemplate(t, o)
		if !ok {
			continue
		}
		n++
		res := policy.AggregateCheckResults(eval.EvaluatePod(lv, &tmpl.ObjectMeta, &tmpl.Spec))
		if !res.Allowed {
			t.Errorf("%s: not Pod Security %s: %s", o, lv.Level, res.ForbiddenDetail())
		}
	}
	if n < 4 {
		t.Errorf("checked %d pod templates, want at least 4 (koya, postgres, minio, minio-bucket)", n)
	}
}

// warnings collects the API server's warnings (Pod Security warns about
// workloads in a namespace that enforces it).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// TestServerSideDryRun creates every object with a server-side dry run
// against the test API server: cluster-scoped ones first (the Namespace
// among them), then, with the Namespace created for real, every namespaced
// one in koya-system. The server validates each object fully (schema,
// defaulting, admission: Pod Security warnings fail the test too) without
// storing it.
func TestServerSideDryRun(t *testing.T) {
	cfg := rest.CopyConfig(kubetest.Config(t))
	warn := &warnings{}
	cfg.WarningHandler = warn
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type mapped struct {
		object
		mapping *meta.RESTMapping
	}
	var clusterScoped, namespaced []mapped
	var nsObject *unstructured.Unstructured
	for _, o := range manifests(t) {
		gvk := o.u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s: the API server does not serve %s: %v", o, gvk, err)
			continue
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if ns := o.u.GetNamespace(); ns != namespace {
				t.Errorf("%s: namespace %q, want %q", o, ns, namespace)
			}
			namespaced = append(namespaced, mapped{o, m})
		} else {
			clusterScoped = append(clusterScoped, mapped{o, m})
			if gvk.Kind == "Namespace" && o.u.GetName() == namespace {
				nsObject = o.u
			}
		}
	}
	if nsObject == nil {
		t.Fatalf("no Namespace %s in the manifests", namespace)
	}

	dryRun := func(m mapped) {
		t.Helper()
		var ri dynamic.ResourceInterface = dyn.Resource(m.mapping.Resource)
		if m.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.mapping.Resource).Namespace(m.u.GetNamespace())
		}
		_ = warn.take()
		_, err := ri.Create(ctx, m.u.DeepCopy(), metav1.CreateOptions{
			DryRun:          []string{metav1.DryRunAll},
			FieldValidation: metav1.FieldValidationStrict,
		})
		if err != nil && !(apierrors.IsAlreadyExists(err) && m.u.GetKind() == "Namespace") {
			t.Errorf("%s: the API server refused it: %v", m.object, err)
		}
		for _, w := range warn.take() {
			t.Errorf("%s: the API server warned: %s", m.object, w)
		}
	}

	for _, m := range clusterScoped {
		dryRun(m)
	}

	// The namespace itself, for real, so that namespaced objects can be
	// dry-run into it (with its Pod Security labels); removed at the end.
	c := kubetest.Client(t)
	created := false
	if _, err := c.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		var ns corev1.Namespace
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(nsObject.Object, &ns); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Namespaces().Create(ctx, &ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", namespace, err)
		}
		created = true
	} else if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Cleanup(func() { removeNamespace(t, c, namespace) })
	}

	for _, m := range namespaced {
		dryRun(m)
	}
	if t.Failed() {
		return
	}
	// A dry run stores nothing.
	deps, err := c.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 0 {
		t.Errorf("the dry run stored %d Deployments", len(deps.Items))
	}
	t.Logf("%d cluster-scoped and %d namespaced objects accepted", len(clusterScoped), len(namespaced))
}

// removeNamespace deletes and finalizes the namespace (no namespace
// controller runs in the test cluster).
func removeNamespace(t *testing.T, c kubernetes.Interface, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		if !apierrors.IsNotFound(err) {
			t.Errorf("cleanup: delete namespace %s: %v", name, err)
		}
		return
	}
	ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			t.Errorf("cleanup: %v", err)
		}
		return
	}
	ns.Spec.Finalizers = nil
	if _, err := c.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: finalize namespace %s: %v", name, err)
	}
}
