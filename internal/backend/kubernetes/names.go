package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Labels and annotations on what the driver creates.
const (
	LabelAttempt   = "koya.dev/attempt" // a label-safe form of the attempt id
	LabelProject   = "koya.dev/project"
	LabelRun       = "koya.dev/run"
	LabelStep      = "koya.dev/step"
	LabelNetwork   = "koya.dev/network" // none | egress
	LabelInstance  = "koya.dev/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "koya"

	// AnnotationAttempt holds the exact attempt id (labels cannot).
	AnnotationAttempt = "koya.dev/attempt-id"
	// AnnotationDeadline (RFC 3339) is when the driver deletes a pod still
	// running: the step's timeout and Options.TimeoutGrace after creation.
	AnnotationDeadline = "koya.dev/deadline"
	// AnnotationEnded, on an attempt's Secret, records why the driver
	// deleted its pod: "cancelled" (Stop) or "timeout".
	AnnotationEnded = "koya.dev/ended"
)

// Kubernetes object names inside a project's namespace.
const (
	ServiceAccountName = "koya-task"
	PolicyNetworkNone  = "koya-network-none"
	PolicyEgress       = "koya-egress"
	PolicyNoIngress    = "koya-deny-ingress"
)

// dnsLabel makes s a DNS label of at most max characters: lowercase
// letters, digits and '-', starting and ending with a letter or digit;
// when anything had to change (or s is too long), a hash of s keeps
// different inputs apart.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == s && len(out) <= max && out != "" {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:4])
	if room := max - len(h) - 1; len(out) > room {
		out = strings.Trim(out[:room], "-")
	}
	if out == "" {
		return h
	}
	return out + "-" + h
}

// labelValue makes s a label value (≤ 63 of [A-Za-z0-9._-], alphanumeric
// at both ends), hashed like dnsLabel when it had to change.
func labelValue(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-_.")
	if out == s && len(out) <= 63 {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:4])
	if len(out) > 54 {
		out = strings.Trim(out[:54], "-_.")
	}
	if out == "" {
		return h
	}
	return out + "-" + h
}

// PodName is the name of an attempt's pod (and of its Secret): the same
// attempt always gets the same name, which makes Start idempotent.
func PodName(attemptID string) string { return dnsLabel("koya-"+attemptID, 63) }

// Namespace is the namespace of a project's pods.
func (d *Driver) Namespace(project string) string {
	if d.o.NamespaceFor != nil {
		return d.o.NamespaceFor(project)
	}
	return dnsLabel(d.o.NamespacePrefix+project, 63)
}
