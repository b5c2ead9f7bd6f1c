package v1

import (
	"reflect"
	"strings"
	"sync"
)

// field is one document field of a Go type: its JSON name, where it is in
// the struct, and whether documents must give it. The decoder and the
// JSON Schema both read this table, so they cannot disagree.
type field struct {
	name     string
	index    []int
	typ      reflect.Type
	owner    string // the Go type that declares it: "Step", "RetryPolicy", ...
	required bool
}

// optional lists fields without omitempty that documents may still leave
// out ("Type.json").
var optional = map[string]bool{
	"Project.spec": true,
}

var fieldTables sync.Map // reflect.Type -> []field

// fieldsOf lists the document fields of struct type t, inlined embedded
// structs included, in declaration order.
func fieldsOf(t reflect.Type) []field {
	if v, ok := fieldTables.Load(t); ok {
		return v.([]field)
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if !hasTag || name == "" {
			name = sf.Name
		}
		omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out = append(out, field{
			name:     name,
			index:    []int{i},
			typ:      sf.Type,
			owner:    t.Name(),
			required: !omit && !optional[t.Name()+"."+name],
		})
	}
	fieldTables.Store(t, out)
	return out
}

func fieldNames(fields []field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}
