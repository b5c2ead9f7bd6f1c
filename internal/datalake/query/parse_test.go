package query

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
)

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{`label = "cat"`, `label = "cat"`},
		{`label="cat" AND width>=640`, `label = "cat" and width >= 640`},
		{`a = 1 or b = 2 and c = 3`, `a = 1 or b = 2 and c = 3`},
		{`(a = 1 or b = 2) and c = 3`, `(a = 1 or b = 2) and c = 3`},
		{`a = 1 and (b = 2 and c = 3)`, `a = 1 and (b = 2 and c = 3)`},
		{`not (a = 1 or b = 2)`, `not (a = 1 or b = 2)`},
		{`not not a exists`, `not not a exists`},
		{`tags contains "night"`, `tags contains "night"`},
		{`x in [1, "a", true, null, 2026-01-01]`, `x in [1, "a", true, null, 2026-01-01]`},
		{`created > 2026-01-01`, `created > 2026-01-01`},
		{`shot_at >= 2026-01-02T03:04:05.5+01:00`, `shot_at >= 2026-01-02T02:04:05.5Z`},
		{`meta.size > 3 and size < 1e6`, `meta.size > 3 and size < 1e+06`},
		{`meta.meta = 1`, `meta.meta = 1`},
		{"`and`.`my key` = -1.5", "`and`.`my key` = -1.5"},
		{"`size` = 1", "meta.size = 1"},
		{`camera.model startswith "Nik"`, `camera.model startswith "Nik"`},
		{`path startswith "a/" and content_type != "image/png"`, `path startswith "a/" and content_type != "image/png"`},
		{`ключ = "значение"`, `ключ = "значение"`},
		{`shot-at exists`, `shot-at exists`},
		{"a = \"q\\\"uote\\n\"", "a = \"q\\\"uote\\n\""},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	e, err := Parse("meta.camera.model = 1 and size = 2 and `size`.x = 3 and `meta`.x = 4")
	if err != nil {
		t.Fatal(err)
	}
	var got []Field
	for x := e; x != nil; {
		a, ok := x.(*And)
		if !ok {
			got = append(got, x.(*Compare).Field)
			break
		}
		got = append(got, a.R.(*Compare).Field)
		x = a.L
	}
	want := []Field{{Name: "meta.x"}, {Name: "size.x"}, {Name: "size", Builtin: true}, {Name: "camera.model"}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fields = %+v, want %+v", got, want)
		}
	}
	if v := e.(*And).L.(*And).L.(*And).L.(*Compare).Value; v.Kind != Number || v.Num != 1 {
		t.Fatalf("value = %+v", v)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`width >= `, `query:1:10: expected a value after >=, found end of query`},
		{`label = cat`, `query:1:9: expected a value after =, found "cat" (strings are written in double quotes)`},
		{`a = 1 b = 2`, `query:1:7: expected and, or or the end of the query, found "b"`},
		{"a = 1 and\n  (b = 2", `query:2:9: expected ) to close the ( at query:2:3, found end of query`},
		{`a ~ 1`, `query:1:3: unexpected '~'`},
		{`a == 1`, `query:1:4: expected a value after =, found "="`},
		{`size = "big"`, `query:1:6: size is a number; "big" is a string (for a metadata key named size, write meta.size)`},
		{`created > "2026"`, `query:1:9: created is a time; "2026" is a string (for a metadata key named created, write meta.created)`},
		{`path exists`, `query:1:6: path always exists (for a metadata key named path, write meta.path)`},
		{`ok < true`, `query:1:4: < cannot compare with true`},
		{`x startswith 1`, `query:1:3: startswith takes a string, not 1`},
		{`x = 2026-13-01`, `query:1:5: 2026-13-01 is not a date (2026-01-01) nor an RFC 3339 time (2026-01-01T10:00:00Z)`},
		{`x = 1e999`, `query:1:5: 1e999 is not a number`},
		{`and = 1`, "query:1:1: expected a field name, found \"and\" (a key spelled like a keyword is written `and`)"},
		{`x in [1, 2`, `query:1:11: expected , or ] in the list, found end of query`},
		{`x = "abc`, `query:1:5: unterminated string`},
		{`a.`, `query:1:3: expected a key after the dot, found end of query`},
		{`x in 1`, `query:1:6: expected [ after in, found "1"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || err.Error() != tt.want || errs.CodeOf(err) != errs.Invalid {
			t.Errorf("Parse(%q) error\n  %v\nwant\n  %s", tt.in, err, tt.want)
		}
	}
	if e, err := Parse("  "); e != nil || err != nil {
		t.Errorf("Parse of blanks = %v, %v; want nil, nil", e, err)
	}
	if _, err := Parse(strings.Repeat("(", 200) + "a = 1" + strings.Repeat(")", 200)); err == nil {
		t.Error("Parse of 200 nested parentheses succeeded")
	}
}

func TestParseSort(t *testing.T) {
	s, err := ParseSort("created desc, label, meta.size ASC")
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || !s[0].Desc || !s[0].Field.Builtin || s[1].Field.Name != "label" || s[1].Desc || s[2].Field != (Field{Name: "size"}) {
		t.Fatalf("ParseSort = %+v", s)
	}
	for _, bad := range []string{"created desc,", "a b", ", a"} {
		if _, err := ParseSort(bad); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("ParseSort(%q) = %v, want invalid", bad, err)
		}
	}
	if f, err := ParseField("meta.content_type"); err != nil || f != (Field{Name: "content_type"}) {
		t.Errorf("ParseField = %+v, %v", f, err)
	}
}

func TestMatch(t *testing.T) {
	var meta map[string]any
	if err := json.Unmarshal([]byte(`{"label":"black cat","tags":["night","cat"],"width":640,"ok":true,"none":null,
"camera":{"model":"Nikon Z6","iso":[100,400]},"shot_at":"2026-02-01T10:00:00Z","day":"2025-12-31","n":"640"}`), &meta); err != nil {
		t.Fatal(err)
	}
	f := Fields{Path: "a/b.png", Size: 2048, ContentType: "image/png", Digest: "sha256:x",
		Created: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Updated: time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC), Meta: meta}
	tests := []struct {
		q    string
		want bool
	}{
		{`label = "black cat"`, true},
		{`label = "cat"`, false},
		{`label contains "cat"`, true},
		{`tags contains "cat"`, true},
		{`tags = "cat"`, true},
		{`tags != "cat"`, false},
		{`tags != "dog"`, true},
		{`missing != 1`, true},
		{`not missing = 1`, true},
		{`width >= 640`, true},
		{`width > 640`, false},
		{`n >= 640`, false}, // a string is not a number
		{`n = "640"`, true},
		{`width = "640"`, false},
		{`ok = true`, true},
		{`ok = false`, false},
		{`ok = 1`, false},
		{`none = null`, true},
		{`label = null`, false},
		{`camera exists`, true},
		{`camera.model startswith "Nik"`, true},
		{`camera.iso = 400`, true},
		{`camera.iso > 100 and camera.iso < 400`, true}, // each predicate finds its own element
		{`camera.iso in [200, 400]`, true},
		{`shot_at > 2026-01-01`, true},
		{`shot_at < 2026-02-01T10:00:00.000001Z`, true},
		{`day < 2026-01-01`, true},
		{`day = "2025-12-31"`, true},
		{`label > 2026-01-01`, false},
		{`path startswith "a/" and size > 2000 and content_type = "image/png"`, true},
		{`created > 2026-01-05 or updated = 2026-01-06`, true},
		{`created > 2026-01-05`, false},
		{`digest contains "x"`, true},
		{`size in [1, 2048]`, true},
		{`none exists and not gone exists`, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.q, err)
		}
		if got := Match(e, f); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if !Match(nil, Fields{}) {
		t.Error("Match(nil) = false")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`label = "cat" and width >= 640`, `not (a in [1, "x", 2026-01-01]) or b exists`,
		"`k`.x startswith \"p\"", `created > 2026-01-01T10:00:00+02:00`, `meta.size != -1e-3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("Parse(%q): error %v is not invalid", src, err)
			}
			return
		}
		if e == nil {
			return
		}
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", src, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("Parse(%q) = %s, re-parsed as %s", src, s, s2)
		}
		Match(e, Fields{Meta: map[string]any{"a": []any{"x", 1.0, true, nil}}})
	})
}
