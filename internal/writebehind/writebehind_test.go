package writebehind

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestStarter: write-back is started for each window once it is full,
// over exactly the bytes written since the last start, and not before.
func TestStarter(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got [][2]int64
	s := New(f)
	s.start = func(_ *os.File, off, n int64) { got = append(got, [2]int64{off, n}) }
	for _, n := range []int{Window - 1, 1, 100, Window, Window / 2} {
		s.Wrote(n)
	}
	want := [][2]int64{{0, Window}, {Window, Window + 100}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("started %v, want %v", got, want)
	}
	// The system call itself, on a real file.
	if _, err := f.Write(make([]byte, Window)); err != nil {
		t.Fatal(err)
	}
	start(f, 0, Window)
}
