package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// Column codecs shared by both dialects: times are integer microseconds
// (SQLite) or TIMESTAMPTZ (PostgreSQL) and always read back in UTC; JSON
// columns hold JSON text, NULL for a nil value.

// timeCol scans a NOT NULL time column.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(v any) error {
	t, ok, err := scanTime(v)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unexpected NULL time")
	}
	*c.dst = t
	return nil
}

// nullTimeCol scans a nullable time column.
type nullTimeCol struct{ dst **time.Time }

func (c nullTimeCol) Scan(v any) error {
	t, ok, err := scanTime(v)
	if err != nil {
		return err
	}
	if !ok {
		*c.dst = nil
		return nil
	}
	*c.dst = &t
	return nil
}

func scanTime(v any) (time.Time, bool, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case int64:
		return time.UnixMicro(v).UTC(), true, nil
	case time.Time:
		return v.UTC(), true, nil
	default:
		return time.Time{}, false, fmt.Errorf("cannot scan %T into a time", v)
	}
}

// jsonCol scans a JSON column into dst (a pointer). NULL leaves dst's zero
// value; a *json.RawMessage gets a copy of the text.
type jsonCol struct{ dst any }

func (c jsonCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("cannot scan %T into JSON", v)
	}
	if raw, ok := c.dst.(*json.RawMessage); ok {
		*raw = append(json.RawMessage(nil), b...)
		return nil
	}
	return json.Unmarshal(b, c.dst)
}

// jsonArg is v as JSON text.
func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// jsonNullArg is v as JSON text, or NULL when null is true (a nil pointer
// or map).
func jsonNullArg(v any, null bool) (any, error) {
	if null {
		return nil, nil
	}
	return jsonArg(v)
}

// rawArg is a raw JSON value, NULL when empty.
func rawArg(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	return string(r)
}
