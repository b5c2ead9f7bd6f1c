package lang

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/koya-dev/koya/errs"
)

// An Activation binds the variables of an evaluation by name (VarParams,
// VarItem, ...) to Go values: maps, slices, strings, numbers, bools. It is a
// map[string]any or an interpreter.Activation (which can resolve lazily).
type Activation = any

// program is one expression compiled for evaluation, with what is needed
// to point at the place a runtime error comes from.
type program struct {
	prg  cel.Program
	info *ast.SourceInfo
	src  string // the string the expression was written in
	part part
}

func compileEval(src string, p part) (*program, error) {
	_, env, err := envs()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "expression environment")
	}
	compiles.Add(1)
	a, iss := env.Compile(p.expr)
	if iss.Err() != nil {
		return nil, issuesError(src, p, iss)
	}
	prg, err := env.Program(a, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, inTemplate(src, p.start, p.text, celMessage(err.Error()))
	}
	return &program{prg: prg, info: a.NativeRep().SourceInfo(), src: src, part: p}, nil
}

func (p *program) eval(act Activation) (ref.Val, error) {
	out, _, err := p.prg.Eval(act)
	if err != nil {
		off := firstNonSpace(p.part.expr)
		var te *types.Err
		if errors.As(err, &te) && te.NodeID() != 0 {
			if loc := p.info.GetStartLocation(te.NodeID()); loc.Line() > 0 {
				off = byteOffset(p.part.expr, loc.Line(), loc.Column())
				if off < len(p.part.expr) && p.part.expr[off] == '.' {
					off++ // a selection: point at the field rather than the dot
				}
			}
		}
		return nil, inTemplate(p.src, p.part.start+off, p.part.text, celMessage(err.Error()))
	}
	return out, nil
}

// Bool evaluates a guard.
func Bool(src string, act Activation) (bool, error) {
	v, err := programs.get(cacheKey{kind: kindBool, src: src}, func() (any, error) {
		return compileEval(src, part{isExpr: true, expr: src})
	})
	if err != nil {
		return false, err
	}
	out, err := v.(*program).eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		s, _ := format(out)
		return false, atOffset(src, firstNonSpace(src), fmt.Sprintf("must be true or false, got %s %s", typeName(out), abbreviate(s)))
	}
	return bool(b), nil
}

// compiled is a template string compiled for evaluation: its parts, and
// a program for each expression part.
type compiled struct {
	parts []part
	progs []*program
}

func compileTemplate(src string) (*compiled, error) {
	v, err := programs.get(cacheKey{kind: kindTemplate, src: src}, func() (any, error) {
		parts, err := scan(src)
		if err != nil {
			return nil, err
		}
		c := &compiled{parts: parts, progs: make([]*program, len(parts))}
		for i, p := range parts {
			if p.isExpr {
				if c.progs[i], err = compileEval(src, p); err != nil {
					return nil, err
				}
			}
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*compiled), nil
}

func plain(src string) bool { return !strings.Contains(src, "{{") && !strings.Contains(src, "}}") }

// Render replaces each "{{ expr }}" of src with its value: strings as they
// are, numbers without a trailing .0 when integral, lists and maps as JSON.
func Render(src string, act Activation) (string, error) {
	if plain(src) {
		return src, nil
	}
	c, err := compileTemplate(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, p := range c.parts {
		if !p.isExpr {
			b.WriteString(p.lit)
			continue
		}
		out, err := c.progs[i].eval(act)
		if err != nil {
			return "", err
		}
		s, err := format(out)
		if err != nil {
			return "", inTemplate(src, p.start+firstNonSpace(p.expr), p.text, err.Error())
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Value evaluates a string that is exactly one "{{ expr }}" to its typed
// value (a list is []any, a map map[string]any, numbers int64 or float64).
// A string without templates is returned as it is; a string mixing text
// and templates is rendered.
func Value(src string, act Activation) (any, error) {
	if plain(src) {
		return src, nil
	}
	c, err := compileTemplate(src)
	if err != nil {
		return nil, err
	}
	i, ok := single(c.parts)
	if !ok {
		return Render(src, act)
	}
	out, err := c.progs[i].eval(act)
	if err != nil {
		return nil, err
	}
	v, err := Native(out)
	if err != nil {
		p := c.parts[i]
		return nil, inTemplate(src, p.start+firstNonSpace(p.expr), p.text, err.Error())
	}
	return v, nil
}
