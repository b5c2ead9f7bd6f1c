package client

import "testing"

// TestChunkSizeFor: the asked size while a file takes at most 1,000
// chunks; past that, whole MiBs that keep it to 1,000.
func TestChunkSizeFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ size, want, got int64 }{
		{0, 0, DefaultChunkSize},
		{1 << 30, 0, DefaultChunkSize},
		{1000 * DefaultChunkSize, 0, DefaultChunkSize},
		{1000*DefaultChunkSize + 1, 0, 17 * mib},
		{1 << 40, 0, 1049 * mib},
		{1 << 30, 4 * mib, 4 * mib},
		{1 << 40, 4 * mib, 1049 * mib},
	} {
		got := ChunkSizeFor(tc.size, tc.want)
		if got != tc.got {
			t.Errorf("ChunkSizeFor(%d, %d) = %d, want %d", tc.size, tc.want, got, tc.got)
		}
		if chunks := (tc.size + got - 1) / got; chunks > maxChunks {
			t.Errorf("ChunkSizeFor(%d, %d): %d chunks", tc.size, tc.want, chunks)
		}
	}
}
