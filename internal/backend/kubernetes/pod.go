package kubernetes

import (
	"encoding/json"
	"maps"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/backend/imagecfg"
)

// Paths in every pod (see doc.go).
const (
	agentMount   = "/koya" // the agent emptyDir, read-only in the task container
	agentBinary  = agentMount + "/koya"
	runMount     = agentMount + "/run" // the agent's attempt directory (outbox, work/)
	manifestPath = runMount + "/" + agent.ManifestFile
	installMount = "/koya-agent" // the agent emptyDir in the init container (writable)
	manifestKey  = agent.ManifestFile

	taskContainer = "task"
	initContainer = "koya-agent"
)

// DefaultUID runs pods whose image names no numeric non-root user.
const DefaultUID = 65534

// podPlan is what Start makes of a manifest.
type podPlan struct {
	pod    *corev1.Pod
	secret *corev1.Secret
}

// plan builds an attempt's Secret (the agent's manifest, token included)
// and its locked-down Pod. img is the step image's config (entrypoint,
// user, working directory); nodeSelector and tolerations are the merged
// placement.
func (d *Driver) plan(m *v1.TaskManifest, ref string, img ImageConfig, nodeSelector map[string]string, tolerations []v1.Toleration, now time.Time) (*podPlan, error) {
	ns, name := d.Namespace(m.Project), PodName(m.AttemptID)
	mem, err := v1.MemoryBytes(m.Resources.Memory)
	if err != nil {
		return nil, errs.At(errs.Invalid, "resources.memory", "%v", err)
	}
	if m.Resources.CPU < 0 || math.IsNaN(m.Resources.CPU) || m.Resources.GPU < 0 {
		return nil, errs.At(errs.Invalid, "resources", "cpu and gpu must not be negative")
	}
	uid, gid := int64(DefaultUID), int64(DefaultUID)
	if u, g, ok := imagecfg.NonRootUser(img.User); ok {
		uid, gid = u, g
	}
	wd, readonly := imagecfg.WorkDir(m.WorkDir, img.WorkingDir, runMount)
	readonly = readonly && !d.o.WritableRootfs

	// The agent's manifest: the image's entrypoint before the step's
	// command (as `docker run image cmd...` replaces only CMD), the
	// control plane's URL as pods reach it; resources, network and
	// placement are the pod's, not the agent's.
	cm := *m
	if d.o.ServerURL != "" {
		cm.Server = d.o.ServerURL
	}
	cm.Command = append(append([]string(nil), img.Entrypoint...), m.Command...)
	cm.WorkDir, cm.Image = wd, ref
	cm.Network, cm.Resources = "", v1.Resources{}
	cm.NodeSelector, cm.Tolerations = nil, nil
	manifest, err := json.Marshal(&cm)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encoding the agent's manifest")
	}

	network := "egress"
	if m.Network == "none" {
		network = "none"
	}
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelInstance:  d.o.Instance,
		LabelAttempt:   labelValue(m.AttemptID),
		LabelProject:   labelValue(m.Project),
		LabelRun:       labelValue(m.RunID),
		LabelStep:      labelValue(m.Step),
		LabelNetwork:   network,
	}
	annotations := map[string]string{AnnotationAttempt: m.AttemptID}
	var activeDeadline *int64
	if m.Timeout.Duration > 0 {
		limit := m.Timeout.Duration + d.o.TimeoutGrace
		annotations[AnnotationDeadline] = now.Add(limit).UTC().Format(time.RFC3339Nano)
		secs := int64(math.Ceil(limit.Seconds()))
		activeDeadline = &secs
	}
	if d.o.Simulate {
		kw, err := kwokAnnotations(m.Command)
		if err != nil {
			return nil, errs.At(errs.Invalid, "command", "kwok simulation: %v", err)
		}
		maps.Copy(annotations, kw)
	}

	limits := corev1.ResourceList{}
	requests := corev1.ResourceList{}
	if m.Resources.CPU > 0 {
		q := resource.NewMilliQuantity(int64(math.Ceil(m.Resources.CPU*1000)), resource.DecimalSI)
		limits[corev1.ResourceCPU], requests[corev1.ResourceCPU] = *q, *q
	} else {
		requests[corev1.ResourceCPU] = resource.MustParse(d.o.DefaultCPURequest)
	}
	if mem > 0 {
		q := resource.NewQuantity(mem, resource.BinarySI)
		limits[corev1.ResourceMemory], requests[corev1.ResourceMemory] = *q, *q
	} else {
		requests[corev1.ResourceMemory] = resource.MustParse(d.o.DefaultMemoryRequest)
	}
	tolerations = append([]v1.Toleration(nil), tolerations...)
	if m.Resources.GPU > 0 {
		q := resource.NewQuantity(int64(m.Resources.GPU), resource.DecimalSI)
		limits[GPUResource], requests[GPUResource] = *q, *q
		tolerations = append(tolerations, v1.Toleration{Key: string(GPUResource), Operator: "Exists", Effect: "NoSchedule"})
	}

	f, t := false, true
	lockdown := func(readOnly bool) *corev1.SecurityContext {
		return &corev1.SecurityContext{
			RunAsNonRoot:             &t,
			RunAsUser:                &uid,
			RunAsGroup:               &gid,
			AllowPrivilegeEscalation: &f,
			Privileged:               &f,
			ReadOnlyRootFilesystem:   &readOnly,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	}
	mode := int32(0o440)
	grace := int64(30)
	volumes := []corev1.Volume{
		{Name: "koya-agent", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: resource.NewQuantity(256<<20, resource.BinarySI)}}},
		{Name: "koya-run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "koya-manifest", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: name, DefaultMode: &mode, Items: []corev1.KeyToPath{{Key: manifestKey, Path: manifestKey}}}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "koya-agent", MountPath: agentMount, ReadOnly: true},
		{Name: "koya-run", MountPath: runMount},
		{Name: "koya-manifest", MountPath: manifestPath, SubPath: manifestKey, ReadOnly: true},
	}
	if readonly {
		volumes = append(volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	}
	env := []corev1.EnvVar{{Name: "KOYA_AGENT_FSYNC", Value: "false"}}
	for _, k := range sortedKeys(d.o.Env) {
		if k == "KOYA_AGENT_FSYNC" {
			env[0].Value = d.o.Env[k]
			continue
		}
		env = append(env, corev1.EnvVar{Name: k, Value: d.o.Env[k]})
	}
	installCPU, installMem := resource.MustParse("100m"), resource.MustParse("64Mi")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ServiceAccountName:            ServiceAccountName,
			AutomountServiceAccountToken:  &f,
			EnableServiceLinks:            &f,
			TerminationGracePeriodSeconds: &grace,
			ActiveDeadlineSeconds:         activeDeadline,
			NodeSelector:                  nodeSelector,
			Tolerations:                   kubeTolerations(tolerations),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &t,
				RunAsUser:      &uid,
				RunAsGroup:     &gid,
				FSGroup:        &gid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers: []corev1.Container{{
				Name:            initContainer,
				Image:           d.o.AgentImage,
				Command:         d.o.AgentInstall,
				ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: lockdown(true),
				VolumeMounts:    []corev1.VolumeMount{{Name: "koya-agent", MountPath: installMount}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: installCPU, corev1.ResourceMemory: installMem},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: installMem},
				},
			}},
			Containers: []corev1.Container{{
				Name:            taskContainer,
				Image:           ref,
				Command:         []string{agentBinary},
				Args:            append(append([]string(nil), d.o.AgentArgs...), "--manifest", manifestPath),
				WorkingDir:      runMount,
				Env:             env,
				SecurityContext: lockdown(readonly),
				VolumeMounts:    mounts,
				Resources:       corev1.ResourceRequirements{Limits: limits, Requests: requests},
			}},
			Volumes: volumes,
		},
	}
	if len(pod.Spec.Containers[0].Resources.Limits) == 0 {
		pod.Spec.Containers[0].Resources.Limits = nil
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels),
			Annotations: map[string]string{AnnotationAttempt: m.AttemptID}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{manifestKey: manifest},
	}
	return &podPlan{pod: pod, secret: secret}, nil
}

// GPUResource is the extended resource of NVIDIA's device plugin.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

func kubeTolerations(ts []v1.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds})
	}
	return out
}

// mergePlacement: the step's node selector keys win over the project's;
// the tolerations of both apply.
func mergePlacement(stepSel map[string]string, stepTol []v1.Toleration, projSel map[string]string, projTol []v1.Toleration) (map[string]string, []v1.Toleration) {
	var sel map[string]string
	if len(stepSel)+len(projSel) > 0 {
		sel = maps.Clone(projSel)
		if sel == nil {
			sel = map[string]string{}
		}
		maps.Copy(sel, stepSel)
	}
	return sel, append(append([]v1.Toleration(nil), projTol...), stepTol...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
