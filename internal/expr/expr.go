// Package expr evaluates the expressions of workflow documents with CEL
// (github.com/google/cel-go): `when` guards, retry conditions, and the
// "{{ expr }}" templates inside strings.
//
// Variables in scope (each only where it makes sense; Scope says which):
//
//	params.<name>             run parameters (typed)
//	item                      the current foreach item (foreach steps only)
//	run.id run.project run.workflow
//	inputs.<name>             local path of an input (command/env only)
//	outputs.<name>            local path an output is written to (command/env only)
//	steps.<name>.outputs.<o>  JSON value of a small JSON output of an earlier
//	                          step (a list of them for a foreach step)
//	steps.<name>.phase        "Succeeded", "Skipped", ...
//	exit.code exit.signal exit.oom_killed exit.timed_out exit.error, attempt   (retry.when only)
//
// The checks (CheckBool, CheckTemplate, CheckList) reject at validation
// time what would fail at run time: unknown params, steps a step does not
// need, outputs a step does not declare, item outside foreach, exit outside
// retry.when, and type errors (params.<name> has its declared type).
//
// Numbers follow JSON, where every value comes from: int and double mix in
// + - * / (giving a double) and compare across types; an integral double
// renders without ".0".
//
// Compiled programs are cached by (kind, source text), so evaluating the
// same expression for 10,000 items compiles it once. The CEL machinery
// lives in package lang, which api/v1 uses for its checks.
package expr

import (
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/expr/lang"
)

// Scope says which names an expression may use where it is written; the
// checks reject everything else (params.nosuch, steps.unneeded, item
// outside foreach, exit outside retry.when).
type Scope = lang.Scope

// Vars are the values an expression is evaluated with.
type Vars struct {
	Params  map[string]any
	Item    any
	Run     RunVars
	Inputs  map[string]string // input name -> local path
	Outputs map[string]string // output name -> local path
	Steps   map[string]StepVars
	Exit    *v1.Exit // retry.when only
	Attempt int      // retry.when only: the 1-based attempt that failed
}

// RunVars is run.* in expressions.
type RunVars struct{ ID, Project, Workflow string }

// StepVars is steps.<name>.* in expressions: the phase, and the JSON value
// of each small JSON output (a list of them for a foreach step).
type StepVars struct {
	Phase   string
	Outputs map[string]any
}

// CheckBool compiles and type-checks a guard in scope: it must be a bool.
func CheckBool(src string, s Scope) error { return lang.CheckBool(src, s) }

// CheckTemplate checks that every "{{ expr }}" in src compiles in scope and
// that its braces are balanced.
func CheckTemplate(src string, s Scope) error { return lang.CheckTemplate(src, s) }

// CheckList checks a foreach template: exactly one "{{ expr }}" whose
// value is a list.
func CheckList(src string, s Scope) error { return lang.CheckList(src, s) }

// HasTemplate reports whether s holds a "{{ expr }}" template.
func HasTemplate(s string) bool { return lang.HasTemplate(s) }

// Bool evaluates a guard or retry condition.
func Bool(src string, v Vars) (bool, error) { return lang.Bool(src, &activation{v: &v}) }

// Render replaces each "{{ expr }}" of src with its value: strings as they
// are, numbers without a trailing .0 when integral, lists and maps as JSON.
func Render(src string, v Vars) (string, error) {
	if !strings.Contains(src, "{{") && !strings.Contains(src, "}}") {
		return src, nil
	}
	return lang.Render(src, &activation{v: &v})
}

// Value evaluates a string that is exactly one "{{ expr }}" to its typed
// value (for foreach: a []any). A string without templates is returned as
// it is; one mixing text and templates is rendered to a string.
func Value(src string, v Vars) (any, error) { return lang.Value(src, &activation{v: &v}) }
