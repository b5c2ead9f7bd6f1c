package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The bar counts bytes as they are written through it; elsewhere than a
// terminal each file gets one line.
func TestPullProgress(t *testing.T) {
	var live bytes.Buffer
	p := newPushProgress(&live, true, 2, 4096)
	p.verb = "pulled"
	_, _ = p.Write(make([]byte, 1024))
	p.doneFile("raw", "a.bin", "out/a.bin", 1024, nil)
	p.stop()
	if out := live.String(); !strings.Contains(out, "[======") || !strings.Contains(out, " 25%") || !strings.Contains(out, "1/2 files") {
		t.Errorf("live bar: %q", out)
	}
	var lines bytes.Buffer
	p = newPushProgress(&lines, false, 1, 0)
	p.verb = "pulled"
	p.doneFile("raw", "a.bin", "out/a.bin", 1024, nil)
	p.stop()
	if got := lines.String(); got != "pulled raw/a.bin to out/a.bin (1.0 KiB)\n" {
		t.Errorf("line: %q", got)
	}
}
