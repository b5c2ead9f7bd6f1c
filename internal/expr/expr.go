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
//	exit.code exit.signal exit.oom_killed exit.timed_out, attempt   (retry.when only)
//
// Compiled programs are cached by source text, so evaluating the same
// expression for 10,000 items compiles it once.
package expr
