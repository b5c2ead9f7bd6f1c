package v1

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/koya-dev/koya/errs"
)

// TriggerEventFields are what a trigger's params may refer to, by source.
// A name ending in ".*" opens a JSON object: any key under it may be used
// (event.file.meta.camera.model, event.body.label).
//
//	every source  event.type, event.id, event.time (RFC 3339)
//	datalake      event.seq, event.channel, event.file.{id, path, channel,
//	              size, digest, content_type, version}, event.file.meta.*
//	webhook       event.body.*
//	schedule      (event.time is the slot)
var TriggerEventFields = map[string][]string{
	"datalake": {"event.seq", "event.channel", "event.file.id", "event.file.path", "event.file.channel", "event.file.size",
		"event.file.digest", "event.file.content_type", "event.file.version", "event.file.meta.*"},
	"webhook":  {"event.body.*"},
	"schedule": {},
}

var commonEventFields = []string{"event.type", "event.id", "event.time"}

// templatePart is literal text or a reference to an event field.
type templatePart struct {
	text string
	ref  []string // field path without "event"; nil for text
}

// scanTriggerTemplate splits s into text and {{ event.x.y }} references.
func scanTriggerTemplate(s string) ([]templatePart, error) {
	var parts []templatePart
	rest, off := s, 0
	for {
		i := strings.Index(rest, "{{")
		if j := strings.Index(rest, "}}"); j >= 0 && (i < 0 || j < i) {
			return nil, fmt.Errorf(`column %d: "}}" without an opening "{{"`, off+j+1)
		}
		if i < 0 {
			if rest != "" {
				parts = append(parts, templatePart{text: rest})
			}
			return parts, nil
		}
		if i > 0 {
			parts = append(parts, templatePart{text: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf(`column %d: "{{" is not closed`, off+i+1)
		}
		expr := strings.TrimSpace(rest[i+2 : i+j])
		segs := strings.Split(expr, ".")
		if len(segs) < 2 || segs[0] != "event" {
			return nil, fmt.Errorf("column %d: {{ %s }}: a trigger's params refer to event fields only, such as {{ event.file.path }}", off+i+1, expr)
		}
		for _, sg := range segs[1:] {
			if sg == "" || strings.ContainsAny(sg, " \t\"'{}[]()") {
				return nil, fmt.Errorf("column %d: {{ %s }}: write a field path of names separated by dots", off+i+1, expr)
			}
		}
		parts = append(parts, templatePart{ref: segs[1:]})
		off += i + j + 2
		rest = rest[i+j+2:]
	}
}

// knownEventField says whether ref (without "event") exists for source.
func knownEventField(ref []string, source string) bool {
	name := "event." + strings.Join(ref, ".")
	for _, f := range append(append([]string{}, commonEventFields...), TriggerEventFields[source]...) {
		if prefix, ok := strings.CutSuffix(f, ".*"); ok {
			if strings.HasPrefix(name, prefix+".") {
				return true
			}
			continue
		}
		if name == f {
			return true
		}
	}
	return false
}

func checkTriggerTemplate(s, source string) error {
	parts, err := scanTriggerTemplate(s)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.ref == nil || source == "" || knownEventField(p.ref, source) {
			continue
		}
		known := append(append([]string{}, commonEventFields...), TriggerEventFields[source]...)
		return fmt.Errorf("unknown event field event.%s for a %s trigger; known: %s", strings.Join(p.ref, "."), source, strings.Join(known, ", "))
	}
	return nil
}

// ExpandTriggerParams renders a trigger's params against an event (a
// JSON-like tree: maps, strings, float64, bool, nil). A param that is one
// template keeps the field's value; a missing field leaves the param out.
// Inside a longer string a value is written as text (JSON for objects and
// lists, empty when missing).
func ExpandTriggerParams(params map[string]string, event map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	for _, k := range sortedKeys(params) {
		parts, err := scanTriggerTemplate(params[k])
		if err != nil {
			return nil, errs.At(errs.Invalid, "spec.params."+k, "%v", err)
		}
		if len(parts) == 1 && parts[0].ref != nil {
			if v, ok := lookupEvent(event, parts[0].ref); ok && v != nil {
				out[k] = v
			}
			continue
		}
		var b strings.Builder
		for _, p := range parts {
			if p.ref == nil {
				b.WriteString(p.text)
				continue
			}
			v, _ := lookupEvent(event, p.ref)
			b.WriteString(textOf(v))
		}
		out[k] = b.String()
	}
	return out, nil
}

func lookupEvent(event map[string]any, ref []string) (any, bool) {
	var cur any = event
	for _, sg := range ref {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[sg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func textOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
