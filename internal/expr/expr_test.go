package expr

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

var vars = Vars{
	Params: map[string]any{"seed": int64(42), "ratio": 0.8, "whole": 2.0, "metric": "f1", "debug": true,
		"grid": []any{map[string]any{"C": 0.1}, map[string]any{"C": 1.0}}, "opts": map[string]any{"a": "b<c>"}},
	Item:    map[string]any{"C": 0.1, "name": "small"},
	Run:     RunVars{ID: "build-abc123", Project: "churn", Workflow: "build"},
	Inputs:  map[string]string{"data": "inputs/data"},
	Outputs: map[string]string{"model": "out/model.pkl"},
	Steps: map[string]StepVars{
		"grid":  {Phase: "Succeeded", Outputs: map[string]any{"grid": []any{map[string]any{"C": 1.0}, map[string]any{"C": 10.0}}}},
		"train": {Phase: "Succeeded", Outputs: map[string]any{"scores": []any{0.5, 0.9}}},
		"skip":  {Phase: "Skipped"},
	},
}

func TestRender(t *testing.T) {
	tests := []struct{ src, want string }{
		{"plain --flag", "plain --flag"},
		{"{{ params.metric }}", "f1"},
		{"--seed={{ params.seed }}", "--seed=42"},
		{"{{ params.ratio }}", "0.8"},
		{"{{ params.whole }}", "2"},        // integral double: no .0
		{"{{ params.seed / 5 }}", "8"},     // int division
		{"{{ params.ratio * 10.0 }}", "8"}, // 8.0 → 8
		{"{{ params.whole * 3 }}", "6"},    // double and int mix, as in JSON
		{"{{ 1 + params.ratio }}", "1.8"},
		{"{{ params.seed - 0.5 }}", "41.5"},
		{"{{ 1e21 }}", "1e+21"},                      // huge doubles keep an exponent
		{"{{ params.debug }}", "true"},               //
		{"{{ params.grid }}", `[{"C":0.1},{"C":1}]`}, // lists as JSON
		{"{{ params.opts }}", `{"a":"b<c>"}`},        // maps as JSON, no HTML escaping
		{"{{ item }}", `{"C":0.1,"name":"small"}`},
		{"--C={{ item.C }} --name={{ item.name }}", "--C=0.1 --name=small"},
		{"{{ inputs.data }}:{{ outputs.model }}", "inputs/data:out/model.pkl"},
		{"{{ run.id }}/{{ run.project }}/{{ run.workflow }}", "build-abc123/churn/build"},
		{"{{ steps.train.outputs.scores }}", "[0.5,0.9]"},
		{"{{ steps.skip.phase }}", "Skipped"},
		{"{{ null }}", "null"},
		{"{{ b'hi' }}", "hi"},
		{"{{ 'ünï' + 'code' }}", "ünïcode"},
		{"{{ params.metric.upperAscii() }}-{{ [3, 1, 2].sort() }}", "F1-[1,2,3]"},
		{"{{ {'x': [1, {'y': true}]} }}", `{"x":[1,{"y":true}]}`},
		{"{{ duration('90s') }}", "1m30s"},
		{`{{ "}}" }}`, "}}"},
	}
	for _, tt := range tests {
		got, err := Render(tt.src, vars)
		if err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct{ src, err string }{
		{"--x={{ params.nosuch }}", "{{ params.nosuch }} at column 15: no such key: nosuch"},
		{"{{ params.metric + 1 }}", "{{ params.metric + 1 }} at column 18: no such overload (the values' types do not fit"},
		{"{{ 1 / 0 }}", "{{ 1 / 0 }} at column 6: division by zero"},
		{"{{ params.seed", `column 1: "{{" is not closed`},
		{"oops }}", `column 6: "}}" without an opening "{{"`},
		{"{{ 1 + }}", "{{ 1 + }} at column 8: the expression ends too early"},
	}
	for _, tt := range tests {
		_, err := Render(tt.src, vars)
		if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("Render(%q): got %v, want %s", tt.src, err, tt.err)
		}
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("Render(%q): code %s", tt.src, errs.CodeOf(err))
		}
	}
}

