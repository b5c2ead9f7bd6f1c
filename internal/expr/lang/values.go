package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Native converts a CEL value to plain Go: nil, bool, int64, uint64,
// float64, string, []byte, []any, map[string]any (durations and
// timestamps as strings).
func Native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return []byte(x), nil
	case types.Duration:
		return x.Duration.String(), nil
	case types.Timestamp:
		return x.Time.Format(time.RFC3339Nano), nil
	case *types.Err:
		return nil, x
	}
	switch x := v.(type) {
	case traits.Lister:
		out := []any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			e, err := Native(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			e, err := Native(x.Get(k))
			if err != nil {
				return nil, err
			}
			key, err := Native(k)
			if err != nil {
				return nil, err
			}
			if s, ok := key.(string); ok {
				out[s] = e
			} else {
				out[fmt.Sprint(key)] = e
			}
		}
		return out, nil
	}
	return v.Value(), nil
}

// format renders a value into a template.
func format(v ref.Val) (string, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Double:
		return formatFloat(float64(x)), nil
	case types.Null:
		return "null", nil
	case types.Bytes:
		return string(x), nil
	}
	n, err := Native(v)
	if err != nil {
		return "", err
	}
	if s, ok := n.(string); ok {
		return s, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(n); err != nil {
		return "", fmt.Errorf("cannot render %s as JSON: %v", typeName(v), err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// formatFloat writes integral numbers without a fraction (2, not 2.0 or
// 2e+00) and others in their shortest exact form.
func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func typeName(v ref.Val) string {
	switch v.(type) {
	case traits.Lister:
		return "a list"
	case traits.Mapper:
		return "a map"
	}
	return "a " + v.Type().TypeName()
}

func abbreviate(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}
