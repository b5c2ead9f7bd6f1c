package pipecopy_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	"github.com/koya-dev/koya/internal/pipecopy"
)

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

// TestCopy: every size around the block size arrives whole, in order,
// and hashed, whatever sizes the source reads in.
func TestCopy(t *testing.T) {
	bs, fs := pipecopy.BlockSize, pipecopy.FirstBlockSize
	for _, n := range []int{0, 1, fs - 1, fs, fs + 1, 5*fs - 1, 5 * fs, 5*fs + 1, bs - 1, bs, bs + 1, pipecopy.Depth*bs + 3, 9*bs + bs/2} {
		for name, src := range map[string]func([]byte) io.Reader{
			"whole": func(b []byte) io.Reader { return bytes.NewReader(b) },
			"half":  func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
			"one":   func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		} {
			if name == "one" && n > 3*bs {
				continue // slow
			}
			in := data(n)
			var out bytes.Buffer
			h := sha256.New()
			got, err := pipecopy.Copy(&out, src(in), h)
			if err != nil || got != int64(n) || !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("%d bytes, %s reads: copied %d, %v; equal %v", n, name, got, err, bytes.Equal(out.Bytes(), in))
			}
			if want := sha256.Sum256(in); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("%d bytes, %s reads: wrong hash", n, name)
			}
		}
	}
	if n, err := pipecopy.Copy(io.Discard, bytes.NewReader(data(100)), nil); n != 100 || err != nil {
		t.Fatalf("no hash: %d, %v", n, err)
	}
}

// sizes records the length of each write.
type sizes []int

func (s *sizes) Write(p []byte) (int, error) { *s = append(*s, len(p)); return len(p), nil }

// TestBlocksGrow: a copy starts with a small block and moves to larger
// ones, up to BlockSize, as blocks come back full; a small copy never
// takes a large block.
func TestBlocksGrow(t *testing.T) {
	bs, fs := pipecopy.BlockSize, pipecopy.FirstBlockSize
	var got sizes
	n := 3*bs + 4*fs + 5*fs + 100
	if _, err := pipecopy.Copy(&got, bytes.NewReader(data(n)), nil); err != nil {
		t.Fatal(err)
	}
	want := sizes{fs, 4 * fs, 16 * fs} // then BlockSize each
	left := n - 21*fs
	for left > bs {
		want = append(want, bs)
		left -= bs
	}
	want = append(want, left)
	if !slices.Equal(got, want) {
		t.Fatalf("writes of %v, want %v", got, want)
	}

	// Pools are emptied by two collections: a small copy now allocates
	// its block, and it must be a small one.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := pipecopy.Copy(io.Discard, bytes.NewReader(data(1000)), sha256.New()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(2*fs) {
		t.Fatalf("a copy of 1000 bytes allocated %d bytes", grew)
	}
}

var errRead, errWrite = errors.New("read failed"), errors.New("write failed")

// failWriter fails once it has taken limit bytes.
type failWriter struct{ n, limit int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		k := w.limit - w.n
		w.n = w.limit
		return k, errWrite
	}
	w.n += len(p)
	return len(p), nil
}

// endless reads forever, counting its reads.
type endless struct{ reads int }

func (e *endless) Read(p []byte) (int, error) { e.reads++; return len(p), nil }

// TestErrors: the source's error and the destination's come back as they
// are; a failed write stops the reader within a few blocks, and no
// goroutine outlives Copy.
func TestErrors(t *testing.T) {
	before := runtime.NumGoroutine()
	bs := pipecopy.BlockSize
	src := io.MultiReader(bytes.NewReader(data(bs+10)), iotest.ErrReader(errRead))
	var out bytes.Buffer
	n, err := pipecopy.Copy(&out, src, sha256.New())
	if !errors.Is(err, errRead) || n != int64(bs+10) || out.Len() != bs+10 {
		t.Fatalf("read error: %d, %v", n, err)
	}

	// A cut HTTP body fails with io.ErrUnexpectedEOF: a failure, not the end.
	src = io.MultiReader(bytes.NewReader(data(bs+10)), iotest.ErrReader(io.ErrUnexpectedEOF))
	if n, err := pipecopy.Copy(io.Discard, src, nil); !errors.Is(err, io.ErrUnexpectedEOF) || n != int64(bs+10) {
		t.Fatalf("source failing with io.ErrUnexpectedEOF: %d, %v", n, err)
	}

	e := &endless{}
	n, err = pipecopy.Copy(&failWriter{limit: 2*bs + 5}, e, sha256.New())
	if !errors.Is(err, errWrite) || n != int64(2*bs+5) {
		t.Fatalf("write error: %d, %v", n, err)
	}
	if e.reads > 3*pipecopy.Depth {
		t.Fatalf("the reader went on for %d reads after the writer failed", e.reads)
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines left running", g-before)
	}
}
