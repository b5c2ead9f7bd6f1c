package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// watchEvery is the least time between two renders of a watched run: a
// run of many short steps changes hundreds of times a second, and each
// render reads every step; a person watching sees no difference.
const watchEvery = 100 * time.Millisecond

// watchRun streams the run (with step statuses) once at the start and
// again on every change (at most every watchEvery), and ends once the run
// is done.
func (s *Server) watchRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	fl := s.follow(run.ID)
	defer fl.stop()
	var es *eventStream
	var last []byte
	var renderedAt time.Time
	for {
		if d := watchEvery - time.Since(renderedAt); d > 0 {
			select {
			case <-time.After(d): // changes meanwhile are in the next render
			case <-r.Context().Done():
				return nil
			}
		}
		renderedAt = time.Now()
		view, err := s.engine.RunView(r.Context(), run.ID)
		if err != nil {
			if es == nil {
				return err // nothing sent yet: a proper error response
			}
			s.log.WarnContext(r.Context(), "watch: reading the run failed", "run", run.ID, "err", err)
			return nil
		}
		if es == nil {
			es = startEvents(w)
		}
		cur, _ := json.Marshal(view)
		if !bytes.Equal(cur, last) {
			if es.send("run", "", view) != nil {
				return nil
			}
			last = cur
		}
		if view.Status.Phase.Done() {
			_ = es.end()
			return nil
		}
		if !fl.wait(r, es) {
			return nil
		}
	}
}
