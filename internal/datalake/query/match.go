package query

import (
	"strings"
	"time"
)

// Match says whether a file matches e, with the same semantics as the
// stores' SQL (checked by storetest). A nil e matches every file.
//
// A metadata predicate holds when one of the key's values (an array's
// elements each count) has the literal's type and compares true: a
// number only compares with numbers, a string with strings, and a time
// with the strings that spell one (see ParseTime). x != v is not (x = v),
// so it holds for a file without x. contains finds a substring in a
// string value and is = for other types; exists holds when the key has
// a value, or nested keys under it.
func Match(e Expr, f Fields) bool {
	if e == nil {
		return true
	}
	var kvs []KV
	if f.Meta != nil {
		kvs = Flatten(f.Meta)
	}
	return match(e, &f, kvs)
}

func match(e Expr, f *Fields, kvs []KV) bool {
	switch e := e.(type) {
	case *And:
		return match(e.L, f, kvs) && match(e.R, f, kvs)
	case *Or:
		return match(e.L, f, kvs) || match(e.R, f, kvs)
	case *Not:
		return !match(e.X, f, kvs)
	case *Compare:
		if e.Op == Ne {
			return !match(&Compare{Field: e.Field, Op: Eq, Value: e.Value}, f, kvs)
		}
		if e.Field.Builtin {
			return compareKV(builtinKV(e.Field.Name, f), e.Op, e.Value)
		}
		if e.Op == Exists {
			for _, kv := range kvs {
				if kv.Key == e.Field.Name || strings.HasPrefix(kv.Key, e.Field.Name+".") {
					return true
				}
			}
			return false
		}
		for _, kv := range kvs {
			if kv.Key == e.Field.Name && compareKV(kv, e.Op, e.Value) {
				return true
			}
		}
	}
	return false
}

// builtinKV is a built-in field as a value.
func builtinKV(name string, f *Fields) KV {
	switch name {
	case "path":
		return KV{Kind: String, Str: f.Path}
	case "content_type":
		return KV{Kind: String, Str: f.ContentType}
	case "digest":
		return KV{Kind: String, Str: f.Digest}
	case "size":
		return KV{Kind: Number, Num: float64(f.Size)}
	case "created":
		return KV{Time: f.Created.UTC().Truncate(time.Microsecond), HasTime: true, Kind: -1}
	case "updated":
		return KV{Time: f.Updated.UTC().Truncate(time.Microsecond), HasTime: true, Kind: -1}
	}
	return KV{Kind: -1}
}

// compareKV is one value against one literal.
func compareKV(kv KV, op Op, v Value) bool {
	switch op {
	case In:
		for _, e := range v.List {
			if compareKV(kv, Eq, e) {
				return true
			}
		}
		return false
	case Contains:
		if v.Kind == String {
			return kv.Kind == String && strings.Contains(kv.Str, v.Str)
		}
		op = Eq
	case Prefix:
		return kv.Kind == String && strings.HasPrefix(kv.Str, v.Str)
	}
	var c int
	switch v.Kind {
	case String:
		if kv.Kind != String {
			return false
		}
		c = strings.Compare(kv.Str, v.Str)
	case Number:
		if kv.Kind != Number {
			return false
		}
		c = cmpFloat(kv.Num, v.Num)
	case Time:
		if !kv.HasTime {
			return false
		}
		c = kv.Time.Compare(v.Time.UTC().Truncate(time.Microsecond))
	case Bool:
		return op == Eq && kv.Kind == Bool && kv.Bool == v.Bool
	case Null:
		return op == Eq && kv.Kind == Null
	default:
		return false
	}
	switch op {
	case Eq:
		return c == 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
