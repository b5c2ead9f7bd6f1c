package v1

import (
	"encoding/json"
	"reflect"

	"github.com/koya-dev/koya/internal/expr/lang"
)

//go:generate go run gen_schema.go

// SchemaID is the $id of the schema JSONSchema returns.
const SchemaID = "https://koya.dev/schemas/v1/koya.schema.json"

// durationPattern matches what Duration accepts as a string (Go's
// time.ParseDuration without a sign), or nothing.
const durationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)?$`

// annotations add what reflection cannot see to the schema of a field
// ("Type.json"): patterns, enums, bounds, descriptions. Keys replace those
// reflection produced.
var annotations = map[string]map[string]any{
	"ObjectMeta.name":      {"pattern": dnsLabel.String(), "description": "lowercase letters, digits and '-', at most 63 characters"},
	"ObjectMeta.project":   {"pattern": dnsLabel.String()},
	"ObjectMeta.labels":    {"propertyNames": map[string]any{"pattern": labelKey.String()}},
	"ObjectMeta.version":   {"readOnly": true},
	"ObjectMeta.createdAt": {"readOnly": true},
	"ObjectMeta.updatedAt": {"readOnly": true},

	"WorkflowSpec.params":      {"propertyNames": map[string]any{"pattern": identName.String()}},
	"WorkflowSpec.steps":       {"minItems": 1},
	"WorkflowSpec.parallelism": {"minimum": 0, "description": "attempts of one run at once (0: no cap)"},

	"ParamSpec.type":    {"enum": lang.ParamTypes},
	"ParamSpec.default": {"description": "used when a run does not give the param; must match type (and enum)"},

	"Step.name":        {"pattern": identName.String(), "description": "a CEL identifier: expressions refer to the step as steps.<name>"},
	"Step.image":       {"description": "container image, for the container and kubernetes backends"},
	"Step.command":     {"minItems": 1, "description": "program and arguments; strings may hold {{ expr }} templates"},
	"Step.needs":       {"items": map[string]any{"type": "string", "pattern": identName.String()}},
	"Step.foreach":     {"anyOf": []any{map[string]any{"type": "array"}, map[string]any{"type": "string", "pattern": `^\s*(\{\{.*\}\}|datalake://[^?]+\?.*)\s*$`}}, "description": "a list of items, one template whose value is a list, or a datalake query (datalake://<project>/<channel>?query=...); one task per item"},
	"Step.parallelism": {"minimum": 0, "description": "items of a foreach step at once (0: no cap)"},
	"Step.when":        {"description": "CEL guard over params and steps.<need>.outputs; false skips the step"},
	"Step.inputs": {"propertyNames": map[string]any{"pattern": ioName.String()}, "additionalProperties": map[string]any{"type": "string", "pattern": `^\s*(\{\{\s*steps\.[A-Za-z_][A-Za-z0-9_]*\.outputs\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}|\{\{\s*item(\.[A-Za-z_][A-Za-z0-9_]*)*\s*\}\}|datalake://.+)\s*$`,
		"description": "the output of a step this one needs ({{ steps.<step>.outputs.<output> }}), a datalake file (datalake://<project>/<channel>/<path>) or query (...?query=), or {{ item.uri }} of a datalake foreach"}},
	"Step.outputs": {"propertyNames": map[string]any{"pattern": ioName.String()}, "description": "output name: path the command writes it to, relative to the working directory"},
	"Step.env":     {"propertyNames": map[string]any{"pattern": envName.String()}},
	"Step.secrets": {"items": map[string]any{"type": "string", "pattern": envName.String()}},
	"Step.backend": {"enum": append([]string{""}, backends...)},
	"Step.network": {"enum": append([]string{""}, networks...)},

	"RetryPolicy.limit": {"minimum": 0, "maximum": maxRetries},
	"RetryPolicy.when":  {"description": "CEL over exit.code, exit.signal, exit.oom_killed, exit.timed_out, exit.error, attempt and params; empty retries any failure"},

	"Resources.cpu":    {"minimum": 0},
	"Resources.gpu":    {"minimum": 0},
	"Resources.memory": {"type": []string{"string", "integer"}, "pattern": quantity.String(), "minimum": 0, "description": "bytes, or a quantity such as 512Mi, 4Gi, 1G"},
	"Quota.storage":    {"type": []string{"string", "integer"}, "pattern": quantity.String(), "minimum": 0, "description": "bytes, or a quantity such as 500Gi, 2T"},
	"Quota.memory":     {"type": []string{"string", "integer"}, "pattern": quantity.String(), "minimum": 0, "description": "bytes, or a quantity such as 512Mi, 4Gi, 1G"},

	"ProjectSpec.defaultBackend": {"enum": append([]string{""}, backends...)},
	"BackendRule.backend":        {"enum": backends[1:]},
	"Threshold.memory":           {"type": []string{"string", "integer"}, "pattern": quantity.String(), "minimum": 0, "description": "bytes, or a quantity such as 16Gi"},
	"Threshold.timeout":          {"description": "a duration such as 30m or 2h"},
}

// JSONSchema returns the JSON Schema (draft 2020-12) of koya documents,
// generated from the Go types: properties from json tags, required fields
// (those without omitempty), no additional properties. schema.json in this
// directory is its output (go generate), for editors.
func JSONSchema() []byte {
	g := schemaGen{defs: map[string]any{}}
	var kindsOf []any
	for _, name := range sortedKeys(kinds) {
		kindsOf = append(kindsOf, g.ref(reflect.TypeOf(kinds[name]()).Elem()))
	}
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "koya documents (" + APIVersion + ")",
		"description": "A koya document: apiVersion, kind, metadata and spec. Generated from api/v1; do not edit.",
		"oneOf":       kindsOf,
		"$defs":       g.defs,
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only maps, slices, strings and numbers: cannot fail
	}
	return append(b, '\n')
}

type schemaGen struct{ defs map[string]any }

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // placeholder: types may refer to themselves
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range fieldsOf(t) {
		s := g.schema(f.typ)
		for k, v := range annotations[f.owner+"."+f.name] {
			s[k] = v
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	if _, ok := kinds[t.Name()]; ok {
		props["apiVersion"] = map[string]any{"const": APIVersion}
		props["kind"] = map[string]any{"const": t.Name()}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": durationPattern, "description": "a duration such as 30s, 5m, 2h or 1h30m"}
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		return g.ref(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{} // any value
}