func TestBool(t *testing.T) {
	exit := &v1.Exit{Code: 137, OOMKilled: true}
	tests := []struct {
		src  string
		v    Vars
		want bool
		err  string
	}{
		{src: "params.seed > 40", v: vars, want: true},
		{src: "params.seed > 40.5", v: vars, want: true}, // int vs double comparison
		{src: "params.metric in ['auc']", v: vars, want: false},
		{src: "steps.grid.phase == 'Succeeded' && size(steps.grid.outputs.grid) == 2", v: vars, want: true},
		{src: "steps.train.outputs.scores.exists(s, s > 0.8)", v: vars, want: true},
		{src: "exit.oom_killed || exit.code in [137, 143]", v: Vars{Exit: exit}, want: true},
		{src: "exit.code == 1 && !exit.timed_out", v: Vars{Exit: exit}, want: false},
		{src: "attempt < 3 && exit.signal == 0 && exit.error == ''", v: Vars{Exit: exit, Attempt: 2}, want: true},
		{src: "params.seed > 1", v: Vars{}, err: "column 8: no such key: seed"},
		{src: "exit.code == 1", v: Vars{}, err: "column 6: no such attribute(s): exit"},
		{src: "params.metric", v: vars, err: `column 1: must be true or false, got a string "f1"`},
		{src: "params.seed >", v: vars, err: "column 14: the expression ends too early"},
	}
	for _, tt := range tests {
		got, err := Bool(tt.src, tt.v)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("Bool(%q): got %v, want %s", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Bool(%q) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{"{{ steps.grid.outputs.grid }}", []any{map[string]any{"C": 1.0}, map[string]any{"C": 10.0}}},
		{" {{ params.grid.map(g, g.C) }} ", []any{0.1, 1.0}},
		{"{{ [1, 'a', true, null] }}", []any{int64(1), "a", true, nil}},
		{"{{ params.seed }}", int64(42)},
		{"{{ params.opts }}", map[string]any{"a": "b<c>"}},
		{"{{ {1: 'x'} }}", map[string]any{"1": "x"}},
		{"plain", "plain"},
		{"a-{{ params.seed }}", "a-42"}, // text and template: rendered
	}
	for _, tt := range tests {
		got, err := Value(tt.src, vars)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Value(%q) = %#v, %v; want %#v", tt.src, got, err, tt.want)
		}
	}
	if _, err := Value("{{ params.nope }}", vars); err == nil || !strings.Contains(err.Error(), "no such key: nope") {
		t.Errorf("got %v", err)
	}
}

// Params decoded with json.Decoder.UseNumber are numbers to expressions.
func TestJSONNumberParams(t *testing.T) {
	v := Vars{Params: map[string]any{"n": json.Number("3"), "f": json.Number("0.5")}}
	got, err := Render("{{ params.n + 1 }} {{ params.f * 2.0 }}", v)
	if err != nil || got != "4 1" {
		t.Errorf("%q %v", got, err)
	}
}

func TestHasTemplate(t *testing.T) {
	for s, want := range map[string]bool{"a": false, "{{ x }}": true, "a {{": true, "{a}": false} {
		if HasTemplate(s) != want {
			t.Errorf("HasTemplate(%q) != %v", s, want)
		}
	}
}

// The checks are reachable from this package too (Scope is lang.Scope).
func TestChecks(t *testing.T) {
	s := Scope{Params: map[string]string{"seed": "integer"}, Exit: true}
	if err := CheckBool("exit.code == 137 && params.seed > 0", s); err != nil {
		t.Error(err)
	}
	if err := CheckBool("params.nosuch", s); err == nil || !strings.Contains(err.Error(), `column 8: unknown param "nosuch"`) {
		t.Errorf("got %v", err)
	}
	if err := CheckTemplate("{{ item }}", s); err == nil || !strings.Contains(err.Error(), "item is only defined") {
		t.Errorf("got %v", err)
	}
	if err := CheckList("{{ params.seed }}", s); err == nil || !strings.Contains(err.Error(), "must be a list") {
		t.Errorf("got %v", err)
	}
}
