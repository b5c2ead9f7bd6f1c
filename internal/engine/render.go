package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/expr"
	"github.com/koya-dev/koya/internal/store"
)

// inputRef matches the only form an input takes today: an output of an
// earlier step.
var inputRef = regexp.MustCompile(`^\{\{\s*steps\.([a-z][a-z0-9_]*)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$`)

// InputsDir is where the agent places a task's inputs, relative to its
// working directory.
const InputsDir = "inputs"

// expandStep turns a step whose needs are done into its tasks: the guard is
// evaluated, foreach resolved to items, and every template rendered per item.
// A non-empty skip says why the step does not run.
func expandStep(run store.Run, def *v1.Step, outputs map[string][]map[string]v1.Output, phases map[string]v1.Phase, files map[string]FileSet) (tasks []store.Task, skip string, err error) {
	vars := expandVars(run, outputs, phases)
	if def.When != "" {
		ok, err := expr.Bool(def.When, vars)
		if err != nil {
			return nil, "", fmt.Errorf("when: %w", err)
		}
		if !ok {
			return nil, "when is false: " + def.When, nil
		}
	}
	items := []any{nil}
	if ref, err := datalakeForeach(def, vars); err != nil {
		return nil, "", fmt.Errorf("foreach: %w", err)
	} else if ref != "" {
		set, ok := files[ref]
		if !ok {
			return nil, "", fmt.Errorf("foreach: %s was not looked up (a bug: the snapshot should hold it)", ref)
		}
		if set.Err != "" {
			return nil, "", fmt.Errorf("foreach: %s", set.Err)
		}
		if items, err = fileItems(set.Files); err != nil {
			return nil, "", fmt.Errorf("foreach: %w", err)
		}
	} else if def.Foreach != nil {
		if items, err = foreachItems(def.Foreach, vars); err != nil {
			return nil, "", fmt.Errorf("foreach: %w", err)
		}
	}
	inputs, err := resolveInputs(run.Spec, def, outputs)
	if err != nil {
		return nil, "", err
	}
	tasks = make([]store.Task, 0, len(items))
	for i, item := range items {
		t, err := renderTask(run, def, vars, item, def.Foreach != nil, inputs)
		if err != nil {
			if def.Foreach != nil {
				return nil, "", fmt.Errorf("item %d: %w", i, err)
			}
			return nil, "", err
		}
		t.Index = i
		tasks = append(tasks, t)
	}
	return tasks, "", nil
}

// expandVars is what a step's guard, foreach and templates see before
// its items exist.
func expandVars(run store.Run, outputs map[string][]map[string]v1.Output, phases map[string]v1.Phase) expr.Vars {
	return expr.Vars{
		Params: run.Params,
		Run:    expr.RunVars{ID: run.ID, Project: run.Project, Workflow: run.Workflow},
		Steps:  stepVars(run.Spec, outputs, phases),
	}
}

// stepVars exposes the JSON values of finished steps' outputs to expressions:
// one value per output, or a list of them for a foreach step.
func stepVars(spec v1.WorkflowSpec, outputs map[string][]map[string]v1.Output, phases map[string]v1.Phase) map[string]expr.StepVars {
	vars := map[string]expr.StepVars{}
	for _, s := range spec.Steps {
		sv := expr.StepVars{Phase: string(phases[s.Name]), Outputs: map[string]any{}}
		items := outputs[s.Name]
		for name := range s.Outputs {
			if s.Foreach != nil {
				list := make([]any, len(items))
				for i, o := range items {
					list[i] = jsonValue(o[name].Value)
				}
				sv.Outputs[name] = list
			} else if len(items) > 0 {
				sv.Outputs[name] = jsonValue(items[0][name].Value)
			}
		}
		vars[s.Name] = sv
	}
	return vars
}

