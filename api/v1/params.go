package v1

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/expr/lang"
)

// paramSpecs checks the declared params and returns the type of each, for
// typing params.<name> in expressions.
func (v *validator) paramSpecs(ps map[string]ParamSpec) map[string]string {
	types := make(map[string]string, len(ps))
	for _, name := range sortedKeys(ps) {
		p := joinKey("spec.params", name)
		spec := ps[name]
		v.ident(p, name, "param name", "params.")
		types[name] = spec.Type
		if !contains(lang.ParamTypes, spec.Type) {
			types[name] = ""
			if spec.Type == "" {
				v.add(joinField(p, "type"), "a param needs a type: one of %s", strings.Join(lang.ParamTypes, ", "))
			} else {
				v.oneOf(joinField(p, "type"), spec.Type, "type", lang.ParamTypes)
			}
			continue
		}
		for j, e := range spec.Enum {
			if _, err := coerce(spec.Type, e); err != nil {
				v.add(joinIndex(joinField(p, "enum"), j), "%v", err)
			}
		}
		if spec.Default == nil {
			continue
		}
		def, err := coerce(spec.Type, spec.Default)
		if err != nil {
			v.add(joinField(p, "default"), "%v", err)
		} else if len(spec.Enum) > 0 && !inEnum(spec, def) {
			v.add(joinField(p, "default"), "%s is not one of the enum values: %s", show(def), showList(spec.Enum))
		}
	}
	return types
}

// ResolveParams turns the params of a run request into typed values: given
// holds strings (the CLI's -p ratio=0.7), typed holds JSON values (the
// API); each is coerced to its declared type and checked against its enum,
// defaults fill what is absent. Unknown params and missing required ones
// are errors, all reported at once.
func ResolveParams(spec WorkflowSpec, given map[string]string, typed map[string]any) (map[string]any, error) {
	var list errs.List
	bad := func(name, format string, args ...any) {
		list = append(list, errs.At(errs.Invalid, "params."+name, format, args...))
	}
	declared := sortedKeys(spec.Params)
	names := map[string]bool{}
	for k := range given {
		names[k] = true
	}
	for k := range typed {
		names[k] = true
	}
	out := make(map[string]any, len(spec.Params))
	failed := map[string]bool{}
	for _, name := range sortedKeys(names) {
		ps, ok := spec.Params[name]
		if !ok {
			hint := ""
			if c, ok := lang.Closest(name, declared); ok {
				hint = " (did you mean " + c + "?)"
			}
			bad(name, "unknown param %q%s; this workflow's params: %s", name, hint, listOr(declared, "none"))
			continue
		}
		s, isString := given[name]
		t, isTyped := typed[name]
		var val any
		var err error
		switch {
		case isString && isTyped:
			err = fmt.Errorf("is given twice")
		case isString:
			val, err = parseParam(ps.Type, s)
		default:
			val, err = coerce(ps.Type, t)
		}
		if err == nil && len(ps.Enum) > 0 && !inEnum(ps, val) {
			err = fmt.Errorf("must be one of %s, not %s", showList(ps.Enum), show(val))
		}
		if err != nil {
			bad(name, "param %s %v", name, err)
			failed[name] = true
			continue
		}
		out[name] = val
	}
	for _, name := range declared {
		if _, ok := out[name]; ok || failed[name] {
			continue
		}
		ps := spec.Params[name]
		if ps.Default == nil {
			bad(name, "missing param %s (%s, no default): give it, e.g. -p %s=...", name, ps.Type, name)
			continue
		}
		val, err := coerce(ps.Type, ps.Default)
		if err != nil {
			bad(name, "param %s: the workflow's default %v", name, err)
			continue
		}
		out[name] = val
	}
	if err := list.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseParam reads a param given as text.
func parseParam(typ, s string) (any, error) {
	switch typ {
	case "string":
		return s, nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("must be a number (e.g. 0.7), not %q", s)
		}
		return f, nil
	case "integer":
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be an integer (e.g. 42), not %q", s)
		}
		return i, nil
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("must be true or false, not %q", s)
	case "object", "array":
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("must be JSON (an %s), not %q: %v", typ, s, err)
		}
		return coerce(typ, v)
	}
	return nil, fmt.Errorf("has unknown type %q", typ)
}

// coerce checks a typed value against a param type and normalises it:
// number → float64, integer → int64.
func coerce(typ string, v any) (any, error) {
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("must be a string, not %s", describe(v))
	case "number":
		if f, ok := toFloat(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
		return nil, fmt.Errorf("must be a number, not %s", describe(v))
	case "integer":
		if i, ok := v.(int64); ok {
			return i, nil
		}
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
		if f, ok := toFloat(v); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return nil, fmt.Errorf("must be an integer, not %s", describe(v))
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("must be true or false, not %s", describe(v))
	case "object":
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		return nil, fmt.Errorf("must be an object (a mapping), not %s", describe(v))
	case "array":
		if l, ok := v.([]any); ok {
			return l, nil
		}
		return nil, fmt.Errorf("must be an array (a list), not %s", describe(v))
	}
	return nil, fmt.Errorf("has unknown type %q", typ)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string, bool, nil:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// inEnum compares a coerced value with the enum, numbers by value.
func inEnum(ps ParamSpec, v any) bool {
	for _, e := range ps.Enum {
		ce, err := coerce(ps.Type, e)
		if err != nil {
			continue
		}
		if a, ok := toFloat(ce); ok {
			if b, ok := toFloat(v); ok && a == b {
				return true
			}
			continue
		}
		if reflect.DeepEqual(ce, v) {
			return true
		}
	}
	return false
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func showList(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = show(v)
	}
	return strings.Join(out, ", ")
}
