package keys_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// TestPlaintextSize: a stream's PlaintextSize inverts the length of real
// streams at and around every segment boundary, for keys of either segment
// size, and refuses lengths no stream of that key has.
func TestPlaintextSize(t *testing.T) {
	for _, seg := range segments {
		r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{StreamSegment: seg})
		first, next := seg-40-16, seg-16 // plaintext bytes of the first segment, of the others
		sizes := []int{0, 1, 100}
		for _, b := range []int{first, first + next, first + 5*next} {
			sizes = append(sizes, b-1, b, b+1, b+15, b+16, b+17)
		}
		var dr *keys.StreamReader
		for _, n := range sizes {
			ct := encryptStream(t, r, "p", "artifact", "o", pattern(n))
			var err error
			if dr, err = r.NewDecryptingReader(ctx, "p", "artifact", "o", bytes.NewReader(ct)); err != nil {
				t.Fatal(err)
			}
			got, err := dr.PlaintextSize(int64(len(ct)))
			if err != nil || got != int64(n) {
				t.Errorf("segment %d: PlaintextSize(%d) = %d, %v; want %d", seg, len(ct), got, err, n)
			}
			if all, err := io.ReadAll(dr); err != nil || len(all) != n {
				t.Errorf("segment %d: read %d bytes, %v; want %d", seg, len(all), err, n)
			}
		}
		// Header (45) + a tag (16) is the shortest stream; a segment cut
		// to its tag or less after a full one is no stream.
		for _, n := range []int64{0, 5, 60, int64(seg) + 5 + 1, int64(seg) + 5 + 16} {
			if _, err := dr.PlaintextSize(n); !errs.Is(err, errs.Forbidden) {
				t.Errorf("segment %d: PlaintextSize(%d): %v, want forbidden", seg, n, err)
			}
		}
	}
}

// TestBadSegment: a keyring asked for keys of an unknown segment size
// refuses to make them.
func TestBadSegment(t *testing.T) {
	r := keys.NewKeyring(newKEK(t), &keys.MemStore{}, keys.Options{StreamSegment: 5000})
	_, err := r.NewEncryptingWriter(ctx, "p", "artifact", "o", io.Discard)
	wantCode(t, err, errs.Invalid, "segment 5000")
}
