package server

import (
	"errors"
	"fmt"
	"net/http"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// The agent routes: the only ones an attempt's token opens, and only for
// that attempt (checked by authorize before these run).

// attemptOf is the attempt of an agent route: the one authentication read
// for the agent's token (authorize checked it is the path's). It may be
// up to agentTokenTTL old: only its identity (project, run, step, index)
// is to be relied on, not its phase.
func (s *Server) attemptOf(r *http.Request) (store.Attempt, error) {
	if c := callerOf(r.Context()); c.Attempt.ID != "" && c.Attempt.ID == r.PathValue("id") {
		return c.Attempt, nil
	}
	return s.store.GetAttempt(r.Context(), r.PathValue("id"))
}

func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) error {
	var batch v1.AgentEventBatch
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &batch); err != nil {
		return err
	}
	for i := range batch.Events {
		if o := batch.Events[i].Output; o != nil {
			o.Value = nil // values are the server's to seal (agentPutOutput), never stored as sent
		}
	}
	ack, err := s.engine.Ingest(r.Context(), r.PathValue("id"), batch.Events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ack)
	return nil
}

func (s *Server) agentLogs(w http.ResponseWriter, r *http.Request) error {
	var chunk v1.LogChunk
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &chunk); err != nil {
		return err
	}
	a, err := s.attemptOf(r)
	if err != nil {
		return err
	}
	for i, l := range chunk.Lines {
		if l.Seq < 1 {
			return errs.At(errs.Invalid, fmt.Sprintf("lines[%d].seq", i), "sequence numbers start at 1")
		}
	}
	if len(chunk.Lines) > 0 {
		sealed, err := s.sealLogs(r.Context(), a.Project, a.ID, chunk.Lines) // the store keeps ciphertext only
		if err != nil {
			return err
		}
		if err := s.store.AppendLogs(r.Context(), a, sealed); err != nil {
			return err
		}
		s.engine.Changes().Notify(a.RunID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) agentPutOutput(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if name == "" {
		return errs.At(errs.Invalid, "name", "an output name is required")
	}
	dir, err := boolParam(r.URL.Query().Get("dir"))
	if err != nil {
		return errs.At(errs.Invalid, "dir", "%v", err)
	}
	a, err := s.attemptOf(r)
	if err != nil {
		return err
	}
	limit, room, err := s.storageRoom(r.Context(), a.Project)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, min(s.cfg.MaxArtifactBytes, room))
	out, err := s.objects.Put(r.Context(), a.Project, body)
	if err != nil && room < s.cfg.MaxArtifactBytes && isTooLarge(err) {
		return s.storageFull(r.Context(), a.Project, limit)
	}
	var coded *errs.Error
	if err != nil && !errors.As(err, &coded) && !isTooLarge(err) {
		return errs.Wrap(errs.Invalid, err, "upload of output %s was cut: %v", name, err)
	}
	if err != nil {
		return err
	}
	if dir {
		out.Dir, out.Value = true, nil // a tar stream is never a JSON value
	}
	if err := s.sealValue(r.Context(), a.Project, &out); err != nil {
		return err
	}
	if _, err := s.store.AddStorage(r.Context(), a.Project, out.Size); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) agentGetArtifact(w http.ResponseWriter, r *http.Request) error {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		return errs.At(errs.Invalid, "ref", "name the artifact with ?ref=")
	}
	a, err := s.attemptOf(r)
	if err != nil {
		return err
	}
	return s.sendArtifact(w, r, a.Project, v1.Output{Ref: ref})
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
