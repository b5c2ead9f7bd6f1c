package v1

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// inputRef is the one form an input takes today: an output of a step this
// one needs.
var inputRef = regexp.MustCompile(`^\{\{\s*steps\.([A-Za-z_][A-Za-z0-9_]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// quantity is a Kubernetes-style memory size: 1000, 512Mi, 4Gi, 1G, 1.5Gi.
var quantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([KMGTPE]i|[kKMGTPE])?$`)

const maxRetries = 100

func (v *validator) workflowSpec(s *WorkflowSpec) {
	ptypes := v.paramSpecs(s.Params)
	if s.Parallelism < 0 {
		v.add("spec.parallelism", "must be 0 (no cap) or more, not %d", s.Parallelism)
	}
	if len(s.Steps) == 0 {
		v.add("spec.steps", "a workflow needs at least one step")
		return
	}
	g := newGraph(s.Steps)
	v.dag(g)
	for i := range s.Steps {
		v.step(i, &s.Steps[i], g, ptypes)
	}
}

func (v *validator) step(i int, st *Step, g *graph, ptypes map[string]string) {
	p := joinIndex("spec.steps", i)
	at := func(f string) string { return joinField(p, f) }
	v.ident(at("name"), st.Name, "step name", "steps.")

	visible := g.closure(i)
	outs := map[string]map[string]bool{}
	for s := range visible {
		outs[s] = g.outputs[s]
	}
	// when and foreach are evaluated before the step's tasks exist: they see
	// params and the steps it needs, not item, inputs or outputs.
	guard := lang.Scope{Params: ptypes, Steps: visible, StepOutputs: outs}
	task := guard
	task.Item = st.Foreach != nil
	task.Inputs = keySet(st.Inputs)
	task.Outputs = keySet(st.Outputs)

	if len(st.Command) == 0 {
		v.add(at("command"), "a step needs a command: the program and its arguments, e.g. [python3, train.py]")
	} else if strings.TrimSpace(st.Command[0]) == "" {
		v.add(joinIndex(at("command"), 0), "the program to run cannot be empty")
	}
	for j, a := range st.Command {
		v.template(joinIndex(at("command"), j), a, task)
	}
	for j, a := range st.Args {
		v.template(joinIndex(at("args"), j), a, task)
	}
	for _, k := range sortedKeys(st.Env) {
		if !envName.MatchString(k) {
			v.add(joinKey(at("env"), k), "%q is not an environment variable name: use letters, digits and '_', not starting with a digit", k)
		}
		v.template(joinKey(at("env"), k), st.Env[k], task)
	}
	v.template(at("workingDir"), st.WorkDir, task)
	if lang.HasTemplate(st.Image) {
		v.add(at("image"), "the image is used as written: templates are not rendered here")
	}

	v.foreach(at("foreach"), st.Foreach, guard)
	if st.When != "" {
		if err := lang.CheckBool(st.When, guard); err != nil {
			v.addErr(at("when"), err)
		}
	}
	if st.Parallelism < 0 {
		v.add(at("parallelism"), "must be 0 (no cap) or more, not %d", st.Parallelism)
	}
	v.retry(at("retry"), st.Retry, ptypes)
	if st.Timeout.Duration < 0 {
		v.add(at("timeout"), "must not be negative (0 or absent: no timeout)")
	}
	v.resources(at("resources"), st.Resources)
	inScope := guard // an input may name a datalake file by params or item
	inScope.Item = st.Foreach != nil
	v.inputs(at("inputs"), st.Inputs, g, visible, inScope)
	v.outputs(at("outputs"), st.Outputs)
	seen := map[string]bool{}
	for j, s := range st.Secrets {
		sp := joinIndex(at("secrets"), j)
		if !envName.MatchString(s) {
			v.add(sp, "%q is not a secret name: secrets arrive as environment variables, so use letters, digits and '_', not starting with a digit", s)
		} else if seen[s] {
			v.add(sp, "%q is listed twice", s)
		}
		seen[s] = true
	}
	v.oneOf(at("backend"), st.Backend, "backend", backends)
	v.oneOf(at("network"), st.Network, "network", networks)
	v.scheduling(p, st.NodeSelector, st.Tolerations)
}

func (v *validator) template(p, s string, sc lang.Scope) {
	if err := lang.CheckTemplate(s, sc); err != nil {
		v.addErr(p, err)
	}
}

func (v *validator) foreach(p string, f any, sc lang.Scope) {
	switch f := f.(type) {
	case nil, []any:
	case string:
		if strings.HasPrefix(strings.TrimSpace(f), DatalakeScheme) {
			v.datalakeRef(p, f, sc)
			if !strings.Contains(f, "?") {
				v.add(p, "a datalake foreach is a query, one item per file: datalake://<project>/<channel>?query=...")
			}
			return
		}
		if err := lang.CheckList(f, sc); err != nil {
			v.addErr(p, err)
		}
	default:
		v.add(p, `must be a list of items (e.g. [{C: 0.1}, {C: 1}]) or one template whose value is a list (e.g. "{{ steps.grid.outputs.grid }}"), not %s`, describe(f))
	}
}

