package directio

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestDirectReader: a file read a block ahead, with direct I/O and
// through the page cache, gives exactly its bytes and then io.EOF,
// whatever the sizes of the reads; closed early, it stops.
func TestDirectReader(t *testing.T) {
	data := make([]byte, 2*Block+Align+123)
	_, _ = rand.Read(data)
	dir := t.TempDir()
	for _, size := range []int{0, 1, Align, Block, Block + 1, len(data)} {
		p := filepath.Join(dir, "obj")
		if err := os.WriteFile(p, data[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, piece := range []int{1000, 1 << 20, 3 * Block} {
			for _, direct := range []bool{true, false} {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				var d *Reader
				if direct {
					d = NewReader(f)
					if runtime.GOOS == "linux" && !d.direct {
						t.Fatalf("no O_DIRECT on %s", p)
					}
				} else {
					d = &Reader{f: f, bufs: [2]*[]byte{blockPool.Get().(*[]byte), blockPool.Get().(*[]byte)}}
					d.readAhead()
				}
				var got []byte
				buf := make([]byte, piece)
				for {
					n, err := d.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("size %d: %v", size, err)
					}
				}
				if n, err := d.Read(buf); n != 0 || err != io.EOF {
					t.Fatalf("size %d: a read after the end: %d, %v", size, n, err)
				}
				if !bytes.Equal(got, data[:size]) {
					t.Fatalf("size %d in reads of %d (direct %v): %d bytes, not the file's", size, piece, direct, len(got))
				}
				_ = d.Close()
				_ = f.Close()
			}
		}
	}
	// Closed after one read, with the next block being read.
	f, err := os.Open(filepath.Join(dir, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := NewReader(f)
	if _, err := d.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(make([]byte, 10)); err == nil {
		t.Fatal("a read after Close succeeded")
	}
}
