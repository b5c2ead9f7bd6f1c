package query

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
)

type tokKind int

const (
	tEOF    tokKind = iota
	tName           // a bare name segment
	tQName          // a `quoted` name segment
	tDot            // between name segments
	tString         // "..."
	tWord           // a number, a date or a time
	tOp             // = != < <= > >=
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
)

type token struct {
	kind tokKind
	text string // as written (tName: the name; tQName, tString: unquoted)
	pos  int
}

// keywords are reserved: a metadata key spelled like one is `quoted`.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "contains": true, "exists": true,
	"startswith": true, "true": true, "false": true, "null": true, "asc": true, "desc": true,
}

type lexer struct {
	src  string
	toks []token
}

// where is the "query:line:col" of byte offset pos (columns count bytes).
func where(src string, pos int) string {
	line, col := 1, 1
	for i := 0; i < pos && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("query:%d:%d", line, col)
}

func errAt(src string, pos int, format string, args ...any) error {
	return errs.At(errs.Invalid, where(src, pos), format, args...)
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isNameRune(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(".:+-_", c) >= 0
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		r, size := utf8.DecodeRuneInString(src[i:])
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == '.':
			k := map[byte]tokKind{'(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack, ',': tComma, '.': tDot}[c]
			toks = append(toks, token{k, string(c), i})
			i++
		case c == '=':
			toks = append(toks, token{tOp, "=", i})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(src) && src[i+1] == '=' {
				toks = append(toks, token{tOp, src[i : i+2], i})
				i += 2
				continue
			}
			if c == '!' {
				return nil, errAt(src, i, "unexpected '!' (did you mean != or not?)")
			}
			toks = append(toks, token{tOp, string(c), i})
			i++
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, errAt(src, i, "unterminated string")
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return nil, errAt(src, i, "bad string %s: %v", src[i:j+1], err)
			}
			toks = append(toks, token{tString, s, i})
			i = j + 1
		case c == '`':
			// `name`; a backtick inside is doubled.
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(src[j:], '`')
				if k < 0 {
					return nil, errAt(src, i, "unterminated `name`")
				}
				b.WriteString(src[j : j+k])
				j += k + 1
				if j < len(src) && src[j] == '`' {
					b.WriteByte('`')
					j++
					continue
				}
				break
			}
			if b.Len() == 0 {
				return nil, errAt(src, i, "empty `name`")
			}
			toks = append(toks, token{tQName, b.String(), i})
			i = j
		case c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(src) && (src[i+1] >= '0' && src[i+1] <= '9' || src[i+1] == '.'):
			j := wordEnd(src, i+1)
			toks = append(toks, token{tWord, src[i:j], i})
			i = j
		case isNameStart(r):
			j := i + size
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if !isNameRune(r) {
					break
				}
				j += n
			}
			toks = append(toks, token{tName, src[i:j], i})
			i = j
		default:
			return nil, errAt(src, i, "unexpected %q", r)
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

// wordEnd is the end of a number, date or time starting before i.
func wordEnd(src string, i int) int {
	for i < len(src) && isWordByte(src[i]) {
		// a sign only after an exponent or inside a time's offset
		if (src[i] == '+' || src[i] == '-') && !strings.ContainsAny(src[i-1:i], "eE0123456789") {
			break
		}
		i++
	}
	return i
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return strconv.Quote(t.text)
	case tQName:
		return "`" + t.text + "`"
	}
	return fmt.Sprintf("%q", t.text)
}
