package keys_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// segments are the segment sizes of streaming keys koya has made: today's
// and the one before, whose streams must still read.
var segments = []int{keys.Segment1MiB, keys.Segment4KiB}

func TestStreamRoundTrip(t *testing.T) {
	for _, seg := range segments {
		r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{StreamSegment: seg})
		for _, size := range []int{0, 1, seg - 57, seg - 56, seg - 55, seg, seg + 1, 2*seg + 3} {
			pt := pattern(size)
			var buf bytes.Buffer
			w, err := r.NewEncryptingWriter(ctx, "p", "artifact", "a", &buf)
			if err != nil {
				t.Fatal(err)
			}
			// Odd write sizes cross segment boundaries everywhere.
			for rest := pt; len(rest) > 0; {
				n := min(len(rest), 1000)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ct := buf.Bytes()
			if size > 64 && bytes.Contains(ct, pt[:64]) {
				t.Fatalf("segment %d, size %d: the stream contains plaintext", seg, size)
			}
			dr, err := r.NewDecryptingReader(ctx, "p", "artifact", "a", iotest.HalfReader(bytes.NewReader(ct)))
			if err != nil {
				t.Fatalf("segment %d, size %d: %v", seg, size, err)
			}
			got, err := io.ReadAll(dr)
			if err != nil {
				t.Fatalf("segment %d, size %d: %v", seg, size, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("segment %d, size %d: read %d bytes that differ from those written", seg, size, len(got))
			}
		}
	}
}

// TestStreamWrites: the destination sees a write per segment of 1 MiB
// (after koya's 5-byte prefix and tink's 40-byte header), and writes of
// 256 KiB for keys of 4 KiB segments: never a system call per few KiB.
func TestStreamWrites(t *testing.T) {
	seg := keys.Segment1MiB
	// 3 segments hold 3*seg-40-3*16 bytes, the last one the other 188
	// and a tag.
	sizes := streamWrites(t, keys.Segment1MiB, 3*seg+100)
	if want := []int{5, 40, seg - 40, seg, seg, 188 + 16}; !slices.Equal(sizes, want) {
		t.Fatalf("1 MiB segments: writes of %v bytes, want %v", sizes, want)
	}
	sizes = streamWrites(t, keys.Segment4KiB, 600<<10)
	if len(sizes) != 3 || sizes[0] != 256<<10 || sizes[1] != 256<<10 {
		t.Fatalf("4 KiB segments: writes of %v bytes, want two of 256 KiB and the rest", sizes)
	}
}

// streamWrites encrypts n bytes with a key of segments of seg bytes, and
// returns the sizes of the writes the destination saw.
func streamWrites(t *testing.T, seg, n int) []int {
	t.Helper()
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{StreamSegment: seg})
	var rec writeRecorder
	w, err := r.NewEncryptingWriter(ctx, "p", "artifact", "a", &rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(&patternReader{}, int64(n))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.sizes
}

type writeRecorder struct {
	sizes []int
	total int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	w.total += len(p)
	return len(p), nil
}

// TestStreamTampered: every change to a stream fails a read, with
// errs.Forbidden, before the stream reads as complete.
func TestStreamTampered(t *testing.T) {
	for _, seg := range segments {
		r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{StreamSegment: seg})
		pt := pattern(2*seg + seg/2) // three segments
		ct := encryptStream(t, r, "p", "log", "run-1", pt)
		cases := map[string][]byte{
			"empty":                 {},
			"header only":           ct[:5],
			"truncated by one byte": ct[:len(ct)-1],
			"last segment dropped":  ct[:5+2*seg],
			"one byte appended":     append(bytes.Clone(ct), 0),
			"a segment appended":    append(bytes.Clone(ct), ct[len(ct)-200:]...),
			"AEAD ciphertext":       encrypt(t, r, "p", "log", "run-1", pt),
		}
		for _, i := range []int{0, 1, 4, 5, 20, 100, seg + 100, len(ct) / 2, len(ct) - 1} {
			c := bytes.Clone(ct)
			c[i] ^= 0x01
			cases[fmt.Sprintf("byte %d flipped", i)] = c
		}
		for name, c := range cases {
			_, err := decryptStream(r, "p", "log", "run-1", c)
			wantCode(t, err, errs.Forbidden, fmt.Sprintf("segment %d: %s", seg, name))
		}
		for _, n := range [][3]string{{"q", "log", "run-1"}, {"p", "artifact", "run-1"}, {"p", "log", "run-2"}} {
			encrypt(t, r, n[0], "k", "o", nil) // the other project has keys
			_, err := decryptStream(r, n[0], n[1], n[2], ct)
			wantCode(t, err, errs.Forbidden, fmt.Sprintf("segment %d: stream read as %v", seg, n))
		}
		mustDecryptStream(t, r, "p", "log", "run-1", ct, pt)
	}
}

// TestStreamSourceError: a failing source is reported as itself, not as
// tampering.
func TestStreamSourceError(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	ct := encryptStream(t, r, "p", "log", "run-1", pattern(20000))
	boom := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(ct[:9000]), iotest.ErrReader(boom))
	dr, err := r.NewDecryptingReader(ctx, "p", "log", "run-1", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(dr); !errors.Is(err, boom) {
		t.Fatalf("read error %v, want the source's", err)
	}
	if _, err := r.NewDecryptingReader(ctx, "p", "log", "run-1", iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("header read error %v, want the source's", err)
	}
}

// TestStreamMemoryFlat: 64 MiB go through encryption and decryption while
// the heap stays within a few MiB: nothing buffers a whole object.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB stream")
	}
	const size = 64 << 20
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{})
	encrypt(t, r, "p", "k", "o", nil) // keys exist before measuring

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}

	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		w, err := r.NewEncryptingWriter(ctx, "p", "artifact", "big", pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err = io.Copy(w, io.TeeReader(io.LimitReader(&patternReader{}, size), want))
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	dr, err := r.NewDecryptingReader(ctx, "p", "artifact", "big", pr)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, err := dr.Read(buf)
		got.Write(buf[:m])
		n += int64(m)
		if n%(4<<20) < int64(m) {
			sample()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sample()
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read %d bytes, want %d identical to those written", n, size)
	}
	if grew := int64(peak) - int64(base); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB streaming 64 MiB; something buffers the object", grew>>20)
	}
	t.Logf("heap in use grew by at most %d KiB", (int64(peak)-int64(base))>>10)
}

// pattern is size bytes that differ from segment to segment.
func pattern(size int) []byte {
	b := make([]byte, size)
	(&patternReader{}).Read(b)
	return b
}

// patternReader generates bytes without end and without memory.
type patternReader struct{ i uint64 }

func (p *patternReader) Read(b []byte) (int, error) {
	for j := range b {
		b[j] = byte(p.i*2654435761>>13) ^ byte(p.i>>12)
		p.i++
	}
	return len(b), nil
}
