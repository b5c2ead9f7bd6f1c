package client

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// TestUploadBody: an upload's body goes out in writes of a MiB, reports
// its progress, and a source that fails, even with io.ErrUnexpectedEOF,
// fails the upload instead of ending it early.
func TestUploadBody(t *testing.T) {
	in := bytes.Repeat([]byte("koya"), (3*uploadBuffer+10)/4)
	var sent int64
	var out writes
	n, err := progressReader(iotest.HalfReader(bytes.NewReader(in)), func(k int64) { sent += k }).(io.WriterTo).WriteTo(&out)
	if err != nil || n != int64(len(in)) || sent != n || !bytes.Equal(out.b, in) {
		t.Fatalf("sent %d (progress %d), %v", n, sent, err)
	}
	if want := []int{uploadBuffer, uploadBuffer, uploadBuffer, len(in) - 3*uploadBuffer}; !slices.Equal(out.sizes, want) {
		t.Fatalf("writes of %v bytes, want %v", out.sizes, want)
	}
	for _, cause := range []error{io.ErrUnexpectedEOF, errors.New("disk gone")} {
		src := io.MultiReader(bytes.NewReader(in[:100]), iotest.ErrReader(cause))
		if _, err := progressReader(src, nil).(io.WriterTo).WriteTo(io.Discard); !errors.Is(err, cause) {
			t.Fatalf("source failing with %v: %v", cause, err)
		}
	}
}

type writes struct {
	b     []byte
	sizes []int
}

func (w *writes) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}
