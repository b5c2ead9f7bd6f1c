package v1

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// decoder fills a Go value from a YAML (or JSON) node tree the way
// encoding/json would from the same document, except that it rejects
// unknown fields, reports every problem instead of stopping at the first,
// and records where each field path sits in the file.
type decoder struct {
	anchors  map[string]ast.Node
	pos      positions
	problems []problem
	// suppress holds paths a decoding problem is already about; validation
	// problems there would only repeat it ("command is required" after
	// "unknown field comand: did you mean command?").
	suppress []string
}

// problem is one error about a document, before it becomes an *errs.Error.
type problem struct {
	line, col int
	path, msg string
}

var (
	durationType = reflect.TypeOf(Duration{})
	timeType     = reflect.TypeOf(time.Time{})
)

func (d *decoder) fail(n ast.Node, path, format string, args ...any) {
	line, col := nodeStart(n)
	d.problems = append(d.problems, problem{line: line, col: col, path: path, msg: fmt.Sprintf(format, args...)})
	d.suppress = append(d.suppress, path)
}

func (d *decoder) typeErr(n ast.Node, path, want string) {
	d.fail(n, path, "expected %s, got %s", want, describeNode(n))
}

func (d *decoder) suppressed(path string) bool {
	for _, s := range d.suppress {
		if within(path, s) {
			return true
		}
	}
	return false
}

// resolve looks through anchors, aliases and tags to the node they stand for.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range 64 {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			target, ok := d.anchors[x.Value.GetToken().Value]
			if !ok {
				return n
			}
			n = target
		case *ast.TagNode:
			if x.Start != nil && x.Start.Value == "!!str" {
				if tk := x.Value.GetToken(); tk != nil {
					return ast.String(tk)
				}
			}
			n = x.Value
		default:
			return n
		}
	}
	return n
}

func collectAnchors(n ast.Node, into map[string]ast.Node) {
	switch x := n.(type) {
	case *ast.AnchorNode:
		into[x.Name.GetToken().Value] = x.Value
		collectAnchors(x.Value, into)
	case *ast.MappingNode:
		for _, v := range x.Values {
			collectAnchors(v, into)
		}
	case *ast.MappingValueNode:
		collectAnchors(x.Key, into)
		collectAnchors(x.Value, into)
	case *ast.SequenceNode:
		for _, v := range x.Values {
			collectAnchors(v, into)
		}
	case *ast.TagNode:
		collectAnchors(x.Value, into)
	}
}

// entries lists a mapping's key/value pairs, merge keys (<<: *base)
// expanded with the mapping's own keys taking precedence.
func (d *decoder) entries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	var vals []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		vals = m.Values
	case *ast.MappingValueNode:
		vals = []*ast.MappingValueNode{m}
	default:
		return nil, false
	}
	var own, merged []*ast.MappingValueNode
	for _, e := range vals {
		if !e.Key.IsMergeKey() {
			own = append(own, e)
			continue
		}
		src := d.resolve(e.Value)
		if seq, ok := src.(*ast.SequenceNode); ok {
			for _, s := range seq.Values {
				sub, _ := d.entries(d.resolve(s))
				merged = append(merged, sub...)
			}
		} else {
			sub, _ := d.entries(src)
			merged = append(merged, sub...)
		}
	}
	have := map[string]bool{}
	for _, e := range own {
		have[d.keyText(e.Key)] = true
	}
	for _, e := range merged {
		if k := d.keyText(e.Key); !have[k] {
			have[k] = true
			own = append(own, e)
		}
	}
	return own, true
}

func (d *decoder) keyText(k ast.MapKeyNode) string {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	if s, ok := scalarText(d.resolve(n)); ok {
		return s
	}
	return k.String()
}

// value decodes node n into v; key is the token of the mapping key n is
// the value of, if any.
func (d *decoder) value(n ast.Node, key *token.Token, v reflect.Value, path string) {
	n = d.resolve(n)
	d.record(path, n, key)
	if isNull(n) {
		return
	}
	switch t := v.Type(); {
	case t == durationType:
		d.duration(n, v, path)
		return
	case t == timeType:
		s, ok := n.(*ast.StringNode)
		tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(stringOr(s, ok)))
		if !ok || err != nil {
			d.typeErr(n, path, "a time such as 2026-01-31T12:00:00Z")
			return
		}
		v.Set(reflect.ValueOf(tm))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, key, v.Elem(), path)
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.Interface:
		if g := d.generic(n, key, path); g != nil {
			v.Set(reflect.ValueOf(g))
		}
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.typeErr(n, path, "a string")
			return
		}
		v.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := intValue(n)
		if !ok {
			d.typeErr(n, path, "an integer")
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		f, ok := floatValue(n)
		if !ok {
			d.typeErr(n, path, "a number")
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.typeErr(n, path, "true or false")
			return
		}
		v.SetBool(b.Value)
	default:
		d.fail(n, path, "cannot be read into %s", v.Type())
	}
}

