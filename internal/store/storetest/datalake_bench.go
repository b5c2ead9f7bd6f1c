package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/store"
)

// BenchPutFile writes b.N new files into one channel, each with metadata
// as LakeMeta makes it: the cost of a file write with everything derived
// from its metadata (side table, key counts, bitmaps, the outbox event).
func BenchPutFile(b *testing.B, s store.Store) {
	putChannel(b, s, "bench", "c")
	r := rand.New(rand.NewPCG(1, 2))
	metas := make([][]byte, 1000)
	for i := range metas {
		metas[i], _ = json.Marshal(LakeMeta(r))
	}
	b.ResetTimer()
	for i := range b.N {
		_, _, err := s.PutFile(ctx, store.File{Project: "bench", Channel: "c", Path: fmt.Sprintf("f%07d", i),
			ContentType: "image/png", Size: 1000, Digest: "sha256:x", Ref: "r", Meta: metas[i%len(metas)]})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// LakeMeta is a file's metadata in the datalake benchmarks: 5-10 keys, a
// label skewed over 50 values (a few common, most rare), two numbers, a
// two-tag array, a time, sometimes a nested key, a boolean and a score,
// and 0-3 of 200 rare keys (the free growth a schema never sees).
func LakeMeta(r *rand.Rand) map[string]any {
	m := map[string]any{
		"label":   fmt.Sprintf("l%d", int(50*r.Float64()*r.Float64())),
		"width":   100 + r.IntN(3900),
		"height":  100 + r.IntN(3900),
		"tags":    []any{fmt.Sprintf("t%d", r.IntN(30)), fmt.Sprintf("t%d", r.IntN(30))},
		"shot_at": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24*60)) * time.Minute).Format(time.RFC3339),
	}
	if r.IntN(2) == 0 {
		m["camera"] = map[string]any{"model": fmt.Sprintf("m%d", r.IntN(20))}
	}
	if r.IntN(3) > 0 {
		m["ok"] = r.IntN(2) == 0
	}
	if r.IntN(2) == 0 {
		m["score"] = r.Float64()
	}
	for range r.IntN(4) {
		m[fmt.Sprintf("x%d", r.IntN(200))] = r.IntN(10)
	}
	return m
}
