package expr

import (
	"testing"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// BenchmarkRenderForeach renders one foreach step's command for 10,000
// items, as the engine does when it expands the step: the templates are
// compiled once (the "compiles" metric counts them over the whole
// benchmark: 3, one per expression), then only evaluated.
func BenchmarkRenderForeach(b *testing.B) {
	args := []string{"python3", "train.py", "--C", "{{ item.C }}", "--seed", "{{ params.seed }}", "--data", "{{ inputs.data }}"}
	v := vars
	items := make([]any, 10_000)
	for i := range items {
		items[i] = map[string]any{"C": float64(i) / 10}
	}
	before := lang.Compiles()
	b.ResetTimer()
	for b.Loop() {
		for _, item := range items {
			v.Item = item
			for _, a := range args {
				if _, err := Render(a, v); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(lang.Compiles()-before), "compiles")
}

func BenchmarkBool(b *testing.B) {
	v := Vars{Params: vars.Params}
	for b.Loop() {
		if _, err := Bool("params.seed > 40 && params.metric in ['f1', 'auc']", v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestForeachCompilesOnce is the benchmark's promise as a test.
func TestForeachCompilesOnce(t *testing.T) {
	before := lang.Compiles()
	v := vars
	for i := 0; i < 10_000; i++ {
		v.Item = map[string]any{"C": i, "tag": "foreach-once"}
		if _, err := Render("--C={{ item.C }} {{ item.tag }}", v); err != nil {
			t.Fatal(err)
		}
	}
	if n := lang.Compiles() - before; n != 2 {
		t.Errorf("compiled %d times for 10,000 items, want 2 (one per expression)", n)
	}
}
