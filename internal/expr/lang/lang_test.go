package lang

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestScan(t *testing.T) {
	tests := []struct {
		src   string
		exprs []string // expression texts, in order
		err   string
	}{
		{src: "plain", exprs: nil},
		{src: "a {{ x }} b {{y}}", exprs: []string{" x ", "y"}},
		{src: "{{ {'a': {'b': 1}} }}", exprs: []string{" {'a': {'b': 1}} "}},
		{src: `{{ "}}" }}`, exprs: []string{` "}}" `}},
		{src: `{{ '{{' }}`, exprs: []string{` '{{' `}},
		{src: `{{ r'\' }}`, exprs: []string{` r'\' `}},
		{src: `{{ """a}}b""" }}`, exprs: []string{` """a}}b""" `}},
		{src: `{{ 'it\'s}}' }}`, exprs: []string{` 'it\'s}}' `}},
		{src: "{{ x }}}", exprs: []string{" x "}},
		{src: `{"a": 1}`, exprs: nil},
		{src: "x {{ a", err: `column 3: "{{" is not closed`},
		{src: "{{ 'a }}", err: `column 1: "{{" is not closed`},
		{src: "a }} b", err: `column 3: "}}" without an opening "{{"`},
		{src: "{{ a }} }}", err: `column 9: "}}" without an opening "{{"`},
		{src: "{{  }}", err: `column 1: empty "{{ }}"`},
		{src: "é{{ a", err: `column 2: "{{" is not closed`},
		{src: "line\n  {{ a", err: `line 2, column 3: "{{" is not closed`},
	}
	for _, tt := range tests {
		parts, err := scan(tt.src)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%q: got %v, want %s", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		var got []string
		var rebuilt strings.Builder
		for _, p := range parts {
			if p.isExpr {
				got = append(got, p.expr)
				rebuilt.WriteString(p.text)
				if tt.src[p.start:p.start+len(p.expr)] != p.expr {
					t.Errorf("%q: start %d does not point at %q", tt.src, p.start, p.expr)
				}
			} else {
				rebuilt.WriteString(p.lit)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.exprs) || rebuilt.String() != tt.src {
			t.Errorf("%q: got %q (rebuilt %q), want %q", tt.src, got, rebuilt.String(), tt.exprs)
		}
	}
}

var scope = Scope{
	Params:      map[string]string{"seed": "integer", "ratio": "number", "metric": "string", "debug": "boolean", "opts": "object", "grid": "array"},
	Steps:       map[string]bool{"split": true, "grid": true},
	StepOutputs: map[string]map[string]bool{"split": {"train": true, "valid": true}},
	Inputs:      map[string]bool{"data": true},
	Outputs:     map[string]bool{"model": true},
}

func with(f func(*Scope)) Scope {
	s := scope
	f(&s)
	return s
}

func TestCheckBool(t *testing.T) {
	foreach := with(func(s *Scope) { s.Item = true })
	retry := Scope{Params: scope.Params, Exit: true}
	tests := []struct {
		src string
		s   Scope
		err string // "" for fine; else the whole message's prefix
	}{
		{"params.seed > 1", scope, ""},
		{"params.debug", scope, ""},
		{"params.ratio >= 0.5 && params.metric in ['f1', 'auc']", scope, ""},
		{"params.seed > 1.5", scope, ""}, // mixed numeric comparison is fine
		{"params['seed'] == 1", scope, ""},
		{"has(params.opts.x) && params.opts.x == 'y'", scope, ""},
		{"params.grid.size() > 0 && params.grid.all(g, g.C > 0)", scope, ""},
		{"params.exists(k, k == 'seed')", scope, ""},
		{"steps.split.phase == 'Succeeded'", scope, ""},
		{"steps.split.outputs.train.ok", scope, ""},         // JSON values are dynamic
		{"steps.grid.outputs.anything == 1", scope, ""},     // outputs of grid unknown to the scope
		{"steps.split.outputs['valid'] != null", scope, ""}, // index form
		{"run.id != '' && run.project == 'p'", scope, ""},   // run is always there
		{"item.C > 1", foreach, ""},                         //
		{"exit.code in [137, 143] || exit.oom_killed", retry, ""},
		{"exit.timed_out && attempt < 3 && exit.signal == 9 && exit.error == ''", retry, ""},
		{"'a'.upperAscii() == 'A' && math.greatest(1, 2) == 2", scope, ""}, // extensions
		{"[1, 2].exists(params, params > 1)", scope, ""},                   // shadowed by a comprehension

		{"params.nosuch == 1", scope, `column 8: unknown param "nosuch"; declared params: debug, grid, metric, opts, ratio, seed`},
		{"params.sed == 1", scope, `column 8: unknown param "sed" (did you mean seed?)`},
		{"params['nosuch'] == 1", scope, `column 8: unknown param "nosuch"`},
		{"has(params.nosuch)", scope, `column 12: unknown param "nosuch"`},
		{"params.x == 1", Scope{}, `column 8: unknown param "x"; declared params: none`},
		{"item.C > 1", scope, "column 1: item is only defined in a step with foreach"},
		{"exit.code == 1", scope, "column 1: exit is only defined in retry.when"},
		{"attempt > 1", scope, "column 1: attempt is only defined in retry.when"},
		{"exit.oom == 1", retry, `column 6: exit has no field "oom"`},
		{"steps.train.phase == 'x'", scope, `column 7: step "train" is not among the steps this one needs (directly or through its needs); add it to needs. Visible here: grid, split`},
		{"steps.split.status == 'x'", scope, `column 13: steps.split has no field "status"; it has outputs and phase`},
		{"steps.split.outputs.tran == 1", scope, `column 21: step "split" declares no output "tran" (did you mean train?); its outputs: train, valid`},
		{"inputs.dat == ''", scope, `column 8: unknown input "dat" (did you mean data?); inputs of this step usable here: data`},
		{"outputs.x == ''", scope, `column 9: unknown output "x"; outputs of this step usable here: model`},
		{"run.name == ''", scope, `column 5: run has no field "name"; it has id, project, workflow`},
		{"nosuch == 1", scope, "column 1: undeclared reference to 'nosuch'"},
		{"params.metric", scope, "column 1: must be true or false, but this expression is string"},
		{"  params.seed + 1", scope, "column 3: must be true or false, but this expression is int"},
		{"params.seed + 'a' == 1", scope, "column 13: found no matching overload for '_+_' applied to '(int, string)'"},
		{"params.ratio * 2 > 1 && params.seed * 0.5 < 30.0", scope, ""}, // int and double mix, as in JSON
		{"params.ratio + 'a' == 1", scope, "column 14: found no matching overload for '_+_' applied to '(double, string)'"},
		{"params.seed ==", scope, "column 15: the expression ends too early"},
		{"params.seed = 1", scope, "column 13: token recognition error at: '= ' (CEL compares with ==)"},
		{"params.nosuch == 1 && item > 0", scope, `column 8: unknown param "nosuch"; declared params: debug, grid, metric, opts, ratio, seed; column 23: item is only defined`},
		{"true &&\n  params.x", scope, `line 2, column 10: unknown param "x"`},
	}
	for _, tt := range tests {
		err := CheckBool(tt.src, tt.s)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.src, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("%q:\n got  %v\n want %s", tt.src, err, tt.err)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	foreach := with(func(s *Scope) { s.Item = true })
	tests := []struct {
		src string
		s   Scope
		err string
	}{
		{"no template", scope, ""},
		{"--seed={{ params.seed }} --ratio={{params.ratio}}", scope, ""},
		{"{{ inputs.data }}/{{ outputs.model }}", scope, ""},
		{"{{ item.C * 2.0 }}", foreach, ""},
		{"{{ steps.split.outputs.train }}", scope, ""},
		{`{{ "}}" }} and {{ '{{' }}`, scope, ""},
		{`--json={"a": {"b": 1}}`, scope, `column 21: "}}" without an opening "{{"`},
		{"--x={{ params.nosuch }}", scope, `{{ params.nosuch }} at column 15: unknown param "nosuch"`},
		{"{{ item }}", scope, "{{ item }} at column 4: item is only defined in a step with foreach"},
		{"a {{ params.seed", scope, `column 3: "{{" is not closed`},
		{"{{ steps.train.outputs.x }}", scope, `{{ steps.train.outputs.x }} at column 10: step "train" is not among the steps`},
		{"{{ params.nosuch }} {{ nope }}", scope, `{{ params.nosuch }} at column 11: unknown param "nosuch"; declared params: debug, grid, metric, opts, ratio, seed; {{ nope }} at column 24: undeclared reference to 'nope'`},
		{"{{ 1 + }}", scope, "{{ 1 + }} at column 8:"},
	}
	for _, tt := range tests {
		err := CheckTemplate(tt.src, tt.s)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.src, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("%q:\n got  %v\n want %s", tt.src, err, tt.err)
		}
	}
}

func TestCheckList(t *testing.T) {
	tests := []struct{ src, err string }{
		{"{{ steps.grid.outputs.grid }}", ""},
		{" {{ params.grid }} ", ""},
		{"{{ [1, 2, 3] }}", ""},
		{"{{ params.grid.map(g, g.C) }}", ""},
		{"{{ params.metric }}", "{{ params.metric }} at column 4: must be a list, but this expression is string"},
		{"x{{ params.grid }}", "column 1: must be a list, or exactly one template"},
		{"{{ params.grid }}{{ params.grid }}", "column 1: must be a list, or exactly one template"},
		{"{{ item }}", "{{ item }} at column 4: item is only defined"},
		{"{{ steps.nope.outputs.x }}", `{{ steps.nope.outputs.x }} at column 10: step "nope" is not among`},
	}
	for _, tt := range tests {
		err := CheckList(tt.src, scope)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.src, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("%q:\n got  %v\n want %s", tt.src, err, tt.err)
		}
	}
}

