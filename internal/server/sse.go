package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
)

// Server-sent events (text/event-stream): each event is
//
//	id: <cursor>      (log streams: resume with ?after= or Last-Event-ID)
//	event: log | run | end
//	data: <one JSON value>
//
// A stream ends with an "end" event once what it follows is done; a
// stream cut before that can be resumed.

// wantsEvents says whether the client asked for an event stream.
func wantsEvents(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startEvents(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	es := &eventStream{w: w, rc: http.NewResponseController(w)}
	_ = es.rc.Flush()
	return es
}

// send writes one event; id may be empty.
func (es *eventStream) send(event, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", event, data)
	if _, err := es.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return es.rc.Flush()
}

// keepAlive writes a comment so that idle connections stay open.
func (es *eventStream) keepAlive() error {
	if _, err := es.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return es.rc.Flush()
}

// end says the stream is complete.
func (es *eventStream) end() error { return es.send("end", "", struct{}{}) }

// fail ends a started stream with an "error" event carrying err's public
// form: the status was sent already. Without an "end" event, clients know
// the stream is incomplete.
func (s *Server) fail(r *http.Request, es *eventStream, err error) {
	pub := errs.Public(err)
	s.log.WarnContext(r.Context(), "event stream failed", "route", r.Pattern, "code", pub.Code, "err", err.Error())
	_ = es.send("error", "", ErrorResponse{Error: pub})
}

// follower wakes a stream when its run changes, when the poll interval
// passes (changes made by another replica are not notified here) and when
// a keep-alive is due.
type follower struct {
	changed   <-chan struct{}
	poll      *time.Ticker
	keepAlive *time.Ticker
	stop      func()
}

func (s *Server) follow(runID string) *follower {
	ch, unsubscribe := s.engine.Changes().Subscribe(runID)
	f := &follower{changed: ch, poll: time.NewTicker(s.cfg.PollEvery), keepAlive: time.NewTicker(s.cfg.KeepAliveEvery)}
	f.stop = func() { unsubscribe(); f.poll.Stop(); f.keepAlive.Stop() }
	return f
}

// wait blocks until there may be something new (true), or the client left
// or the server stops (false).
func (f *follower) wait(r *http.Request, es *eventStream) bool {
	for {
		select {
		case <-r.Context().Done():
			return false
		case <-f.changed:
			return true
		case <-f.poll.C:
			return true
		case <-f.keepAlive.C:
			if es.keepAlive() != nil {
				return false
			}
		}
	}
}