func jsonValue(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

func foreachItems(foreach any, vars expr.Vars) ([]any, error) {
	switch f := foreach.(type) {
	case []any:
		return f, nil
	case string:
		v, err := expr.Value(f, vars)
		if err != nil {
			return nil, err
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s is %T, not a list", f, v)
		}
		return list, nil
	default:
		return nil, fmt.Errorf("must be a list or a template, not %T", foreach)
	}
}

// resolveInputs maps each declared input to the artifacts it names.
func resolveInputs(spec v1.WorkflowSpec, def *v1.Step, outputs map[string][]map[string]v1.Output) ([]v1.InputSpec, error) {
	names := make([]string, 0, len(def.Inputs))
	for n := range def.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	var inputs []v1.InputSpec
	for _, name := range names {
		ref := def.Inputs[name]
		if isDatalakeRef(ref) { // rendered per item by renderTask, pinned by insertTasks
			inputs = append(inputs, v1.InputSpec{Name: name, Path: path.Join(InputsDir, name), Datalake: strings.TrimSpace(ref)})
			continue
		}
		m := inputRef.FindStringSubmatch(ref)
		if m == nil {
			return nil, fmt.Errorf("input %s: %q is not a reference to a step output", name, ref)
		}
		src, out := m[1], m[2]
		fanout := false
		if d := stepDef(spec, src); d != nil {
			fanout = d.Foreach != nil
		}
		in := v1.InputSpec{Name: name, Path: path.Join(InputsDir, name), Many: fanout}
		for i, o := range outputs[src] {
			a, ok := o[out]
			if !ok {
				return nil, fmt.Errorf("input %s: step %s item %d has no output %q", name, src, i, out)
			}
			in.Artifacts = append(in.Artifacts, a)
		}
		if len(in.Artifacts) == 0 && !fanout {
			return nil, fmt.Errorf("input %s: step %s produced no output %q", name, src, out)
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// renderTask resolves one item's templates into a manifest.
func renderTask(run store.Run, def *v1.Step, vars expr.Vars, item any, hasItem bool, inputs []v1.InputSpec) (store.Task, error) {
	vars.Item = item
	inputs, err := renderDatalakeInputs(inputs, vars)
	if err != nil {
		return store.Task{}, err
	}
	vars.Inputs = map[string]string{}
	for _, in := range inputs {
		vars.Inputs[in.Name] = in.Path
	}
	vars.Outputs = def.Outputs
	m := v1.TaskManifest{
		Project:   run.Project,
		RunID:     run.ID,
		Step:      def.Name,
		Image:     def.Image,
		Inputs:    inputs,
		Outputs:   def.Outputs,
		Timeout:   def.Timeout,
		Resources: def.Resources,
		Network:   def.Network,
		Secrets:   def.Secrets,
		// Placement on the kubernetes backend (api/v1/scheduling.go).
		NodeSelector: def.NodeSelector,
		Tolerations:  def.Tolerations,
	}
	for i, arg := range append(append([]string{}, def.Command...), def.Args...) {
		s, err := expr.Render(arg, vars)
		if err != nil {
			return store.Task{}, fmt.Errorf("command[%d]: %w", i, err)
		}
		m.Command = append(m.Command, s)
	}
	if len(def.Env) > 0 {
		m.Env = make(map[string]string, len(def.Env))
		for k, v := range def.Env {
			s, err := expr.Render(v, vars)
			if err != nil {
				return store.Task{}, fmt.Errorf("env.%s: %w", k, err)
			}
			m.Env[k] = s
		}
	}
	if def.WorkDir != "" {
		s, err := expr.Render(def.WorkDir, vars)
		if err != nil {
			return store.Task{}, fmt.Errorf("workingDir: %w", err)
		}
		m.WorkDir = s
	}
	t := store.Task{RunID: run.ID, Step: def.Name, Phase: v1.Pending, Manifest: m}
	if hasItem {
		b, err := json.Marshal(item)
		if err != nil {
			return store.Task{}, fmt.Errorf("item: %w", err)
		}
		t.Item = b
	}
	if def.Cache {
		t.CacheKey = cacheKey(m)
	}
	return t, nil
}

// renderDatalakeInputs renders the datalake references among inputs for
// one item, on a copy (inputs is shared by the step's tasks).
func renderDatalakeInputs(inputs []v1.InputSpec, vars expr.Vars) ([]v1.InputSpec, error) {
	var out []v1.InputSpec
	for i, in := range inputs {
		if in.Datalake == "" {
			continue
		}
		if out == nil {
			out = slices.Clone(inputs)
		}
		ref, err := expr.Render(in.Datalake, vars)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Name, err)
		}
		if !strings.HasPrefix(strings.TrimSpace(ref), v1.DatalakeScheme) {
			return nil, fmt.Errorf("input %s: %s gave %q, not a datalake reference (datalake://<project>/<channel>/<path>)", in.Name, in.Datalake, ref)
		}
		out[i].Datalake = strings.TrimSpace(ref)
	}
	if out == nil {
		return inputs, nil
	}
	return out, nil
}

// cacheKey memoises a task by what determines its result: image, rendered
// command, env, the names of the secrets it gets, working directory,
// declared outputs and the digests of its inputs (params reach the task
// only through these). Secrets' values are not in it: a new version of a
// credential does not make earlier results stale.
func cacheKey(m v1.TaskManifest) string {
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s;", len(p), p)
		}
	}
	w("v1", m.Image, m.WorkDir, m.Network)
	w(m.Command...)
	w(sortedPairs(m.Env)...)
	secrets := slices.Sorted(slices.Values(m.Secrets))
	w(append([]string{"secrets"}, secrets...)...)
	w(sortedPairs(m.Outputs)...)
	for _, in := range m.Inputs {
		w(in.Name, in.Path)
		for _, a := range in.Artifacts {
			w(a.Digest)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
