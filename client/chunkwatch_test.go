package client

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestFileChunkWatch: the progress of a chunk sent by sendfile is read
// from its descriptor's offset, counted from the chunk's start and
// capped at its end, and nothing is reported after stop.
func TestFileChunkWatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fc := openChunk(f, 100, 500)
	if fc == nil {
		t.Fatal("a local file gives a file chunk")
	}
	defer fc.Close()
	var got atomic.Int64
	stop := fc.watch(100, time.Millisecond, func(n int64) { got.Add(n) })
	wait := func(want int64) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); got.Load() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("progress %d, want %d", got.Load(), want)
			}
		}
	}
	if _, err := fc.f.Seek(300, io.SeekStart); err != nil { // as sendfile would
		t.Fatal(err)
	}
	wait(200)
	if _, err := fc.f.Seek(900, io.SeekStart); err != nil { // past the chunk
		t.Fatal(err)
	}
	wait(500)
	stop()
	if _, err := fc.f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if got.Load() != 500 {
		t.Fatalf("progress after stop: %d", got.Load())
	}
}
