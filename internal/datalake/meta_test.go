package datalake

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

func TestValidateMeta(t *testing.T) {
	long := strings.Repeat("x", MaxKeyLength+1)
	deep := strings.Repeat(`{"a":`, MaxMetaDepth+2) + "1" + strings.Repeat("}", MaxMetaDepth+2)
	tests := []struct {
		in, want string
		code     errs.Code
		where    string // the error names this place
	}{
		{in: ``, want: `{}`},
		{in: ` {"b": 1.50, "a": [true, null, "x"]} `, want: `{"a":[true,null,"x"],"b":1.50}`},
		{in: `{"n": 12345678901234567890}`, want: `{"n":12345678901234567890}`},
		{in: `[]`, code: errs.Invalid, where: "meta"},
		{in: `"x"`, code: errs.Invalid, where: "meta"},
		{in: `null`, code: errs.Invalid, where: "meta"},
		{in: `{"a":1} {}`, code: errs.Invalid, where: "meta"},
		{in: `{"a":`, code: errs.Invalid},
		{in: `{"": 1}`, code: errs.Invalid, where: "meta"},
		{in: `{"camera": {"a.b": 1}}`, code: errs.Invalid, where: "meta.camera.a.b"},
		{in: `{"a\u0001": 1}`, code: errs.Invalid, where: "meta"},
		{in: `{"` + long + `": 1}`, code: errs.Invalid, where: "meta"},
		{in: `{"s": "a\u0000b"}`, code: errs.Invalid, where: "meta.s"},
		{in: `{"camera": {"model": "` + strings.Repeat("m", MaxStringValue+1) + `"}}`, code: errs.Invalid, where: "meta.camera.model"},
		{in: `{"n": 1e400}`, code: errs.Invalid, where: "meta.n"},
		{in: deep, code: errs.Invalid},
		{in: `{"a": [` + strings.Repeat("1,", MaxArrayLen) + `1]}`, code: errs.Invalid, where: "meta.a"},
		{in: `{"a": [[` + strings.Repeat("1,", 999) + `1], [` + strings.Repeat("1,", 999) + `1], [1]]}`, code: errs.Invalid, where: "meta"},
		{in: `{"x": "` + strings.Repeat("y", MaxMetaBytes) + `"}`, code: errs.TooLarge, where: "meta"},
	}
	for _, tt := range tests {
		got, err := ValidateMeta(json.RawMessage(tt.in))
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		if tt.code != "" {
			if errs.CodeOf(err) != tt.code {
				t.Errorf("ValidateMeta(%s) error %v, want %s", name, err, tt.code)
				continue
			}
			var e *errs.Error
			if tt.where != "" && (!asErr(err, &e) || e.Where != tt.where) {
				t.Errorf("ValidateMeta(%s) error %v: want it about %s", name, err, tt.where)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("ValidateMeta(%s) = %s, %v; want %s", name, got, err, tt.want)
		}
	}
}

func asErr(err error, e **errs.Error) bool {
	x, ok := err.(*errs.Error)
	*e = x
	return ok
}

func TestFlatten(t *testing.T) {
	kvs, err := Flatten(json.RawMessage(`{"tags": ["a", "b"], "camera": {"model": "X", "iso": 400},
"boxes": [{"label": "cat"}, {"label": "dog", "score": 0.5}], "ok": true, "none": null,
"shot_at": "2026-01-02T03:04:05.1234567+01:00", "day": "2026-01-01", "empty": [], "obj": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		s := kv.Key + "#" + itoa(kv.Pos) + "="
		switch kv.Kind {
		case query.String:
			s += `"` + kv.Str + `"`
			if kv.HasTime {
				s += "@" + kv.Time.Format("2006-01-02T15:04:05.999999999Z07:00")
			}
		case query.Number:
			s += "n" + ftoa(kv.Num)
		case query.Bool:
			if kv.Bool {
				s += "true"
			} else {
				s += "false"
			}
		case query.Null:
			s += "null"
		}
		got = append(got, s)
	}
	want := []string{
		`boxes.label#0="cat"`, `boxes.label#1="dog"`, `boxes.score#0=n0.5`,
		`camera.iso#0=n400`, `camera.model#0="X"`,
		`day#0="2026-01-01"@2026-01-01T00:00:00Z`,
		`none#0=null`, `ok#0=true`,
		`shot_at#0="2026-01-02T03:04:05.1234567+01:00"@2026-01-02T02:04:05.123456Z`,
		`tags#0="a"`, `tags#1="b"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Flatten:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(i int) string     { return ftoa(float64(i)) }
func ftoa(f float64) string { b, _ := json.Marshal(f); return string(b) }
func FuzzValidateMeta(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":"2026-01-01"}]}`, `{"a.b":1}`, `{"x":{"y":{"z":[null,true,1e5]}}}`, `[1]`, `{"s":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := ValidateMeta(in)
		if err != nil {
			if c := errs.CodeOf(err); c != errs.Invalid && c != errs.TooLarge {
				t.Fatalf("error code %s: %v", c, err)
			}
			return
		}
		// Canonical: validating the output gives it back unchanged.
		again, err := ValidateMeta(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("ValidateMeta(%s) = %s, %v; want it unchanged", out, again, err)
		}
		kvs, err := Flatten(out)
		if err != nil {
			t.Fatalf("Flatten of accepted %s: %v", out, err)
		}
		if len(kvs) > MaxValues {
			t.Fatalf("%d indexed values, limit %d", len(kvs), MaxValues)
		}
		for _, kv := range kvs {
			if kv.Key == "" || len(kv.Key) > MaxKeyPath || len(kv.Str) > MaxStringValue || strings.IndexByte(kv.Str, 0) >= 0 ||
				math.IsInf(kv.Num, 0) || math.IsNaN(kv.Num) {
				t.Fatalf("accepted a value the index cannot hold: %+v", kv)
			}
		}
	})
}
