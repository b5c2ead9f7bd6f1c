package lang

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/koya-dev/koya/errs"
)

// CheckBool compiles a guard in scope s and checks that it is a bool.
// Unknown variables, params, steps and outputs are errors, as are item
// outside foreach and exit outside retry.when.
func CheckBool(src string, s Scope) error {
	a, err := checkIn(src, s)
	if err != nil {
		return err
	}
	if t := a.OutputType(); !isKind(t, types.BoolKind) {
		return atOffset(src, firstNonSpace(src), fmt.Sprintf("must be true or false, but this expression is %s", cel.FormatCELType(t)))
	}
	return nil
}

// CheckTemplate checks that every "{{ expr }}" in src compiles in scope s
// and that braces are balanced.
func CheckTemplate(src string, s Scope) error {
	parts, err := scan(src)
	if err != nil {
		return err
	}
	var env *cel.Env
	var found []*errs.Error
	for _, p := range parts {
		if !p.isExpr {
			continue
		}
		if env == nil {
			if env, err = checkEnv(s); err != nil {
				return errs.Wrap(errs.Internal, err, "expression environment")
			}
		}
		if _, err := check(env, s, src, p); err != nil {
			found = append(found, err)
		}
	}
	if err := join(found); err != nil {
		return err
	}
	return nil
}

// CheckList checks a foreach template: src must be exactly one
// "{{ expr }}" whose value is a list.
func CheckList(src string, s Scope) error {
	parts, err := scan(src)
	if err != nil {
		return err
	}
	i, ok := single(parts)
	if !ok {
		return atOffset(src, firstNonSpace(src), `must be a list, or exactly one template whose value is a list, e.g. "{{ steps.grid.outputs.grid }}"`)
	}
	env, err := checkEnv(s)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "expression environment")
	}
	p := parts[i]
	a, cerr := check(env, s, src, p)
	if cerr != nil {
		return cerr
	}
	if t := a.OutputType(); !isKind(t, types.ListKind) {
		return inTemplate(src, p.start+firstNonSpace(p.expr), p.text, fmt.Sprintf("must be a list, but this expression is %s", cel.FormatCELType(t)))
	}
	return nil
}

func checkIn(src string, s Scope) (*cel.Ast, error) {
	env, err := checkEnv(s)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "expression environment")
	}
	a, cerr := check(env, s, src, part{isExpr: true, expr: src})
	if cerr != nil {
		return nil, cerr
	}
	return a, nil
}

// check parses p.expr, looks up every name it uses in s, then type-checks.
func check(env *cel.Env, s Scope, src string, p part) (*cel.Ast, *errs.Error) {
	parsed, iss := env.Parse(p.expr)
	if iss.Err() != nil {
		return nil, issuesError(src, p, iss)
	}
	w := walker{s: s, info: parsed.NativeRep().SourceInfo(), text: p.expr}
	w.walk(parsed.NativeRep().Expr(), nil)
	if len(w.problems) > 0 {
		var found []*errs.Error
		for _, pr := range w.problems {
			found = append(found, inTemplate(src, p.start+pr.off, p.text, pr.msg))
		}
		return nil, join(found)
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, issuesError(src, p, iss)
	}
	return checked, nil
}

func issuesError(src string, p part, iss *cel.Issues) *errs.Error {
	var found []*errs.Error
	for _, e := range iss.Errors() {
		off := byteOffset(p.expr, e.Location.Line(), e.Location.Column())
		found = append(found, inTemplate(src, p.start+off, p.text, celMessage(e.Message)))
	}
	return join(found)
}

// join merges the errors about one string into one, positioned at the first.
func join(found []*errs.Error) *errs.Error {
	switch len(found) {
	case 0:
		return nil
	case 1:
		return found[0]
	}
	msgs := make([]string, len(found))
	for i, e := range found {
		msgs[i] = e.Message
	}
	return &errs.Error{Code: errs.Invalid, Message: strings.Join(msgs, "; "), Err: found[0].Err}
}

func isKind(t *cel.Type, k types.Kind) bool {
	return t.Kind() == k || t.Kind() == types.DynKind || t.Kind() == types.AnyKind
}

func firstNonSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t\r\n"))
}

// walker looks up the names an expression uses in a scope, so that
// params.nosuch or steps.unneeded fail when the document is checked rather
// than when the run reaches them.
type walker struct {
	s        Scope
	info     *ast.SourceInfo
	text     string
	problems []problem
}

type problem struct {
	off int // byte offset in the expression
	msg string
}

// seg is one step of a name chain: a field selection or a constant index.
type seg struct {
	name  string
	id    int64
	field bool
}

func (w *walker) walk(e ast.Expr, shadow map[string]bool) {
	switch e.Kind() {
	case ast.IdentKind, ast.SelectKind:
		w.chain(e, shadow)
	case ast.CallKind:
		c := e.AsCall()
		if isIndex(c) {
			w.chain(e, shadow)
			return
		}
		if c.IsMemberFunction() {
			w.walk(c.Target(), shadow)
		}
		for _, a := range c.Args() {
			w.walk(a, shadow)
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			w.walk(x, shadow)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			w.walk(en.AsMapEntry().Key(), shadow)
			w.walk(en.AsMapEntry().Value(), shadow)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value(), shadow)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		w.walk(c.IterRange(), shadow)
		w.walk(c.AccuInit(), shadow)
		inner := map[string]bool{c.IterVar(): true, c.AccuVar(): true}
		if c.HasIterVar2() {
			inner[c.IterVar2()] = true
		}
		for k := range shadow {
			inner[k] = true
		}
		w.walk(c.LoopCondition(), inner)
		w.walk(c.LoopStep(), inner)
		w.walk(c.Result(), inner)
	}
}

