package query

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxQueryLength bounds a query's text (and so its depth and size).
const MaxQueryLength = 4096

// Parse parses a query. Errors are errs.Invalid and say where:
// "query:1:15: expected a value after >=, found end of query". An empty
// query is nil: every file.
func Parse(src string) (Expr, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "expected and, or or the end of the query, found %s", describe(t))
	}
	return e, nil
}

// ParseSort parses a sort list: "created desc, label" (asc by default).
func ParseSort(src string) ([]Sort, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	var out []Sort
	for p.peek().kind != tEOF {
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		s := Sort{Field: f}
		if t := p.peek(); t.kind == tName && (strings.EqualFold(t.text, "asc") || strings.EqualFold(t.text, "desc")) {
			s.Desc = strings.EqualFold(t.text, "desc")
			p.next()
		}
		out = append(out, s)
		switch t := p.next(); t.kind {
		case tEOF:
			return out, nil
		case tComma:
		default:
			return nil, p.errAt(t, "expected asc, desc, a comma or the end, found %s", describe(t))
		}
	}
	if len(out) > 0 { // a trailing comma
		return nil, p.errAt(p.peek(), "expected a field after the comma")
	}
	return out, nil
}

// ParseField parses one field name ("label", "camera.model", "size",
// "meta.size"), as count --by takes it.
func ParseField(src string) (Field, error) {
	p, err := newParser(src)
	if err != nil {
		return Field{}, err
	}
	f, err := p.field()
	if err != nil {
		return Field{}, err
	}
	if t := p.peek(); t.kind != tEOF {
		return Field{}, p.errAt(t, "expected the end after the field, found %s", describe(t))
	}
	return f, nil
}

type parser struct {
	src  string
	toks []token
	i    int
}

func newParser(src string) (*parser, error) {
	if len(src) > MaxQueryLength {
		return nil, errAt(src, 0, "the query is %d bytes, more than the limit of %d", len(src), MaxQueryLength)
	}
	if !utf8.ValidString(src) {
		return nil, errAt(src, 0, "the query is not valid UTF-8")
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	return &parser{src: src, toks: toks}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) errAt(t token, format string, args ...any) error {
	return errAt(p.src, t.pos, format, args...)
}
func (p *parser) keyword(word string) bool {
	t := p.peek()
	return t.kind == tName && strings.EqualFold(t.text, word)
}

// maxDepth bounds nesting, so that a hostile query cannot exhaust the stack.
const maxDepth = 100

func (p *parser) or(depth int) (Expr, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		t := p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &Or{L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) and(depth int) (Expr, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		t := p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &And{L: l, R: r, At: t.pos}
	}
	return l, nil
}

func (p *parser) unary(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errAt(p.peek(), "nested deeper than %d", maxDepth)
	}
	t := p.peek()
	switch {
	case p.keyword("not"):
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x, At: t.pos}, nil
	case t.kind == tLParen:
		p.next()
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c, "expected ) to close the ( at %s, found %s", where(p.src, t.pos), describe(c))
		}
		return e, nil
	}
	return p.compare()
}

var ops = map[string]Op{"=": Eq, "!=": Ne, "<": Lt, "<=": Le, ">": Gt, ">=": Ge}

func (p *parser) compare() (Expr, error) {
	start := p.peek()
	f, err := p.field()
	if err != nil {
		return nil, err
	}
	c := &Compare{Field: f, At: start.pos}
	t := p.next()
	switch {
	case t.kind == tOp:
		c.Op = ops[t.text]
	case t.kind == tName && keywords[strings.ToLower(t.text)]:
		c.Op = Op(strings.ToLower(t.text))
		switch c.Op {
		case Contains, In, Exists, Prefix:
		default:
			c.Op = ""
		}
	}
	if c.Op == "" {
		return nil, p.errAt(t, "expected an operator (= != < <= > >= contains startswith in exists) after %s, found %s", f, describe(t))
	}
	switch c.Op {
	case Exists:
	case In:
		open := p.next()
		if open.kind != tLBrack {
			return nil, p.errAt(open, "expected [ after in, found %s", describe(open))
		}
		c.Value.Kind = List
		for {
			v, err := p.value(c.Op)
			if err != nil {
				return nil, err
			}
			c.Value.List = append(c.Value.List, v)
			sep := p.next()
			if sep.kind == tRBrack {
				break
			}
			if sep.kind != tComma {
				return nil, p.errAt(sep, "expected , or ] in the list, found %s", describe(sep))
			}
		}
	default:
		if c.Value, err = p.value(c.Op); err != nil {
			return nil, err
		}
	}
	if err := check(c); err != nil {
		return nil, errAt(p.src, t.pos, "%s", err)
	}
	return c, nil
}

// field reads name('.'name)*. A lone bare built-in name is the built-in;
// a leading "meta." makes the rest a metadata key.
func (p *parser) field() (Field, error) {
	var segs []string
	quoted, firstQuoted := false, false
	for {
		t := p.next()
		switch {
		case t.kind == tQName:
			quoted = true
			firstQuoted = firstQuoted || len(segs) == 0
		case t.kind == tName && !keywords[strings.ToLower(t.text)]:
		default:
			what := "a field name"
			if len(segs) > 0 {
				what = "a key after the dot"
			}
			hint := ""
			if t.kind == tName {
				hint = " (a key spelled like a keyword is written `" + t.text + "`)"
			}
			return Field{}, p.errAt(t, "expected %s, found %s%s", what, describe(t), hint)
		}
		segs = append(segs, t.text)
		if p.peek().kind != tDot {
			break
		}
		p.next()
	}
	if len(segs) == 1 && !quoted && isBuiltin(segs[0]) {
		return Field{Name: segs[0], Builtin: true}, nil
	}
	if len(segs) > 1 && segs[0] == "meta" && !firstQuoted {
		segs = segs[1:]
	}
	return Field{Name: strings.Join(segs, ".")}, nil
}

func isBuiltin(name string) bool {
	for _, b := range Builtins {
		if b == name {
			return true
		}
	}
	return false
}

func (p *parser) value(op Op) (Value, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Value{Kind: String, Str: t.text}, nil
	case tWord:
		return parseWord(p, t)
	case tName:
		switch strings.ToLower(t.text) {
		case "true", "false":
			return Value{Kind: Bool, Bool: strings.EqualFold(t.text, "true")}, nil
		case "null":
			return Value{Kind: Null}, nil
		}
		return Value{}, p.errAt(t, "expected a value after %s, found %s (strings are written in double quotes)", op, describe(t))
	}
	return Value{}, p.errAt(t, "expected a value after %s, found %s", op, describe(t))
}

func parseWord(p *parser, t token) (Value, error) {
	if tm, ok := ParseTime(t.text); ok {
		return Value{Kind: Time, Time: tm}, nil
	}
	if len(t.text) >= 10 && t.text[4] == '-' {
		return Value{}, p.errAt(t, "%s is not a date (2026-01-01) nor an RFC 3339 time (2026-01-01T10:00:00Z)", t.text)
	}
	f, err := strconv.ParseFloat(t.text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Value{}, p.errAt(t, "%s is not a number", t.text)
	}
	return Value{Kind: Number, Num: f}, nil
}
