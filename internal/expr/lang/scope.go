// Package lang is the CEL machinery behind package expr: scanning "{{ }}"
// templates, checking expressions against what a document declares, and
// compiling (once, cached) and evaluating them over plain activations.
//
// It depends on nothing of koya's API so that api/v1 can check documents
// with it while package expr, which speaks api/v1 types, evaluates them.
package lang

import (
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// Scope says which names an expression may use where it is written.
type Scope struct {
	// Params maps each declared param to its type: string, number, integer,
	// boolean, object or array. params.<name> is typed accordingly.
	Params map[string]string
	// Item is true in a foreach step's command, args, env and workingDir.
	Item bool
	// Steps are the steps visible here (the transitive needs).
	Steps map[string]bool
	// StepOutputs, when set for a visible step, lists the outputs it
	// declares: steps.<s>.outputs.<o> must name one of them.
	StepOutputs map[string]map[string]bool
	// Inputs and Outputs are the names of this step's inputs and outputs.
	Inputs, Outputs map[string]bool
	// Exit is true in retry.when: exit.* and attempt are defined.
	Exit bool
}

// Variables every activation may bind. The evaluation environment declares
// them all (dynamically typed); checking declares only those in scope.
const (
	VarParams  = "params"
	VarItem    = "item"
	VarRun     = "run"
	VarInputs  = "inputs"
	VarOutputs = "outputs"
	VarSteps   = "steps"
	VarExit    = "exit"
	VarAttempt = "attempt"
)

// ExitFields are the fields of exit in retry.when, with their CEL types.
var ExitFields = []struct {
	Name string
	Type *cel.Type
}{
	{"code", cel.IntType},
	{"signal", cel.IntType},
	{"oom_killed", cel.BoolType},
	{"timed_out", cel.BoolType},
	{"error", cel.StringType},
}

// RunFields are the fields of run.
var RunFields = []string{"id", "project", "workflow"}

// StepFields are the fields of steps.<name>.
var StepFields = []string{"outputs", "phase"}

// ParamTypes are the types a param may declare.
var ParamTypes = []string{"string", "number", "integer", "boolean", "object", "array"}

const (
	maxSourceLen = 16 << 10 // longest expression or template string accepted
	costLimit    = 10_000_000
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var stringMap = cel.MapType(cel.StringType, cel.StringType)
var dynMap = cel.MapType(cel.StringType, cel.DynType)

func baseOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxSourceLen),
		ext.Strings(),
		ext.Math(),
		ext.Lists(),
		cel.Variable(VarParams, dynMap),
		cel.Variable(VarRun, stringMap),
		cel.Variable(VarInputs, stringMap),
		cel.Variable(VarOutputs, stringMap),
		cel.Variable(VarSteps, dynMap),
	}
}

var (
	baseOnce sync.Once
	baseEnv  *cel.Env
	evalEnv  *cel.Env
	envErr   error
)

// envs builds the shared environments once: base (for checking, extended
// per scope) and eval (every variable declared, dynamically typed).
func envs() (*cel.Env, *cel.Env, error) {
	baseOnce.Do(func() {
		var std []cel.EnvOption
		if std, envErr = stdLibWithJSONArithmetic(); envErr != nil {
			return
		}
		baseEnv, envErr = cel.NewCustomEnv(append(std, baseOptions()...)...)
		if envErr != nil {
			return
		}
		evalEnv, envErr = baseEnv.Extend(
			cel.Variable(VarItem, cel.DynType),
			cel.Variable(VarExit, dynMap),
			cel.Variable(VarAttempt, cel.IntType),
		)
	})
	return baseEnv, evalEnv, envErr
}

// paramType is the CEL type of a param of declared type t.
func paramType(t string) *cel.Type {
	switch t {
	case "string":
		return cel.StringType
	case "number":
		return cel.DoubleType
	case "integer":
		return cel.IntType
	case "boolean":
		return cel.BoolType
	case "object":
		return dynMap
	case "array":
		return cel.ListType(cel.DynType)
	}
	return cel.DynType
}

// checkEnvs caches checking environments by what changes their
// declarations: the params' types, item and exit.
var checkEnvs = newCache(1024)

func checkEnv(s Scope) (*cel.Env, error) {
	base, _, err := envs()
	if err != nil {
		return nil, err
	}
	names := sortedKeys(s.Params)
	var key strings.Builder
	for _, n := range names {
		key.WriteString(n + ":" + s.Params[n] + ";")
	}
	if s.Item {
		key.WriteString("+item")
	}
	if s.Exit {
		key.WriteString("+exit")
	}
	v, err := checkEnvs.get(cacheKey{kind: kindEnv, src: key.String()}, func() (any, error) {
		var opts []cel.EnvOption
		for _, n := range names {
			// A qualified name gives params.<n> its declared type; the
			// checker resolves params.<n> to it before looking at the map.
			if identifier.MatchString(n) {
				opts = append(opts, cel.Variable(VarParams+"."+n, paramType(s.Params[n])))
			}
		}
		if s.Item {
			opts = append(opts, cel.Variable(VarItem, cel.DynType))
		}
		if s.Exit {
			opts = append(opts, cel.Variable(VarExit, dynMap), cel.Variable(VarAttempt, cel.IntType))
			for _, f := range ExitFields {
				opts = append(opts, cel.Variable(VarExit+"."+f.Name, f.Type))
			}
		}
		return base.Extend(opts...)
	})
	if err != nil {
		return nil, err
	}
	return v.(*cel.Env), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
