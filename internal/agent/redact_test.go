package agent

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	pem := "-----BEGIN KEY-----\n  c2VjcmV0LWtleS1ib2R5\n}\n-----END KEY-----\n"
	r := newRedactor([][]byte{[]byte("hunter2"), []byte("p@ss w/rd"), []byte(pem), []byte("abcXYZ"), []byte("XYZdef"), nil})
	for _, tt := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"token=hunter2.", "token=***."},
		{"hunter2hunter2 and hunter2", "*** and ***"},
		{"b64 " + base64.StdEncoding.EncodeToString([]byte("hunter2")), "b64 ***"},
		{"echoed " + base64.StdEncoding.EncodeToString([]byte("hunter2\n")), "echoed ***"},
		{"url ?p=" + url.QueryEscape("p@ss w/rd"), "url ?p=***"},
		// Overlapping values: their union is masked, no tail left.
		{"abcXYZdef!", "***!"},
		// A multi-line value, line by line (indentation aside); lines too
		// short to be secret stay.
		{"c2VjcmV0LWtleS1ib2R5", "***"},
		{"-----BEGIN KEY-----", "***"},
		{"}", "}"},
	} {
		if got := r.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if newRedactor(nil) != nil || newRedactor([][]byte{{}}) != nil {
		t.Error("a redactor of nothing is not nil")
	}
}

// Without secrets, and on lines without any, masking costs no allocation.
func TestRedactCostsNothingWithoutMatches(t *testing.T) {
	var none *redactor
	r := newRedactor([][]byte{[]byte("hunter2")})
	line := strings.Repeat("an ordinary log line ", 5)
	if n := testing.AllocsPerRun(100, func() { _ = none.redact(line) }); n != 0 {
		t.Errorf("nil redactor: %v allocations per line", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.redact(line) }); n != 0 {
		t.Errorf("a line without secrets: %v allocations", n)
	}
}

// A value the command writes in several pieces is one line to the agent.
func TestRedactValueSplitAcrossWrites(t *testing.T) {
	r := newRedactor([][]byte{[]byte("s3cr3t-value")})
	pr, pw := io.Pipe()
	go func() {
		for _, w := range []string{"token=s3c", "r3t-", "value", " done\nnext s3cr3t", "-value"} {
			_, _ = pw.Write([]byte(w))
		}
		pw.Close()
	}()
	var got []string
	splitLines(pr, r, func(s string) { got = append(got, s) })
	if strings.Join(got, "|") != "token=*** done|next ***" {
		t.Fatalf("lines %q", got)
	}
}

// A line longer than MaxLine is cut into pieces; wherever the value falls,
// the pieces put together are the whole line masked: no piece holds a
// part of it.
func TestRedactAcrossMaxLine(t *testing.T) {
	short := "s3cr3t-value-0123456789"
	long := strings.Repeat("K", MaxLine+5000) // longer than a piece
	for _, secret := range []string{short, long} {
		r := newRedactor([][]byte{[]byte(secret)})
		for _, at := range []int{0, MaxLine - len(secret) - 1, MaxLine - len(secret), MaxLine - len(secret)/2, MaxLine - 1, MaxLine, MaxLine + 1, 2*MaxLine - 7} {
			if at < 0 {
				continue
			}
			line := strings.Repeat("a", at) + secret + strings.Repeat("€", MaxLine/2) + "tail"
			var pieces []string
			splitLines(strings.NewReader(line+"\nnext\n"), r, func(s string) { pieces = append(pieces, s) })
			name := fmt.Sprintf("secret of %d bytes at %d", len(secret), at)
			if pieces[len(pieces)-1] != "next" {
				t.Fatalf("%s: last line %.20q", name, pieces[len(pieces)-1])
			}
			joined := strings.Join(pieces[:len(pieces)-1], "")
			if want := strings.Repeat("a", at) + Mask + strings.Repeat("€", MaxLine/2) + "tail"; joined != want {
				t.Fatalf("%s: pieces join to %d bytes, want %d", name, len(joined), len(want))
			}
			for i, p := range pieces {
				if len(p) > MaxLine+len(Mask) {
					t.Errorf("%s: piece %d is %d bytes", name, i, len(p))
				}
				if strings.Contains(p, "s3cr3t") || strings.Contains(p, "KKKK") || !isUTF8(p) {
					t.Errorf("%s: piece %d leaks or cuts a character: %.40q", name, i, p)
				}
			}
		}
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func BenchmarkRedactLine(b *testing.B) {
	line := "epoch 12 step 3400 loss=0.1234 acc=0.9876 lr=0.0003 elapsed=12.3s"
	for _, n := range []int{0, 1, 10} {
		var vals [][]byte
		for i := range n {
			vals = append(vals, []byte(fmt.Sprintf("secret-value-%d-abcdefgh", i)))
		}
		r := newRedactor(vals)
		b.Run(fmt.Sprintf("%d secrets", n), func(b *testing.B) {
			for b.Loop() {
				_ = r.redact(line)
			}
		})
	}
}
