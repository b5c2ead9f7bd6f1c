package v1

import (
	"regexp"
	"strconv"
	"strings"
)

// Field paths name a place in a document the way users read it:
// spec.steps[1].retry.when, spec.params.ratio.default, spec.steps[0].env["MY-VAR"].
// Validation reports them; Parse maps them to file:line:column.

var simpleKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func joinIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// joinKey appends a map key: .key when it reads as a name, ["key"] otherwise.
func joinKey(path, key string) string {
	if simpleKey.MatchString(key) {
		return joinField(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// parentPath drops the last element of a path ("" at the top).
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := lastBracket(path); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lastBracket finds the "[" opening the final [...] element, skipping
// brackets inside a quoted key.
func lastBracket(path string) int {
	inQuote := false
	open := -1
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '[' && !inQuote:
			open = i
		}
	}
	return open
}

// within reports whether path is base or lies under it.
func within(path, base string) bool {
	if base == "" || path == base {
		return true
	}
	return strings.HasPrefix(path, base) && (path[len(base)] == '.' || path[len(base)] == '[')
}
