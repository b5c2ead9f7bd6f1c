package server

import (
	"net/http"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// logPage is how many lines one store read returns.
const logPage = 1000

// runLogs serves a run's log lines as a JSON list, or as an event stream
// that with follow=1 goes on until the run is done.
func (s *Server) runLogs(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	f, follow, err := logFilter(r)
	if err != nil {
		return err
	}
	f.RunID = run.ID
	if !wantsEvents(r) {
		if follow {
			return errs.At(errs.Invalid, "follow", "following needs an event stream (Accept: text/event-stream)")
		}
		lines, err := s.store.ReadLogs(r.Context(), f)
		if err != nil {
			return err
		}
		if err := s.openLogs(r.Context(), run.Project, lines); err != nil {
			return err
		}
		if lines == nil {
			lines = []v1.LogLine{}
		}
		writeJSON(w, http.StatusOK, lines)
		return nil
	}
	var fl *follower
	if follow { // subscribe before the first read, so no change falls between
		fl = s.follow(run.ID)
		defer fl.stop()
	}
	es := startEvents(w)
	f.Limit = logPage
	for {
		// Whether the run was done is read before the lines: lines written
		// before it ended are then certainly in this read.
		done := true
		if follow {
			cur, err := s.store.GetRun(r.Context(), run.ID)
			if err != nil {
				return err
			}
			done = cur.Phase.Done()
		}
		for {
			lines, err := s.store.ReadLogs(r.Context(), f)
			if err == nil {
				err = s.openLogs(r.Context(), run.Project, lines)
			}
			if err != nil {
				s.fail(r, es, err)
				return nil
			}
			for _, l := range lines {
				if err := es.send("log", strconv.FormatInt(l.Cursor, 10), l); err != nil {
					return nil // the client left
				}
				f.AfterCursor = l.Cursor
			}
			if len(lines) < f.Limit {
				break
			}
		}
		if done {
			_ = es.end()
			return nil
		}
		if !fl.wait(r, es) {
			return nil
		}
	}
}

// logFilter reads step, index, after (or Last-Event-ID), limit and follow.
func logFilter(r *http.Request) (store.LogFilter, bool, error) {
	q := r.URL.Query()
	f := store.LogFilter{Step: q.Get("step")}
	if v := q.Get("index"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, false, errs.At(errs.Invalid, "index", "%q is not an item index (0, 1, ...)", v)
		}
		f.Index = &n
	}
	after := q.Get("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		after = id // a reconnecting event source resumes where it was
	}
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return f, false, errs.At(errs.Invalid, "after", "%q is not a log cursor", after)
		}
		f.AfterCursor = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return f, false, errs.At(errs.Invalid, "limit", "%q is not a number from 1 to 10000", v)
		}
		f.Limit = n
	}
	follow, err := boolParam(q.Get("follow"))
	if err != nil {
		return f, false, errs.At(errs.Invalid, "follow", "%v", err)
	}
	return f, follow, nil
}

// boolParam reads 1/0, true/false; empty is false.
func boolParam(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errs.E(errs.Invalid, "%q is not a boolean (1, 0, true, false)", v)
	}
	return b, nil
}
