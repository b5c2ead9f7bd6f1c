package datalake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/objects"
)

// fakePart is a staged part whose commit waits for release and returns err.
type fakePart struct {
	release   chan struct{}
	err       error
	abandoned bool
}

func newFakePart(err error) *fakePart { return &fakePart{release: make(chan struct{}), err: err} }

func (f *fakePart) Commit() error { <-f.release; return f.err }
func (f *fakePart) Abandon()      { f.abandoned = true }

// TestPartSaverOverlapsAndStopsAtAFailure: a part is stored while the
// caller goes on (the next part is read meanwhile), the session is saved
// only once its part is stored, parts are stored one after another, and
// a part that cannot be stored stops the upload: the part after it is
// abandoned and the session stays where it was.
func TestPartSaverOverlapsAndStopsAtAFailure(t *testing.T) {
	l, _, _ := newLake(t)
	ctx := context.Background()
	s, err := l.CreateUpload(ctx, Upload{Project: "p", Channel: "raw", Path: "f.bin"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	after := func(prev Session, n int64) Session {
		next := prev
		next.Parts = append(append([]objects.Part(nil), prev.Parts...), objects.Part{Key: objects.DataPrefix("p") + uploadsDir + s.ID + "/x", Size: n})
		next.Offset += n
		return next
	}
	saver := &partSaver{l: l, saved: s}
	one, two, three := newFakePart(nil), newFakePart(errors.New("disk gone")), newFakePart(nil)
	s1 := after(s, 4)
	returned := make(chan error, 1)
	go func() { returned <- saver.save(ctx, one, s1) }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("save waited for the part to be stored: the next part is not read meanwhile")
	}
	if got, err := l.GetUpload(ctx, "p", s.ID); err != nil || got.Offset != 0 {
		t.Fatalf("the session before its part is stored: %+v, %v", got, err)
	}
	// The second part waits for the first to be stored.
	s2 := after(s1, 4)
	go func() { returned <- saver.save(ctx, two, s2) }()
	select {
	case <-returned:
		t.Fatal("a second part went to be stored while the first was")
	case <-time.After(50 * time.Millisecond):
	}
	close(one.release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if got, err := l.GetUpload(ctx, "p", s.ID); err != nil || got.Offset != 4 {
		t.Fatalf("the session once the first part is stored: %+v, %v", got, err)
	}
	close(two.release)
	if err := saver.save(ctx, three, after(s2, 4)); err == nil || err.Error() != "disk gone" {
		t.Fatalf("the part after a failed one: %v", err)
	}
	if !three.abandoned {
		t.Error("the part after a failed one was not abandoned")
	}
	if saver.saved.Offset != 4 {
		t.Errorf("saved offset %d, want 4", saver.saved.Offset)
	}
	if got, err := l.GetUpload(ctx, "p", s.ID); err != nil || got.Offset != 4 {
		t.Fatalf("the session after the failure: %+v, %v", got, err)
	}
	if err := saver.wait(); err != nil {
		t.Fatalf("nothing under way: %v", err)
	}
}
