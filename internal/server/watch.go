package server

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// watchRun streams the run (with step statuses) once at the start and
// again on every change, and ends once the run is done.
func (s *Server) watchRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	fl := s.follow(run.ID)
	defer fl.stop()
	var es *eventStream
	var last []byte
	for {
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
