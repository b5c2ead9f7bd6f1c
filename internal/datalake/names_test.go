package datalake

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
)

func TestDataValidatePath(t *testing.T) {
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		p    string
		want string // "" accepted, else a part of the message
	}{
		{"img001.jpg", ""},
		{"cam/2026-01-01/img 001.jpg", ""},
		{"ünïcödé/日本.txt", ""},
		{"...", ""}, // a name, not a step up
		{"", "required"},
		{"../x", `".." segment`},
		{"a/../../b", `".." segment`},
		{"a/..", `".." segment`},
		{"./a", `"." segment`},
		{"/etc/passwd", "absolute"},
		{"a//b", "empty segment"},
		{"a/", "empty segment"},
		{`a\b`, "backslash"},
		{`..\..\x`, "backslash"},
		{"a\x00b", "control character U+0000"},
		{"a\nb", "control character U+000A"},
		{"a\u0085b", "control character"},
		{"a\xffb", "UTF-8"},
		{long, "longer than 255"},
		{strings.Repeat("abcdefg/", 130), "longer than 1024"},
	} {
		err := ValidatePath(tc.p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.p, err)
		case tc.want != "" && err == nil:
			t.Errorf("%q accepted", tc.p)
		case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !errs.Is(err, errs.Invalid)):
			t.Errorf("%q: %v (%s), want invalid mentioning %q", tc.p, err, errs.CodeOf(err), tc.want)
		}
		var e *errs.Error
		if err != nil && (!errorsAs(err, &e) || e.Where != "path") {
			t.Errorf("%q: error does not name the field path: %#v", tc.p, err)
		}
	}
}

func errorsAs(err error, e **errs.Error) bool {
	x, ok := err.(*errs.Error)
	*e = x
	return ok
}

func TestDataValidateChannel(t *testing.T) {
	for _, ok := range []string{"raw", "cam-01", "a.b_c", "0"} {
		if err := ValidateChannel(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Raw", "-a", "a/b", "..", ".a", strings.Repeat("a", 64), "a b"} {
		if err := ValidateChannel(bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("%q: %v, want invalid", bad, err)
		}
	}
}

// FuzzDataValidatePath: never panics, and what it accepts is clean: its own
// path.Clean, relative, without "..", valid UTF-8, and it stays inside any
// directory it is joined to.
func FuzzDataValidatePath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/etc/passwd", "a/../../b", "a\x00", `a\b`, "a//b", ".", "…/x", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("accepted unclean %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("accepted %q with segment %q", p, seg)
			}
		}
		if j := path.Join("/root/dest", p); !strings.HasPrefix(j, "/root/dest/") {
			t.Fatalf("%q escapes: %s", p, j)
		}
	})
}
