package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// schemas builds JSON Schemas (2020-12, as OpenAPI 3.1 uses) of Go types by
// reflection, following encoding/json's rules: json tags name fields,
// omitempty/omitzero make them optional, embedded structs are flattened.
// Named struct types become components referenced by $ref.
type schemas struct {
	defs  map[string]any
	names map[reflect.Type]string
}

func newSchemas() *schemas {
	return &schemas{defs: map[string]any{}, names: map[reflect.Type]string{}}
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[v1.Duration]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	marshaler    = reflect.TypeFor[json.Marshaler]()
)

// enums lists the values of string types that have a closed set.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[v1.Phase](): {string(v1.Pending), string(v1.Running), string(v1.Succeeded), string(v1.Failed),
		string(v1.Skipped), string(v1.Cancelled), string(v1.Cached), string(v1.Lost)},
	reflect.TypeFor[v1.EventType](): {string(v1.EventStarted), string(v1.EventHeartbeat), string(v1.EventOutput), string(v1.EventExited)},
	reflect.TypeFor[errs.Code](): {string(errs.Invalid), string(errs.NotFound), string(errs.Conflict), string(errs.Unauthenticated),
		string(errs.Forbidden), string(errs.QuotaExceeded), string(errs.TooLarge), string(errs.Unavailable), string(errs.Internal)},
}

// of returns the schema of t (a $ref for named structs).
func (g *schemas) of(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": "a duration such as 10s, 5m or 2h"}
	case rawType:
		return map[string]any{"description": "any JSON value"}
	}
	if vals, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": vals}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.Interface:
		return map[string]any{}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
			return map[string]any{} // its own JSON form: not derivable
		}
		if t.Name() == "" {
			return g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + g.define(t)}
	}
	return map[string]any{}
}

// define adds a named struct to the components once, under a unique name.
func (g *schemas) define(t reflect.Type) string {
	if name, ok := g.names[t]; ok {
		return name
	}
	name := t.Name()
	if _, taken := g.defs[name]; taken {
		pkg := t.PkgPath()
		name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
	}
	g.names[t] = name
	g.defs[name] = map[string]any{} // placeholder: recursive types end here
	g.defs[name] = g.object(t)
	return name
}

// object is the schema of a struct's fields, embedded ones flattened.
func (g *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.of(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}