func (d *decoder) object(n ast.Node, v reflect.Value, path string) {
	es, ok := d.entries(n)
	if !ok {
		d.typeErr(n, path, "a mapping of fields (name: value)")
		return
	}
	fields := fieldsOf(v.Type())
	names := fieldNames(fields)
	given := map[string]bool{}
	for _, e := range es {
		k := d.keyText(e.Key)
		kt := e.Key.GetToken()
		var f *field
		for i := range fields {
			if fields[i].name == k {
				f = &fields[i]
				break
			}
		}
		if f == nil {
			line, col := tokenPos(kt)
			msg := fmt.Sprintf("unknown field %q; the fields here are %s", k, strings.Join(names, ", "))
			if c, ok := lang.Closest(k, names); ok {
				msg = fmt.Sprintf("unknown field %q: did you mean %s?", k, c)
				given[c] = true // the typo stands for it: no "missing" error on top
				d.suppress = append(d.suppress, joinField(path, c))
			}
			d.problems = append(d.problems, problem{line: line, col: col, path: joinKey(path, k), msg: msg})
			continue
		}
		given[k] = true
		d.value(e.Value, kt, v.FieldByIndex(f.index), joinField(path, f.name))
	}
	for _, f := range fields {
		if f.required && !given[f.name] {
			msg := "required field is missing"
			if f.name == "apiVersion" {
				msg += ": write apiVersion: " + APIVersion
			}
			d.fail(n, joinField(path, f.name), "%s", msg)
		}
	}
}

func (d *decoder) list(n ast.Node, v reflect.Value, path string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		want := "a list"
		if s, ok := scalarText(n); ok && strings.TrimSpace(s) != "" {
			want = fmt.Sprintf("a list (write [%s])", strings.Join(strings.Fields(s), ", "))
		}
		d.typeErr(n, path, want)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, e := range seq.Values {
		d.value(e, nil, out.Index(i), joinIndex(path, i))
	}
	v.Set(out)
}

func (d *decoder) dict(n ast.Node, v reflect.Value, path string) {
	es, ok := d.entries(n)
	if !ok || v.Type().Key().Kind() != reflect.String {
		d.typeErr(n, path, "a mapping (name: value)")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(es))
	for _, e := range es {
		k := d.keyText(e.Key)
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(e.Value, e.Key.GetToken(), ev, joinKey(path, k))
		m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
	}
	v.Set(m)
}

// generic decodes a free value as encoding/json would into an any:
// map[string]any, []any, float64, string, bool or nil.
func (d *decoder) generic(n ast.Node, key *token.Token, path string) any {
	n = d.resolve(n)
	d.record(path, n, key)
	switch x := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.entries(n)
		m := make(map[string]any, len(es))
		for _, e := range es {
			k := d.keyText(e.Key)
			m[k] = d.generic(e.Value, e.Key.GetToken(), joinKey(path, k))
		}
		return m
	case *ast.SequenceNode:
		l := make([]any, len(x.Values))
		for i, e := range x.Values {
			l[i] = d.generic(e, nil, joinIndex(path, i))
		}
		return l
	case *ast.BoolNode:
		return x.Value
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		return x.Value.Value
	}
	if f, ok := floatValue(n); ok {
		return f
	}
	return nil
}

func (d *decoder) duration(n ast.Node, v reflect.Value, path string) {
	var dur time.Duration
	switch x := n.(type) {
	case *ast.StringNode:
		s := strings.TrimSpace(x.Value)
		if s != "" {
			var err error
			if dur, err = time.ParseDuration(s); err != nil {
				d.fail(n, path, "%q is not a duration: write a number with a unit, e.g. 30s, 5m, 2h or 1h30m", x.Value)
				return
			}
		}
	case *ast.IntegerNode, *ast.FloatNode:
		f, _ := floatValue(n)
		dur = time.Duration(f * float64(time.Second)) // seconds, as in JSON
	default:
		d.typeErr(n, path, "a duration such as 30s, 5m or 2h")
		return
	}
	v.Set(reflect.ValueOf(Duration{dur}))
}

func isNull(n ast.Node) bool {
	_, ok := n.(*ast.NullNode)
	return n == nil || ok
}

func stringOr(s *ast.StringNode, ok bool) string {
	if !ok {
		return ""
	}
	return s.Value
}

// scalarText is a scalar's text: a string's value, a number's or a
// boolean's as written (so memory: 1000 reads as "1000").
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

func intValue(n ast.Node) (int64, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return v, true
		case uint64:
			if v <= math.MaxInt64 {
				return int64(v), true
			}
		}
	case *ast.FloatNode:
		if x.Value == math.Trunc(x.Value) && math.Abs(x.Value) < 1<<62 {
			return int64(x.Value), true
		}
	}
	return 0, false
}

func floatValue(n ast.Node) (float64, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		}
	case *ast.FloatNode:
		return x.Value, true
	}
	return 0, false
}

// describeNode names what a node is, for "expected X, got Y".
func describeNode(n ast.Node) string {
	switch x := n.(type) {
	case *ast.StringNode:
		return fmt.Sprintf("the string %q", x.Value)
	case *ast.LiteralNode:
		return "a block of text"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return fmt.Sprintf("the boolean %v", x.Value)
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case nil, *ast.NullNode:
		return "null"
	}
	return n.Type().String()
}
