package v1

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/expr/lang"
)

var (
	// dnsLabel: workflow and project names (they appear in URLs, object
	// keys and Kubernetes resource names).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// identName: step and param names, which expressions use as
	// steps.<name> and params.<name>, so they must be CEL identifiers.
	identName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	// ioName: input and output names (inputs.<name>, outputs.<name>).
	ioName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	// envName: environment variables and secrets (delivered as env vars).
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelKey = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$`)
)

// The values a step's backend and network may take ("" means the default).
var (
	backends = []string{"auto", "local", "container", "kubernetes", "mock"}
	networks = []string{"none", "egress"}
)

// validator gathers every problem of one object, each at a field path.
type validator struct{ list errs.List }

func (v *validator) add(path, format string, args ...any) {
	v.list = append(v.list, errs.At(errs.Invalid, path, format, args...))
}

// addErr keeps an expression error's message and, as its cause, the
// position inside the string it points at.
func (v *validator) addErr(path string, err error) {
	var e *errs.Error
	if errors.As(err, &e) {
		v.list = append(v.list, &errs.Error{Code: e.Code, Where: path, Message: e.Message, Err: e})
		return
	}
	v.add(path, "%v", err)
}

// Validate checks a workflow on its own (as the API receives it): every
// problem at once, each with the field path it is about.
func (w *Workflow) Validate() errs.List {
	var v validator
	v.typeMeta(w.TypeMeta, "Workflow")
	v.objectMeta(w.Metadata, "workflow")
	v.workflowSpec(&w.Spec)
	return v.list
}

// Validate checks a project on its own.
func (p *Project) Validate() errs.List {
	var v validator
	v.typeMeta(p.TypeMeta, "Project")
	v.objectMeta(p.Metadata, "project")
	v.oneOf("spec.defaultBackend", p.Spec.DefaultBackend, "backend", backends)
	v.backendPolicy("spec.backendPolicy", p.Spec.BackendPolicy)
	v.scheduling("spec", p.Spec.NodeSelector, p.Spec.Tolerations)
	if q := p.Spec.Quota; q != nil {
		if q.MaxRunning < 0 {
			v.add("spec.quota.maxRunning", "must be 0 (no limit) or more, not %d", q.MaxRunning)
		}
		v.resources("spec.quota", Resources{CPU: q.CPU, Memory: q.Memory})
		if q.Storage != "" && !quantity.MatchString(q.Storage) {
			v.add("spec.quota.storage", "%q is not a size: bytes with an optional suffix Ki, Mi, Gi, Ti or k, M, G, T, e.g. 500Gi", q.Storage)
		}
	}
	return v.list
}

func (v *validator) typeMeta(t TypeMeta, kind string) {
	switch t.APIVersion {
	case APIVersion:
	case "":
		v.add("apiVersion", "missing: write apiVersion: %s", APIVersion)
	default:
		v.add("apiVersion", "%q is not supported: use %s", t.APIVersion, APIVersion)
	}
	if t.Kind != kind {
		if t.Kind == "" {
			v.add("kind", "missing: write kind: %s", kind)
		} else {
			v.add("kind", "is %q, expected %s", t.Kind, kind)
		}
	}
}

func (v *validator) objectMeta(m ObjectMeta, what string) {
	v.dnsName("metadata.name", m.Name, what+" name")
	if m.Project != "" {
		v.dnsName("metadata.project", m.Project, "project name")
	}
	for _, k := range sortedKeys(m.Labels) {
		p := joinKey("metadata.labels", k)
		if !labelKey.MatchString(k) {
			v.add(p, "label key %q: use letters, digits, '.', '_', '-' and '/', starting and ending with a letter or digit", k)
		}
		if len(m.Labels[k]) > 63 {
			v.add(p, "label values are at most 63 characters")
		}
	}
}

func (v *validator) dnsName(path, name, what string) {
	switch {
	case name == "":
		v.add(path, "a %s is required", what)
	case !dnsLabel.MatchString(name):
		msg := fmt.Sprintf("%q is not a valid %s: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name, what)
		if fixed := fixDNS(name); dnsLabel.MatchString(fixed) {
			msg += fmt.Sprintf(", e.g. %q", fixed)
		}
		v.add(path, "%s", msg)
	}
}

func fixDNS(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ' || r == '.':
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	return out
}

// ident checks a name that expressions use as <ref>.<name>.
func (v *validator) ident(path, name, what, ref string) bool {
	if identName.MatchString(name) {
		return true
	}
	v.identProblem(path, name, what, ref, "a lowercase letter, then lowercase letters, digits or '_' (at most 63 characters)")
	return false
}

func (v *validator) identProblem(path, name, what, ref, rule string) {
	switch {
	case name == "":
		v.add(path, "a %s is required", what)
	case strings.Contains(name, "-"):
		v.add(path, "%s %q cannot contain '-': expressions refer to it as %s%s, where '-' would read as minus; use %q",
			what, name, ref, name, strings.ReplaceAll(name, "-", "_"))
	default:
		v.add(path, "%s %q must be usable in expressions as %s<name>: %s", what, name, ref, rule)
	}
}

func (v *validator) oneOf(path, value, what string, allowed []string) {
	if value == "" || contains(allowed, value) {
		return
	}
	hint := ""
	if c, ok := lang.Closest(value, allowed); ok {
		hint = fmt.Sprintf(" (did you mean %s?)", c)
	}
	v.add(path, "unknown %s %q%s: use one of %s", what, value, hint, strings.Join(allowed, ", "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
