package expr

import (
	"encoding/json"

	"github.com/google/cel-go/interpreter"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// activation resolves the variables of one evaluation from Vars, each when
// an expression first uses it.
type activation struct {
	v     *Vars
	steps map[string]any
}

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	v := a.v
	switch name {
	case lang.VarParams:
		return numbers(v.Params), true
	case lang.VarItem:
		return number(v.Item), true
	case lang.VarRun:
		return map[string]string{"id": v.Run.ID, "project": v.Run.Project, "workflow": v.Run.Workflow}, true
	case lang.VarInputs:
		return orEmpty(v.Inputs), true
	case lang.VarOutputs:
		return orEmpty(v.Outputs), true
	case lang.VarSteps:
		if a.steps == nil {
			a.steps = make(map[string]any, len(v.Steps))
			for name, s := range v.Steps {
				outs := s.Outputs
				if outs == nil {
					outs = map[string]any{}
				}
				a.steps[name] = map[string]any{"phase": s.Phase, "outputs": outs}
			}
		}
		return a.steps, true
	case lang.VarExit:
		e := v.Exit
		if e == nil {
			return nil, false
		}
		return map[string]any{
			"code":       int64(e.Code),
			"signal":     int64(e.Signal),
			"oom_killed": e.OOMKilled,
			"timed_out":  e.TimedOut,
			"error":      e.Error,
		}, true
	case lang.VarAttempt:
		return int64(v.Attempt), true
	}
	return nil, false
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// numbers turns json.Number params (from a decoder with UseNumber) into
// int64 or float64; other values are CEL-ready as they are.
func numbers(params map[string]any) map[string]any {
	if params == nil {
		return map[string]any{}
	}
	for _, p := range params {
		if _, ok := p.(json.Number); ok {
			out := make(map[string]any, len(params))
			for k, p := range params {
				out[k] = number(p)
			}
			return out
		}
	}
	return params
}

func number(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return f
	}
	return string(n)
}