func TestPos(t *testing.T) {
	err := CheckTemplate("ab {{ params.x }}", scope)
	if l, c := Pos(err); l != 1 || c != 14 {
		t.Errorf("pos %d:%d (%v)", l, c, err)
	}
	if l, c := Pos(fmt.Errorf("plain")); l != 0 || c != 0 {
		t.Errorf("pos of a foreign error: %d:%d", l, c)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"command", "retry", "train", "workingDir", "outputs"}
	for in, want := range map[string]string{"comand": "command", "retries": "retry", "trian": "train", "workingdir": "workingDir", "workdir": "workingDir", "output": "outputs", "colour": "", "x": ""} {
		got, ok := Closest(in, names)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// The same expression evaluated for 10,000 items is compiled once, also
// when goroutines race for it.
func TestCompileOnce(t *testing.T) {
	src := "--C={{ item.C }} --seed={{ params.seed }} (compile-once test)"
	before := Compiles()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000/8; i++ {
				out, err := Render(src, map[string]any{"item": map[string]any{"C": i}, "params": map[string]any{"seed": 1}})
				if err != nil || !strings.HasPrefix(out, fmt.Sprintf("--C=%d ", i)) {
					t.Errorf("%q %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := Compiles() - before; n != 2 {
		t.Errorf("compiled %d times, want 2 (one per expression)", n)
	}
	// A failing expression is compiled once too: the error is cached.
	before = Compiles()
	for i := 0; i < 100; i++ {
		if _, err := Bool("1 + (compile-once test)", map[string]any{}); err == nil {
			t.Fatal("no error")
		}
	}
	if n := Compiles() - before; n != 1 {
		t.Errorf("a failing expression compiled %d times", n)
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(3)
	build := 0
	get := func(s string) {
		_, _ = c.get(cacheKey{kind: kindBool, src: s}, func() (any, error) { build++; return s, nil })
	}
	for _, s := range []string{"a", "b", "c", "a", "d", "a"} {
		get(s)
	}
	if build != 5 || len(c.m) > 3 {
		t.Errorf("builds %d, size %d", build, len(c.m))
	}
}
