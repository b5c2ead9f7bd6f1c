package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
)

// An exit by SIGKILL of an attempt whose OOM kill was recorded is
// reported OOM-killed; other events and exits pass unchanged.
func TestAmendOOM(t *testing.T) {
	dir := t.TempDir()
	d := &Driver{}
	body := func(exit v1.Exit) []byte {
		b, _ := json.Marshal(v1.AgentEventBatch{Events: []v1.AgentEvent{{Seq: 1, Type: v1.EventStarted}, {Seq: 2, Type: v1.EventExited, Exit: &exit}}})
		return b
	}
	if err := os.WriteFile(filepath.Join(dir, oomFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		exit v1.Exit
		oom  bool
	}{
		{v1.Exit{Code: 137, Signal: 9}, true},
		{v1.Exit{Code: 143, Signal: 15}, false},
		{v1.Exit{Code: 0}, false},
	} {
		in := body(c.exit)
		out := d.amendOOM(t.Context(), "a", dir, in)
		var b v1.AgentEventBatch
		if err := json.Unmarshal(out, &b); err != nil || len(b.Events) != 2 {
			t.Fatalf("amended batch %s: %v", out, err)
		}
		if got := b.Events[1].Exit.OOMKilled; got != c.oom {
			t.Errorf("exit %+v: OOMKilled %v, want %v", c.exit, got, c.oom)
		}
		if !c.oom && string(out) != string(in) {
			t.Errorf("a batch without change was rewritten")
		}
	}
}

func TestCheckStatic(t *testing.T) {
	if err := CheckStatic("/bin/ls"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("CheckStatic(/bin/ls): %v, want dynamically linked", err)
	}
	if err := CheckStatic(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("CheckStatic of a missing file: no error")
	}
}
