package lang

import (
	"strings"
)

// part is a piece of a template string: literal text, or an expression
// written between "{{" and "}}".
type part struct {
	lit    string
	isExpr bool
	expr   string // the text between the braces, spaces included
	start  int    // byte offset of expr in the template string
	text   string // "{{ ... }}" as written
}

// HasTemplate reports whether s holds a "{{ expr }}" template (or an
// unclosed "{{" that checking rejects): whether it needs rendering.
func HasTemplate(s string) bool { return strings.Contains(s, "{{") }

// scan splits a template string into parts. Inside "{{ }}", braces of CEL
// map literals and quoted strings are skipped, so {{ {'a': 1} }} and
// {{ "}}" }} are single expressions. A literal "{{" or "}}" is written as
// an expression: {{ "{{" }}.
func scan(src string) ([]part, error) {
	var parts []part
	lit := 0
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			end := scanExpr(src, i+2)
			if end < 0 {
				return nil, atOffset(src, i, `"{{" is not closed: end the expression with "}}" (to write "{{" literally, use {{ "{{" }})`)
			}
			if strings.TrimSpace(src[i+2:end]) == "" {
				return nil, atOffset(src, i, `empty "{{ }}": put an expression inside, e.g. {{ params.name }}`)
			}
			if i > lit {
				parts = append(parts, part{lit: src[lit:i]})
			}
			parts = append(parts, part{isExpr: true, expr: src[i+2 : end], start: i + 2, text: src[i : end+2]})
			i = end + 2
			lit = i
		case strings.HasPrefix(src[i:], "}}"):
			return nil, atOffset(src, i, `"}}" without an opening "{{" (to write "}}" literally, use {{ "}}" }})`)
		default:
			i++
		}
	}
	if lit < len(src) {
		parts = append(parts, part{lit: src[lit:]})
	}
	return parts, nil
}

// scanExpr returns the offset of the "}}" closing an expression starting at
// from, or -1.
func scanExpr(src string, from int) int {
	depth := 0
	for j := from; j < len(src); j++ {
		switch c := src[j]; c {
		case '\'', '"':
			j = skipString(src, j)
			if j < 0 {
				return -1
			}
		case '{':
			depth++
		case '}':
			if depth == 0 && j+1 < len(src) && src[j+1] == '}' {
				return j
			}
			if depth > 0 {
				depth--
			}
		}
	}
	return -1
}

// skipString returns the offset of the quote ending the CEL string literal
// whose opening quote is at i, or -1 if it does not end.
func skipString(src string, i int) int {
	q := src[i]
	raw := i > 0 && (src[i-1] == 'r' || src[i-1] == 'R')
	if strings.HasPrefix(src[i:], strings.Repeat(string(q), 3)) {
		end := strings.Index(src[i+3:], strings.Repeat(string(q), 3))
		if end < 0 {
			return -1
		}
		return i + 3 + end + 2
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if !raw {
				j++
			}
		case q:
			return j
		case '\n':
			return -1
		}
	}
	return -1
}

// single returns the index of the expression part of a template that is
// exactly one "{{ expr }}" (spaces around it allowed), or false.
func single(parts []part) (int, bool) {
	found, n := -1, 0
	for i, p := range parts {
		if p.isExpr {
			found = i
			n++
		} else if strings.TrimSpace(p.lit) != "" {
			return -1, false
		}
	}
	return found, n == 1
}
