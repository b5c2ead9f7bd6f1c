package imagecfg

import "testing"

func TestWorkDir(t *testing.T) {
	for _, c := range []struct {
		step, image, wd string
		readonly        bool
	}{
		{"", "", "work", true},
		{"", "/", "work", true},
		{"", "/app", "/app", false},
		{"sub", "/app", "sub", true},
		{"/koya/run/x/", "", "/koya/run/x", true},
		{"/tmp/a", "", "/tmp/a", true},
		{"/tmpx", "", "/tmpx", false},
		{"/srv", "/app", "/srv", false},
	} {
		wd, ro := WorkDir(c.step, c.image, "/koya/run")
		if wd != c.wd || ro != c.readonly {
			t.Errorf("WorkDir(%q, %q) = %q, %v; want %q, %v", c.step, c.image, wd, ro, c.wd, c.readonly)
		}
	}
}

func TestNonRootUser(t *testing.T) {
	for _, c := range []struct {
		user     string
		uid, gid int64
		ok       bool
	}{
		{"1000", 1000, 1000, true},
		{"1000:50", 1000, 50, true},
		{"0", 0, 0, false},
		{"0:1000", 0, 0, false},
		{"app", 0, 0, false},
		{"", 0, 0, false},
		{"-1", 0, 0, false},
		{"1000:x", 0, 0, false},
	} {
		uid, gid, ok := NonRootUser(c.user)
		if uid != c.uid || gid != c.gid || ok != c.ok {
			t.Errorf("NonRootUser(%q) = %d, %d, %v; want %d, %d, %v", c.user, uid, gid, ok, c.uid, c.gid, c.ok)
		}
	}
}