func isIndex(c ast.CallExpr) bool {
	return (c.FunctionName() == "_[_]" || c.FunctionName() == "_[?_]") && len(c.Args()) == 2
}

// chain follows selections and constant indexes down to a variable and
// checks the names along the way.
func (w *walker) chain(e ast.Expr, shadow map[string]bool) {
	var segs []seg // outermost first
	cur := e
	for {
		switch cur.Kind() {
		case ast.SelectKind:
			sel := cur.AsSelect()
			segs = append(segs, seg{name: sel.FieldName(), id: cur.ID(), field: true})
			cur = sel.Operand()
			continue
		case ast.CallKind:
			c := cur.AsCall()
			if isIndex(c) {
				key := c.Args()[1]
				if key.Kind() == ast.LiteralKind {
					if s, ok := key.AsLiteral().(types.String); ok {
						segs = append(segs, seg{name: string(s), id: key.ID()})
						cur = c.Args()[0]
						continue
					}
				}
				// A computed key: what lies beyond it cannot be checked.
				w.walk(key, shadow)
				segs = nil
				cur = c.Args()[0]
				continue
			}
		case ast.IdentKind:
			for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
				segs[i], segs[j] = segs[j], segs[i]
			}
			if !shadow[cur.AsIdent()] {
				w.lookup(cur.AsIdent(), cur.ID(), segs)
			}
			return
		}
		w.walk(cur, shadow)
		return
	}
}

func (w *walker) lookup(root string, id int64, segs []seg) {
	s := w.s
	switch root {
	case VarParams:
		if len(segs) > 0 {
			if _, ok := s.Params[segs[0].name]; !ok {
				w.report(segs[0], fmt.Sprintf("unknown param %q%s; declared params: %s",
					segs[0].name, suggest(segs[0].name, sortedKeys(s.Params)), names(sortedKeys(s.Params), "none")))
			}
		}
	case VarItem:
		if !s.Item {
			w.reportID(id, "item is only defined in a step with foreach (in its command, args, env and workingDir)")
		}
	case VarSteps:
		w.lookupStep(segs)
	case VarInputs, VarOutputs:
		declared := s.Inputs
		what := "input"
		if root == VarOutputs {
			declared, what = s.Outputs, "output"
		}
		if len(segs) > 0 && !declared[segs[0].name] {
			list := sortedKeys(declared)
			w.report(segs[0], fmt.Sprintf("unknown %s %q%s; %ss of this step usable here: %s",
				what, segs[0].name, suggest(segs[0].name, list), what, names(list, "none")))
		}
	case VarRun:
		if len(segs) > 0 && !contains(RunFields, segs[0].name) {
			w.report(segs[0], fmt.Sprintf("run has no field %q%s; it has %s", segs[0].name, suggest(segs[0].name, RunFields), strings.Join(RunFields, ", ")))
		}
	case VarExit, VarAttempt:
		if !s.Exit {
			w.reportID(id, root+" is only defined in retry.when")
			return
		}
		if root == VarExit && len(segs) > 0 {
			var fields []string
			for _, f := range ExitFields {
				fields = append(fields, f.Name)
			}
			if !contains(fields, segs[0].name) {
				w.report(segs[0], fmt.Sprintf("exit has no field %q%s; it has %s", segs[0].name, suggest(segs[0].name, fields), strings.Join(fields, ", ")))
			}
		}
	}
}

func (w *walker) lookupStep(segs []seg) {
	s := w.s
	if len(segs) == 0 {
		return
	}
	step := segs[0].name
	if !s.Steps[step] {
		visible := sortedKeys(s.Steps)
		w.report(segs[0], fmt.Sprintf("step %q is not among the steps this one needs (directly or through its needs)%s; add it to needs. Visible here: %s",
			step, suggest(step, visible), names(visible, "no step")))
		return
	}
	if len(segs) < 2 {
		return
	}
	switch segs[1].name {
	case "phase":
	case "outputs":
		outs, known := s.StepOutputs[step]
		if len(segs) > 2 && known && !outs[segs[2].name] {
			list := sortedKeys(outs)
			w.report(segs[2], fmt.Sprintf("step %q declares no output %q%s; its outputs: %s",
				step, segs[2].name, suggest(segs[2].name, list), names(list, "none")))
		}
	default:
		w.report(segs[1], fmt.Sprintf("steps.%s has no field %q%s; it has outputs and phase", step, segs[1].name, suggest(segs[1].name, StepFields)))
	}
}

func (w *walker) report(sg seg, msg string) {
	off := w.offset(sg.id)
	if sg.field {
		// A selection is located at its dot; point at the field name.
		if i := strings.Index(w.text[off:], "."+sg.name); i >= 0 {
			off += i + 1
		}
	}
	w.problems = append(w.problems, problem{off: off, msg: msg})
}

func (w *walker) reportID(id int64, msg string) {
	w.problems = append(w.problems, problem{off: w.offset(id), msg: msg})
}

func (w *walker) offset(id int64) int {
	loc := w.info.GetStartLocation(id)
	if loc.Line() < 1 {
		return 0
	}
	return byteOffset(w.text, loc.Line(), loc.Column())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
