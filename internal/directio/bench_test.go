package directio

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkWriter: KOYA_BENCH_MIB (default 256) of MiB written through a
// Writer in 64 MiB files, each fsynced, as a datalake upload stores its
// parts; the disk's side of a push without hashing or encryption.
func BenchmarkWriter(b *testing.B) {
	size := int64(256) << 20
	if v, err := strconv.ParseInt(os.Getenv("KOYA_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	const part = 64 << 20
	piece := make([]byte, 1<<20)
	for i := range piece {
		piece[i] = byte(i * 7)
	}
	dir := b.TempDir()
	b.SetBytes(size)
	for b.Loop() {
		for off := int64(0); off < size; off += part {
			p := filepath.Join(dir, "part"+strconv.FormatInt(off/part, 10))
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			w := NewWriter(f)
			for n := int64(0); n < min(part, size-off); n += int64(len(piece)) {
				if _, err := w.Write(piece); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Finish(); err != nil {
				b.Fatal(err)
			}
			w.Release()
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
			_ = os.Remove(p)
		}
	}
}
