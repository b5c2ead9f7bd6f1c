package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (e *And) Pos() int     { return e.At }
func (e *Or) Pos() int      { return e.At }
func (e *Not) Pos() int     { return e.At }
func (e *Compare) Pos() int { return e.At }

// String renders with the fewest parentheses that keep the tree: and
// binds tighter than or, and a right operand of the same operator is
// parenthesised (a and (b and c) stays that shape).
func (e *And) String() string { return binary(e.L, e.R, "and", 2) }
func (e *Or) String() string  { return binary(e.L, e.R, "or", 1) }

func (e *Not) String() string { return "not " + operand(e.X, 3) }

func (e *Compare) String() string {
	switch e.Op {
	case Exists:
		return e.Field.String() + " exists"
	}
	return e.Field.String() + " " + string(e.Op) + " " + e.Value.String()
}

func prec(e Expr) int {
	switch e.(type) {
	case *Or:
		return 1
	case *And:
		return 2
	}
	return 3
}

// operand renders x, parenthesised when it binds looser than min.
func operand(x Expr, min int) string {
	if prec(x) < min {
		return "(" + x.String() + ")"
	}
	return x.String()
}

func binary(l, r Expr, op string, p int) string {
	return operand(l, p) + " " + op + " " + operand(r, p+1)
}

// String renders a field as Parse reads it back.
func (f Field) String() string {
	if f.Builtin {
		return f.Name
	}
	segs := strings.Split(f.Name, ".")
	for i, s := range segs {
		segs[i] = nameString(s)
	}
	if isBuiltin(segs[0]) || segs[0] == "meta" {
		return "meta." + strings.Join(segs, ".")
	}
	return strings.Join(segs, ".")
}

// nameString is a key segment, `quoted` unless it is a plain bare name.
func nameString(s string) string {
	bare := s != "" && !keywords[strings.ToLower(s)]
	for i, r := range s {
		if i == 0 && !isNameStart(r) || !isNameRune(r) {
			bare = false
			break
		}
	}
	if bare {
		return s
	}
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

func (v Value) String() string {
	switch v.Kind {
	case String:
		return strconv.Quote(v.Str)
	case Number:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Null:
		return "null"
	case Time:
		t := v.Time.UTC()
		if t.Equal(t.Truncate(24 * time.Hour)) {
			return t.Format(time.DateOnly)
		}
		return t.Format(time.RFC3339Nano)
	case List:
		parts := make([]string, len(v.List))
		for i, e := range v.List {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("?%d", v.Kind)
}

func (s Sort) String() string {
	if s.Desc {
		return s.Field.String() + " desc"
	}
	return s.Field.String()
}

// builtinKind is the type of a built-in field's values.
func builtinKind(name string) Kind {
	switch name {
	case "size":
		return Number
	case "created", "updated":
		return Time
	}
	return String
}

var kindNames = map[Kind]string{String: "a string", Number: "a number", Bool: "a boolean", Time: "a time", Null: "null", List: "a list"}

// check refuses comparisons that can never be true (a type the field
// never holds, an order on booleans), so that a typo is an error rather
// than an empty result.
func check(c *Compare) error {
	vals := []Value{c.Value}
	if c.Op == In {
		vals = c.Value.List
	}
	if c.Op == Exists {
		if c.Field.Builtin {
			return fmt.Errorf("%s always exists (for a metadata key named %s, write meta.%s)", c.Field.Name, c.Field.Name, c.Field.Name)
		}
		return nil
	}
	for _, v := range vals {
		if c.Field.Builtin {
			if want := builtinKind(c.Field.Name); v.Kind != want {
				return fmt.Errorf("%s is %s; %s is %s (for a metadata key named %s, write meta.%s)",
					c.Field.Name, kindNames[want], v, kindNames[v.Kind], c.Field.Name, c.Field.Name)
			}
		}
		switch c.Op {
		case Lt, Le, Gt, Ge:
			if v.Kind == Bool || v.Kind == Null {
				return fmt.Errorf("%s cannot compare with %s", c.Op, v)
			}
		case Contains:
			if v.Kind == Null {
				return fmt.Errorf("contains cannot look for null (use = null)")
			}
			if c.Field.Builtin && v.Kind != String {
				return fmt.Errorf("contains on %s is =", c.Field.Name)
			}
		case Prefix:
			if v.Kind != String {
				return fmt.Errorf("startswith takes a string, not %s", v)
			}
		}
	}
	return nil
}
