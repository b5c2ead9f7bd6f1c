package server

import (
	"io"
	"net/http"
	"time"
)

// idleBody ends an upload whose client sends nothing for idle: each
// read pushes the connection's read deadline idle ahead (at most once a
// second: a deadline is a timer reset). Without it, a client that
// vanished without closing its connection would hold the upload session
// (one writer at a time) until TCP keep-alives gave up, minutes later,
// and the client's resume would be refused as concurrent meanwhile. A
// session keeps the whole parts stored before the stall.
type idleBody struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	next time.Time // when the deadline is pushed again
}

func newIdleBody(w http.ResponseWriter, r io.Reader, idle time.Duration) io.Reader {
	return &idleBody{r: r, rc: http.NewResponseController(w), idle: idle}
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); !now.Before(b.next) {
		// A writer that cannot take deadlines (a test recorder) is read
		// without one.
		_ = b.rc.SetReadDeadline(now.Add(b.idle))
		b.next = now.Add(time.Second)
	}
	return b.r.Read(p)
}
