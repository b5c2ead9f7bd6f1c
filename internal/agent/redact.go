package agent

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a secret value in the task's log.
const Mask = "***"

// minLinePart is the shortest line of a multi-line value that is masked on
// its own: shorter ones ("{", "}", "-----") carry no secret and would
// mask half the log.
const minLinePart = 4

// redactor masks secret values in log lines: each value as given, its
// base64 forms and its URL-encoded form. The log is cut into lines, so a
// multi-line value (a PEM key, a JSON credential) is masked line by line.
//
// What it cannot see: a value printed with a newline or other text
// inserted into it (`fold`, `base64` wrapped at 76 columns), transformed
// (hex, reversed, a substring) or spread over stdout and stderr. A nil
// redactor masks nothing and costs nothing.
type redactor struct {
	patterns []string
	maxLen   int // longest pattern
}

// newRedactor returns a redactor of values, nil if there is nothing to mask.
func newRedactor(values [][]byte) *redactor {
	seen := map[string]bool{}
	var pats []string
	add := func(form string) {
		var lines []string
		for l := range strings.SplitSeq(form, "\n") {
			if l = strings.TrimSuffix(l, "\r"); strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		for _, l := range lines {
			if len(lines) > 1 {
				// Indentation may differ where the line is printed.
				if l = strings.TrimSpace(l); len(l) < minLinePart {
					continue
				}
			}
			if !seen[l] {
				seen[l] = true
				pats = append(pats, l)
			}
		}
	}
	for _, v := range values {
		if len(v) == 0 {
			continue
		}
		s := string(v)
		add(s)
		// `echo $SECRET | base64` encodes the newline too.
		for _, b := range []string{s, s + "\n"} {
			add(base64.StdEncoding.EncodeToString([]byte(b)))
			add(base64.RawURLEncoding.EncodeToString([]byte(b)))
		}
		add(url.QueryEscape(s))
	}
	if len(pats) == 0 {
		return nil
	}
	r := &redactor{patterns: pats}
	for _, p := range pats {
		r.maxLen = max(r.maxLen, len(p))
	}
	return r
}

// span is a masked range [start, end) of a text.
type span struct{ start, end int }

// spans are where patterns occur in s, overlapping and adjacent ones
// merged: masking their union leaves no part of any occurrence visible.
func (r *redactor) spans(s string) []span {
	var out []span
	for _, p := range r.patterns {
		for i := 0; ; {
			j := strings.Index(s[i:], p)
			if j < 0 {
				break
			}
			out = append(out, span{i + j, i + j + len(p)})
			i += j + 1
		}
	}
	if len(out) < 2 {
		return out
	}
	slices.SortFunc(out, func(a, b span) int { return a.start - b.start })
	merged := out[:1]
	for _, sp := range out[1:] {
		last := &merged[len(merged)-1]
		if sp.start <= last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// redact masks every pattern in s.
func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	return mask(s, r.spans(s), 0)
}

// mask replaces each span (sorted, disjoint, within s once shifted by
// -off) of s by Mask.
func mask(s string, spans []span, off int) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		b.WriteString(s[at : sp.start-off])
		b.WriteString(Mask)
		at = sp.end - off
	}
	b.WriteString(s[at:])
	return b.String()
}
