package lang

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
)

// posError is the internal cause of an expression error: the place in the
// checked or evaluated string it points at. Pos reads it back, so that a
// caller that knows where the string sits in a file can point there too.
type posError struct{ line, col int }

func (e *posError) Error() string { return fmt.Sprintf("line %d, column %d", e.line, e.col) }

// Pos returns the 1-based line and column (counted in characters) inside
// the string given to this package that err points at, or 0, 0.
func Pos(err error) (line, col int) {
	var pe *posError
	if errors.As(err, &pe) {
		return pe.line, pe.col
	}
	return 0, 0
}

// atOffset is an Invalid error about byte offset off of src.
func atOffset(src string, off int, msg string) *errs.Error {
	return inTemplate(src, off, "", msg)
}

// inTemplate is atOffset naming the template text the error is in.
func inTemplate(src string, off int, text, msg string) *errs.Error {
	line, col := lineCol(src, off)
	at := fmt.Sprintf("column %d", col)
	if line > 1 || strings.Contains(src, "\n") {
		at = fmt.Sprintf("line %d, column %d", line, col)
	}
	if text != "" {
		at = text + " at " + at
	}
	return &errs.Error{Code: errs.Invalid, Message: at + ": " + msg, Err: &posError{line, col}}
}

// lineCol converts a byte offset of src to a 1-based line and column.
func lineCol(src string, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line = 1 + strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCountInString(before)
}

// byteOffset converts a CEL location (1-based line, 0-based column counted
// in code points) inside text to a byte offset.
func byteOffset(text string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			return len(text)
		}
		off += i + 1
	}
	for ; col > 0 && off < len(text); col-- {
		_, n := utf8.DecodeRuneInString(text[off:])
		off += n
	}
	return off
}

// celMessage tidies a message of cel-go for users.
func celMessage(msg string) string {
	msg = strings.ReplaceAll(msg, " (in container '')", "")
	msg = strings.TrimPrefix(msg, "Syntax error: ")
	switch {
	case strings.HasPrefix(msg, "mismatched input '<EOF>'"):
		msg = "the expression ends too early: something is missing here"
	case strings.HasPrefix(msg, "token recognition error at: '= '"):
		msg += " (CEL compares with ==)"
	case msg == "no such overload":
		msg += " (the values' types do not fit this operator or function, e.g. a string where a number is expected)"
	}
	return msg
}

// Closest returns the candidate nearest to name when it is near enough to
// be a likely typo ("comand" for "command", "retries" for "retry").
func Closest(name string, candidates []string) (string, bool) {
	best, bestD := "", 1<<30
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if d := distance(lname, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return "", false
	}
	near := bestD <= max(1, min(3, len(name)/3))
	sameStem := commonPrefix(lname, strings.ToLower(best)) >= 4 && bestD <= len(name)/2
	return best, near || sameStem
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// distance is the edit distance between a and b, an adjacent
// transposition ("trian" for "train") counting as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// suggest renders " (did you mean x?)" or "" for name among candidates.
func suggest(name string, candidates []string) string {
	if c, ok := Closest(name, candidates); ok {
		return fmt.Sprintf(" (did you mean %s?)", c)
	}
	return ""
}

// names lists candidates for a message: "a, b, c" or none.
func names(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}
