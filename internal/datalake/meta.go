// Package datalake holds what the datalake's API checks before the store
// sees it: metadata limits and the flattening that indexes it.
package datalake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

// Limits of a file's metadata. Each bounds what one file adds to the
// index: MaxStringValue and MaxKeyPath keep one index entry well under
// PostgreSQL's B-tree limit (about 2.7 KB), MaxValues the rows per file.
const (
	MaxMetaBytes   = 64 << 10 // the JSON text, before compaction
	MaxMetaDepth   = 8        // nested objects and arrays
	MaxMetaKeys    = 256      // object members, all levels together
	MaxKeyLength   = 128      // bytes of one key
	MaxKeyPath     = 512      // bytes of a dotted path (camera.lens.model)
	MaxStringValue = 1024     // bytes of one string value
	MaxArrayLen    = 1000     // elements of one array
	MaxValues      = 2000     // indexed values (scalars, array elements included)
)

// KV is one indexed value (see query.Flatten).
type KV = query.KV

// ValidateMeta checks free metadata and returns it compact and canonical
// (object members in byte order, numbers as written). Empty input is {}.
// Errors are errs.Invalid naming the offending path ("meta.camera.model")
// and the limit, or errs.TooLarge for the size.
func ValidateMeta(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if len(raw) > MaxMetaBytes {
		return nil, errs.At(errs.TooLarge, "meta", "metadata is %d bytes, more than the limit of %d", len(raw), MaxMetaBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "meta: not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errs.At(errs.Invalid, "meta", "unexpected data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errs.At(errs.Invalid, "meta", "metadata must be a JSON object, not %s", kindOf(v))
	}
	c := checker{}
	if err := c.value("meta", "", m, 0); err != nil {
		return nil, err
	}
	if c.values > MaxValues {
		return nil, errs.At(errs.Invalid, "meta", "metadata holds %d values, more than the limit of %d", c.values, MaxValues)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "meta: %v", err)
	}
	return out, nil
}

// Flatten lists the indexed values of valid metadata (see query.Flatten).
func Flatten(meta json.RawMessage) ([]KV, error) {
	dec := json.NewDecoder(bytes.NewReader(meta))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "meta: %v", err)
	}
	return query.Flatten(m), nil
}

type checker struct{ keys, values int }

// value checks v at where ("meta.a.b[3]"); key is its dotted index path.
func (c *checker) value(where, key string, v any, depth int) error {
	if depth > MaxMetaDepth {
		return errs.At(errs.Invalid, where, "nested deeper than the limit of %d", MaxMetaDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.keys++
			if c.keys > MaxMetaKeys {
				return errs.At(errs.Invalid, "meta", "more than the limit of %d keys", MaxMetaKeys)
			}
			if err := checkKey(where, k); err != nil {
				return err
			}
			sub := k
			if key != "" {
				sub = key + "." + k
			}
			if len(sub) > MaxKeyPath {
				return errs.At(errs.Invalid, where+"."+k, "the key's path is %d bytes, more than the limit of %d", len(sub), MaxKeyPath)
			}
			if err := c.value(where+"."+k, sub, v[k], depth+1); err != nil {
				return err
			}
		}
	case []any:
		if len(v) > MaxArrayLen {
			return errs.At(errs.Invalid, where, "the array has %d elements, more than the limit of %d", len(v), MaxArrayLen)
		}
		for i, e := range v {
			if err := c.value(fmt.Sprintf("%s[%d]", where, i), key, e, depth+1); err != nil {
				return err
			}
		}
	case string:
		c.values++
		if len(v) > MaxStringValue {
			return errs.At(errs.Invalid, where, "the string is %d bytes, more than the limit of %d", len(v), MaxStringValue)
		}
		// PostgreSQL's text cannot hold NUL.
		if strings.IndexByte(v, 0) >= 0 {
			return errs.At(errs.Invalid, where, "strings cannot hold the NUL character")
		}
	case json.Number:
		c.values++
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return errs.At(errs.Invalid, where, "the number %s is out of range (a 64-bit float)", v)
		}
	default: // bool, nil
		c.values++
	}
	return nil
}

func checkKey(where, k string) error {
	switch {
	case k == "":
		return errs.At(errs.Invalid, where, "empty keys are not allowed")
	case len(k) > MaxKeyLength:
		return errs.At(errs.Invalid, where, "the key %.20q... is %d bytes, more than the limit of %d", k, len(k), MaxKeyLength)
	case strings.IndexByte(k, '.') >= 0:
		return errs.At(errs.Invalid, where+"."+k, "keys cannot contain '.' (it separates nested keys in queries)")
	case !utf8.ValidString(k):
		return errs.At(errs.Invalid, where, "the key %q is not valid UTF-8", k)
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return errs.At(errs.Invalid, where, "the key %q holds a control character", k)
		}
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
