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

// TestDirectWriter: whatever the sizes of the writes and of the file,
// the file holds exactly the bytes written, with direct I/O and through
// the page cache (the fallback); on Linux, a file on the test's disk is
// written with O_DIRECT.
func TestDirectWriter(t *testing.T) {
	data := make([]byte, 2*Block+Align+123)
	_, _ = rand.Read(data)
	for _, size := range []int{0, 1, Align - 1, Align, Block - 1, Block, Block + 1, len(data)} {
		for _, piece := range []int{1000, 512 << 10, Block + 7} {
			for _, direct := range []bool{true, false} {
				if size < 2*Align && piece != 1000 {
					continue
				}
				p := filepath.Join(t.TempDir(), "obj")
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				d := NewWriter(f)
				if !direct {
					d.buffered()
				} else if runtime.GOOS == "linux" && !d.direct {
					t.Fatalf("no O_DIRECT on %s", p)
				}
				for b := data[:size]; len(b) > 0; {
					k := min(piece, len(b))
					if n, err := d.Write(b[:k]); err != nil || n != k {
						t.Fatalf("write %d: %d, %v", k, n, err)
					}
					b = b[k:]
				}
				if err := d.Finish(); err != nil {
					t.Fatal(err)
				}
				d.Release()
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data[:size]) {
					t.Fatalf("size %d in writes of %d (direct %v): the file holds %d bytes, not the ones written", size, piece, direct, len(got))
				}
			}
		}
	}
}

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
