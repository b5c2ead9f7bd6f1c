package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// Values at the edges of what a store may index by bucket or by order:
// zeros of both signs, neighbours of powers of two, the smallest and
// largest floats, times on both sides of 1970 and of bucket boundaries.
var (
	randNumbers = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 0.25, 3.75, -3.75, 2047.9999, 2048, 2048.0001, 4096, -4096,
		1e-300, -1e-300, 1e300, -1e300, 5e-324, 1e15, 123456.789, 7, 8, 9, 255, 256, 257}
	randTimes = []string{"1960-06-15", "1969-12-31T23:59:59Z", "1970-01-01", "1970-01-01T00:00:00.000001Z", "2025-12-31",
		"2026-01-05T10:00:00+09:00", "2026-01-05T01:00:00Z", "2026-01-05T01:11:35Z", "2026-01-05T01:11:36Z", "2100-01-01", "not a time"}
	randStrings = []string{"a", "ab", "abc", "b", "B", "", "ñ", "a b", "z"}
)

// testDatalakeRandom compares FindFiles and CountFiles with query.Match on
// random metadata and random queries drawn from those edge values (and
// values next to them): whatever a store indexes and however it plans,
// it must give Match's files.
func testDatalakeRandom(t *testing.T, s store.Store) {
	putChannel(t, s, "rand", "c")
	r := rand.New(rand.NewPCG(11, 12))
	var files []store.File
	for i := range 300 {
		raw, err := json.Marshal(randMeta(r))
		must(t, err)
		f, _, err := s.PutFile(ctx, store.File{Project: "rand", Channel: "c", Path: fmt.Sprintf("f%03d", i), Meta: raw})
		must(t, err)
		files = append(files, f)
	}
	for range 250 {
		src := randQuery(r)
		e, err := query.Parse(src)
		if err != nil {
			t.Fatalf("Parse(%s): %v", src, err)
		}
		var want []store.File
		for _, f := range files {
			if query.Match(e, fieldsOf(t, f)) {
				want = append(want, f)
			}
		}
		page, err := s.FindFiles(ctx, store.FileQuery{Project: "rand", Channel: "c", Where: e, Limit: 1000})
		if err != nil {
			t.Fatalf("FindFiles(%s): %v", src, err)
		}
		if got, w := paths(page.Files), paths(want); !slices.Equal(got, w) {
			t.Fatalf("FindFiles(%s):\n got  %d %v\n want %d %v", src, len(got), got, len(w), w)
		}
		for _, by := range []string{"", "s"} {
			checkCount(t, s, files, "rand", "c", src, e, by)
		}
	}
	verifyIndexes(t, s)
}

func randMeta(r *rand.Rand) map[string]any {
	m := map[string]any{}
	maybe := func(key string, v func() any) {
		switch r.IntN(4) {
		case 0: // missing
		case 1:
			m[key] = []any{v(), v()}
		default:
			m[key] = v()
		}
	}
	maybe("n", func() any { return randNumber(r) })
	maybe("s", func() any { return randStrings[r.IntN(len(randStrings))] })
	maybe("t", func() any { return randTimes[r.IntN(len(randTimes))] })
	maybe("b", func() any {
		if r.IntN(5) == 0 {
			return nil
		}
		return r.IntN(2) == 0
	})
	maybe("o", func() any { return map[string]any{"x": randNumber(r)} })
	return m
}

// randNumber is an edge value, or one a hair or an integer away from it.
func randNumber(r *rand.Rand) float64 {
	v := randNumbers[r.IntN(len(randNumbers))]
	switch r.IntN(4) {
	case 0:
		return math.Nextafter(v, math.Inf(1))
	case 1:
		return math.Nextafter(v, math.Inf(-1))
	case 2:
		return v + float64(r.IntN(5)-2)
	}
	return v
}

func randQuery(r *rand.Rand) string {
	q := randAtom(r)
	for range r.IntN(3) {
		op := " and "
		if r.IntN(3) == 0 {
			op = " or "
		}
		q = "(" + q + ")" + op + randAtom(r)
	}
	return q
}

func randAtom(r *rand.Rand) string {
	neg := ""
	if r.IntN(8) == 0 {
		neg = "not "
	}
	cmp := []string{"=", "!=", "<", "<=", ">", ">="}
	op := cmp[r.IntN(len(cmp))]
	switch r.IntN(7) {
	case 0, 1:
		key := []string{"n", "o.x"}[r.IntN(2)]
		if r.IntN(6) == 0 {
			return fmt.Sprintf("%s%s in [%s, %s]", neg, key, num(randNumber(r)), num(randNumber(r)))
		}
		return fmt.Sprintf("%s%s %s %s", neg, key, op, num(randNumber(r)))
	case 2:
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf("%ss startswith %q", neg, randStrings[r.IntN(len(randStrings))])
		case 1:
			return fmt.Sprintf("%ss in [%q, %q]", neg, randStrings[r.IntN(len(randStrings))], randStrings[r.IntN(len(randStrings))])
		}
		return fmt.Sprintf("%ss %s %q", neg, op, randStrings[r.IntN(len(randStrings))])
	case 3:
		tm := randTimes[r.IntN(len(randTimes)-1)] // not "not a time"
		if r.IntN(3) == 0 {
			return fmt.Sprintf("%st %s %q", neg, op, tm) // compared as a string
		}
		return fmt.Sprintf("%st %s %s", neg, op, tm)
	case 4:
		v := []string{"true", "false", "null"}[r.IntN(3)]
		return fmt.Sprintf("%sb = %s", neg, v)
	case 5:
		return fmt.Sprintf("%s%s exists", neg, []string{"n", "s", "t", "b", "o", "o.x", "nope"}[r.IntN(7)])
	}
	return fmt.Sprintf("%ss contains %q", neg, strings.TrimSpace(randStrings[r.IntN(len(randStrings))]))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
