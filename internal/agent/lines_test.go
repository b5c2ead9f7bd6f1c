package agent

import (
	"strings"
	"testing"
)

func TestSplitLines(t *testing.T) {
	long := strings.Repeat("a", MaxLine+10)
	// A 3-byte character straddling the split point stays whole.
	straddle := strings.Repeat("b", MaxLine-1) + "€" + "c"
	in := "one\r\ntwo\n\n" + long + "\n" + straddle + "\nlast"
	var got []string
	splitLines(strings.NewReader(in), nil, func(s string) { got = append(got, s) })
	want := []string{"one", "two", "", strings.Repeat("a", MaxLine), "aaaaaaaaaa",
		strings.Repeat("b", MaxLine-1), "€c", "last"}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %.20q (len %d), want %.20q (len %d)", i, got[i], len(got[i]), want[i], len(want[i]))
		}
	}
}
