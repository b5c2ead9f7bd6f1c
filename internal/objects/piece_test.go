package objects

import (
	"bytes"
	"errors"
	"testing"
)

// sizes records the length of each write.
type sizes struct {
	n    []int
	fail int // fail the write of this index (-1: none)
}

func (s *sizes) Write(p []byte) (int, error) {
	if len(s.n) == s.fail {
		return 10, errors.New("disk full")
	}
	s.n = append(s.n, len(p))
	return len(p), nil
}

// TestPieceWriter: a bucket sees no write above maxPiece, the bytes whole
// and in order; a failing write reports what went through.
func TestPieceWriter(t *testing.T) {
	rec := &sizes{fail: -1}
	n, err := (&pieceWriter{w: rec}).Write(make([]byte, 2*maxPiece+100))
	if err != nil || n != 2*maxPiece+100 || len(rec.n) != 3 || rec.n[0] != maxPiece || rec.n[1] != maxPiece || rec.n[2] != 100 {
		t.Fatalf("wrote %d (%v) as %v", n, err, rec.n)
	}
	rec = &sizes{fail: 1}
	n, err = (&pieceWriter{w: rec}).Write(bytes.Repeat([]byte{1}, 3*maxPiece))
	if err == nil || n != maxPiece+10 {
		t.Fatalf("a failing write: %d, %v", n, err)
	}
}
