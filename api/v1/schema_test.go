package v1

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
)

// schema.json is written by go generate from JSONSchema; it must never
// drift from the types.
func TestSchemaFileUpToDate(t *testing.T) {
	file, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, JSONSchema()) {
		t.Fatal("api/v1/schema.json differs from JSONSchema(): run go generate ./api/v1")
	}
}

func TestSchemaShape(t *testing.T) {
	var s struct {
		Schema string                    `json:"$schema"`
		OneOf  []map[string]string       `json:"oneOf"`
		Defs   map[string]map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(JSONSchema(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" || len(s.OneOf) != len(kinds) {
		t.Errorf("root: %+v", s)
	}
	// Every document field is a property, nothing else is allowed, and the
	// required fields are those the decoder requires.
	for name, typ := range map[string]reflect.Type{
		"Workflow": reflect.TypeOf(Workflow{}), "Step": reflect.TypeOf(Step{}),
		"RetryPolicy": reflect.TypeOf(RetryPolicy{}), "Project": reflect.TypeOf(Project{}),
	} {
		def := s.Defs[name]
		if def["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties %v", name, def["additionalProperties"])
		}
		var props []string
		for p := range def["properties"].(map[string]any) {
			props = append(props, p)
		}
		want := fieldNames(fieldsOf(typ))
		sort.Strings(props)
		sort.Strings(want)
		if !reflect.DeepEqual(props, want) {
			t.Errorf("%s properties %v, want %v", name, props, want)
		}
		var req []string
		for _, f := range fieldsOf(typ) {
			if f.required {
				req = append(req, f.name)
			}
		}
		got, _ := def["required"].([]any)
		if len(got) != len(req) {
			t.Errorf("%s required %v, want %v", name, got, req)
		}
	}
	step := s.Defs["Step"]["properties"].(map[string]any)
	if step["timeout"].(map[string]any)["pattern"] != durationPattern {
		t.Errorf("timeout: %v", step["timeout"])
	}
	if r := s.Defs["Step"]["required"].([]any); len(r) != 2 || r[0] != "name" || r[1] != "command" {
		t.Errorf("step required: %v", r)
	}
	if k := s.Defs["Workflow"]["properties"].(map[string]any)["kind"]; !reflect.DeepEqual(k, map[string]any{"const": "Workflow"}) {
		t.Errorf("kind: %v", k)
	}
}
