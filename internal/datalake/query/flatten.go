package query

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// KV is one indexed value of a file's metadata: what the stores write to
// their key/value side table and what Match compares against, so that
// both see the same values.
type KV struct {
	Key  string // dotted path of nested objects ("camera.model")
	Pos  int    // index among the values of Key, in document order
	Kind Kind   // String, Number, Bool or Null
	Str  string
	Num  float64
	Bool bool
	// Time is set (HasTime) when a String spells a time (see ParseTime):
	// such a value compares both as a string and as a time.
	Time    time.Time
	HasTime bool
}

// Flatten lists the indexed values of a decoded metadata object (numbers
// float64 or json.Number): nested objects become dotted keys, each array
// element a value of the array's key (arrays of arrays and of objects
// flatten the same way), keys in byte order. Empty objects and arrays
// hold no value, so such a key does not exist for a query.
func Flatten(meta map[string]any) []KV {
	var out []KV
	pos := map[string]int{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		kv := KV{Key: key}
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				sub := k
				if key != "" {
					sub = key + "." + k
				}
				walk(sub, v[k])
			}
			return
		case []any:
			for _, e := range v {
				walk(key, e)
			}
			return
		case nil:
			kv.Kind = Null
		case bool:
			kv.Kind, kv.Bool = Bool, v
		case float64:
			kv.Kind, kv.Num = Number, v
		case int: // maps built in Go rather than decoded
			kv.Kind, kv.Num = Number, float64(v)
		case int64:
			kv.Kind, kv.Num = Number, float64(v)
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return // out of range: ValidateMeta refuses it
			}
			kv.Kind, kv.Num = Number, f
		case string:
			kv.Kind, kv.Str = String, v
			kv.Time, kv.HasTime = ParseTime(v)
		default:
			return
		}
		if key == "" {
			return // a scalar at the top: not an object
		}
		kv.Pos = pos[key]
		pos[key]++
		out = append(out, kv)
	}
	walk("", meta)
	return out
}

// ParseTime reads s as a time when it is a date (2026-01-01, midnight UTC)
// or an RFC 3339 time, at the microsecond precision the stores keep.
func ParseTime(s string) (time.Time, bool) {
	if len(s) < 10 || len(s) > 40 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	if len(s) == 10 {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	if strings.IndexByte("Tt", s[10]) < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	// Years both databases hold (PostgreSQL stops at 294276, SQLite's
	// microseconds at 292277; neither is a date anyone means).
	if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t.Truncate(time.Microsecond), true
}