func (v *validator) retry(p string, r *RetryPolicy, ptypes map[string]string) {
	if r == nil {
		return
	}
	if r.Limit < 0 || r.Limit > maxRetries {
		v.add(joinField(p, "limit"), "must be between 0 and %d, not %d", maxRetries, r.Limit)
	}
	if r.Backoff.Duration < 0 {
		v.add(joinField(p, "backoff"), "must not be negative")
	}
	if r.MaxBackoff.Duration < 0 {
		v.add(joinField(p, "maxBackoff"), "must not be negative")
	}
	if r.When != "" {
		if err := lang.CheckBool(r.When, lang.Scope{Params: ptypes, Exit: true}); err != nil {
			v.addErr(joinField(p, "when"), err)
		}
	}
}

func (v *validator) resources(p string, r Resources) {
	if r.CPU < 0 || math.IsNaN(r.CPU) || math.IsInf(r.CPU, 0) {
		v.add(joinField(p, "cpu"), "must be a number of cores, 0 or more (e.g. 0.5, 2)")
	}
	if r.GPU < 0 {
		v.add(joinField(p, "gpu"), "must be 0 or more")
	}
	if r.Memory != "" && !quantity.MatchString(r.Memory) {
		msg := fmt.Sprintf("%q is not a memory size: write bytes with an optional suffix Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), e.g. 512Mi or 4Gi", r.Memory)
		if t := strings.TrimSuffix(strings.TrimSuffix(r.Memory, "B"), "b"); t != r.Memory && quantity.MatchString(t) {
			msg += fmt.Sprintf(" (did you mean %s?)", t)
		}
		v.add(joinField(p, "memory"), "%s", msg)
	}
}

func (v *validator) inputs(p string, in map[string]string, g *graph, visible map[string]bool, sc lang.Scope) {
	for _, name := range sortedKeys(in) {
		ip := joinKey(p, name)
		if !ioName.MatchString(name) {
			v.identProblem(ip, name, "input name", "inputs.", "letters, digits and '_', not starting with a digit")
		}
		ref := strings.TrimSpace(in[name])
		m := inputRef.FindStringSubmatch(ref)
		switch {
		case strings.HasPrefix(ref, DatalakeScheme) || isItemRef(ref):
			v.datalakeRef(ip, ref, sc)
		case m == nil:
			v.add(ip, `%q is not an input reference: an input is "{{ steps.<step>.outputs.<output> }}" (the output of a step this one needs), a datalake file "datalake://<project>/<channel>/<path>", a datalake query "datalake://<project>/<channel>?query=...", or "{{ item.uri }}" of a datalake foreach`, in[name])
		default:
			step, out := m[1], m[2]
			_, known := g.index[step]
			switch {
			case !known:
				hint := ""
				if c, ok := lang.Closest(step, g.names()); ok {
					hint = " (did you mean " + c + "?)"
				}
				v.add(ip, "unknown step %q%s", step, hint)
			case !visible[step]:
				v.add(ip, "step %q is not among the steps this one needs (directly or through its needs): add it to needs", step)
			case !g.outputs[step][out]:
				v.add(ip, "step %q declares no output %q; its outputs: %s", step, out, listOr(sortedKeys(g.outputs[step]), "none"))
			}
		}
	}
}

// itemRef is an input given by the item of a datalake foreach
// ("{{ item.uri }}"): a datalake reference once rendered.
var itemRef = regexp.MustCompile(`^\{\{\s*item(\.[A-Za-z_][A-Za-z0-9_]*)*\s*\}\}$`)

func isItemRef(ref string) bool { return itemRef.MatchString(ref) }

// datalakeRef checks a datalake reference: its templates, and its shape
// when it has none (a templated one is checked once rendered).
func (v *validator) datalakeRef(p, ref string, sc lang.Scope) {
	if lang.HasTemplate(ref) {
		v.template(p, ref, sc)
		return
	}
	if _, err := ParseDatalakeURI(strings.TrimSpace(ref)); err != nil {
		v.add(p, "%v", err)
	}
}

func (v *validator) outputs(p string, outs map[string]string) {
	for _, name := range sortedKeys(outs) {
		op := joinKey(p, name)
		if !ioName.MatchString(name) {
			v.identProblem(op, name, "output name", "outputs.", "letters, digits and '_', not starting with a digit")
		}
		file := outs[name]
		switch {
		case file == "":
			v.add(op, "an output needs the path the command writes it to, relative to the working directory (e.g. out/model.pkl)")
		case strings.Contains(file, "{{") || strings.Contains(file, "}}"):
			v.add(op, "output paths are used as written: templates are not rendered here")
		case path.IsAbs(file) || strings.HasPrefix(file, `\`):
			v.add(op, "%q is absolute: an output is a path relative to the task's working directory (e.g. out/model.pkl)", file)
		case file == ".." || strings.HasPrefix(file, "../") || strings.Contains(file, "/../") || strings.HasSuffix(file, "/.."):
			v.add(op, "%q leaves the working directory: '..' is not allowed in output paths", file)
		case path.Clean(file) == ".":
			v.add(op, "an output cannot be the whole working directory: name a file or directory in it (e.g. out)")
		case path.Clean(file) != file:
			v.add(op, "%q is not a clean path: write %q", file, path.Clean(file))
		}
	}
}

func keySet(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func listOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

// describe names the JSON shape of a value for messages.
func describe(x any) string {
	switch x := x.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case float64, float32, int, int64, int32, uint, uint64:
		return fmt.Sprintf("the number %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a Go %T", x)
}
