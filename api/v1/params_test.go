package v1

import (
	"reflect"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
)

func TestResolveParams(t *testing.T) {
	spec := WorkflowSpec{Params: map[string]ParamSpec{
		"dataset": {Type: "string"},
		"ratio":   {Type: "number", Default: 0.8},
		"seed":    {Type: "integer", Default: float64(42)},
		"metric":  {Type: "string", Default: "f1", Enum: []any{"f1", "auc"}},
		"debug":   {Type: "boolean", Default: false},
		"grid":    {Type: "array", Default: []any{1.0}},
		"opts":    {Type: "object", Default: map[string]any{}},
		"level":   {Type: "integer", Default: float64(1), Enum: []any{float64(1), float64(2)}},
	}}
	defaults := map[string]any{"ratio": 0.8, "seed": int64(42), "metric": "f1", "debug": false, "grid": []any{1.0}, "opts": map[string]any{}, "level": int64(1)}
	with := func(kv map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range defaults {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name  string
		given map[string]string
		typed map[string]any
		want  map[string]any
		errs  []string // substrings, one per expected error
	}{
		{name: "defaults", given: map[string]string{"dataset": "iris"}, want: with(map[string]any{"dataset": "iris"})},
		{name: "strings coerced",
			given: map[string]string{"dataset": "iris", "ratio": "0.7", "seed": "7", "debug": "true", "grid": `[{"C": 1}]`, "opts": `{"a": "b"}`, "metric": "auc", "level": "2"},
			want: with(map[string]any{"dataset": "iris", "ratio": 0.7, "seed": int64(7), "debug": true, "grid": []any{map[string]any{"C": 1.0}},
				"opts": map[string]any{"a": "b"}, "metric": "auc", "level": int64(2)})},
		{name: "typed JSON",
			typed: map[string]any{"dataset": "iris", "ratio": 1.0, "seed": 7.0, "debug": true, "grid": []any{}, "level": 2.0},
			want:  with(map[string]any{"dataset": "iris", "ratio": 1.0, "seed": int64(7), "debug": true, "grid": []any{}, "level": int64(2)})},
		{name: "typed ints", typed: map[string]any{"dataset": "x", "ratio": 1, "seed": int64(3)}, want: with(map[string]any{"dataset": "x", "ratio": 1.0, "seed": int64(3)})},
		{name: "missing", errs: []string{`params.dataset: missing param dataset (string, no default): give it, e.g. -p dataset=...`}},
		{name: "unknown", given: map[string]string{"dataset": "x", "ration": "1"}, errs: []string{`params.ration: unknown param "ration" (did you mean ratio?); this workflow's params: dataset, debug, grid, level, metric, opts, ratio, seed`}},
		{name: "bad number", given: map[string]string{"dataset": "x", "ratio": "high"}, errs: []string{`params.ratio: param ratio must be a number (e.g. 0.7), not "high"`}},
		{name: "bad integer", given: map[string]string{"dataset": "x", "seed": "1.5"}, errs: []string{`param seed must be an integer (e.g. 42), not "1.5"`}},
		{name: "typed bad integer", typed: map[string]any{"dataset": "x", "seed": 1.5}, errs: []string{"param seed must be an integer, not the number 1.5"}},
		{name: "bad bool", given: map[string]string{"dataset": "x", "debug": "yes"}, errs: []string{`param debug must be true or false, not "yes"`}},
		{name: "bad array", given: map[string]string{"dataset": "x", "grid": `{"a": 1}`}, errs: []string{"param grid must be an array (a list), not a mapping"}},
		{name: "bad json", given: map[string]string{"dataset": "x", "opts": `{a}`}, errs: []string{"param opts must be JSON (an object)"}},
		{name: "enum", given: map[string]string{"dataset": "x", "metric": "acc"}, errs: []string{`param metric must be one of "f1", "auc", not "acc"`}},
		{name: "numeric enum", typed: map[string]any{"dataset": "x", "level": 3}, errs: []string{"param level must be one of 1, 2, not 3"}},
		{name: "typed string", typed: map[string]any{"dataset": 5.0}, errs: []string{"param dataset must be a string, not the number 5"}},
		{name: "twice", given: map[string]string{"dataset": "x"}, typed: map[string]any{"dataset": "y"}, errs: []string{"param dataset is given twice"}},
		{name: "all at once", given: map[string]string{"seed": "x", "nope": "1"}, errs: []string{"params.nope: unknown param", "params.seed: param seed must be an integer", "params.dataset: missing param dataset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveParams(spec, tt.given, tt.typed)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got  %#v\nwant %#v", got, tt.want)
				}
				return
			}
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want an invalid error, got %v", err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.errs) {
				t.Errorf("want %d errors, got %d: %v", len(tt.errs), n, err)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("want %q in:\n%v", want, err)
				}
			}
		})
	}
}

func TestResolveParamsNoParams(t *testing.T) {
	got, err := ResolveParams(WorkflowSpec{}, nil, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("%v %v", got, err)
	}
	_, err = ResolveParams(WorkflowSpec{}, map[string]string{"x": "1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "this workflow's params: none") {
		t.Errorf("got %v", err)
	}
}
