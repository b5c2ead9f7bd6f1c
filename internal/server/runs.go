package server

import (
	"net/http"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/store"
)

// runOf loads the route's {run}, which must belong to the route's
// {project}: a run of another project is simply not found there.
func (s *Server) runOf(r *http.Request) (store.Run, error) {
	id, p := r.PathValue("run"), r.PathValue("project")
	run, err := s.store.GetRun(r.Context(), id)
	if errs.Is(err, errs.NotFound) || (err == nil && run.Project != p) {
		return store.Run{}, errs.E(errs.NotFound, "run %s not found in project %s", id, p)
	}
	return run, err
}

func (s *Server) submitRun(w http.ResponseWriter, r *http.Request) error {
	var req client.SubmitRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Workflow == "" {
		return errs.At(errs.Invalid, "workflow", "name the workflow to run")
	}
	// Strings are coerced to the declared types, typed values checked.
	params := map[string]any{}
	for k, v := range req.ParamStrings {
		params[k] = v
	}
	for k, v := range req.Params {
		if _, dup := params[k]; dup {
			return errs.At(errs.Invalid, "params."+k, "parameter %s is given twice (params and paramStrings)", k)
		}
		params[k] = v
	}
	run, err := s.engine.Submit(r.Context(), r.PathValue("project"), req.Workflow, params)
	if err != nil {
		return err
	}
	view, err := s.engine.RunView(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, view)
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.RunFilter{Project: r.PathValue("project"), Workflow: q.Get("workflow"), Phase: v1.Phase(q.Get("phase"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errs.At(errs.Invalid, "limit", "%q is not a number from 1 to 1000", v)
		}
		f.Limit = n
	}
	if f.Phase != "" && !knownPhase(f.Phase) {
		return errs.At(errs.Invalid, "phase", "%q is not a phase (Pending, Running, Succeeded, Failed, Cancelled, ...)", f.Phase)
	}
	if before := q.Get("before"); before != "" {
		run, err := s.store.GetRun(r.Context(), before)
		if err != nil || run.Project != f.Project {
			return errs.At(errs.Invalid, "before", "run %s not found in project %s", before, f.Project)
		}
		f.BeforeSeq = run.Seq
	}
	if _, err := s.store.GetProject(r.Context(), f.Project); err != nil {
		return err
	}
	runs, err := s.store.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]v1.Run, 0, len(runs))
	for _, run := range runs {
		out = append(out, engine.RunResource(run, nil, nil))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func knownPhase(p v1.Phase) bool {
	switch p {
	case v1.Pending, v1.Running, v1.Succeeded, v1.Failed, v1.Skipped, v1.Cancelled, v1.Cached, v1.Lost:
		return true
	}
	return false
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	return s.writeRun(w, r, run.ID, http.StatusOK)
}

func (s *Server) writeRun(w http.ResponseWriter, r *http.Request, id string, status int) error {
	view, err := s.engine.RunView(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, status, view)
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	if err := s.engine.Cancel(r.Context(), run.ID); err != nil {
		return err
	}
	return s.writeRun(w, r, run.ID, http.StatusOK)
}

func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	if _, err := s.engine.Retry(r.Context(), run.ID); err != nil {
		return err
	}
	return s.writeRun(w, r, run.ID, http.StatusOK)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	tasks, err := s.store.ListTasks(r.Context(), store.TaskFilter{RunID: run.ID, Step: r.URL.Query().Get("step")})
	if err != nil {
		return err
	}
	out := make([]v1.Task, 0, len(tasks))
	for _, t := range tasks {
		s.unsealForReaders(r.Context(), run.Project, t.Outputs)
		out = append(out, v1.Task{RunID: t.RunID, Step: t.Step, Index: t.Index, Item: t.Item, Phase: t.Phase,
			Attempts: t.Attempts, Message: t.Message, Exit: t.Exit, Outputs: t.Outputs, Backend: t.Backend,
			StartedAt: t.StartedAt, FinishedAt: t.FinishedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	as, err := s.store.ListAttempts(r.Context(), store.AttemptFilter{RunID: run.ID})
	if err != nil {
		return err
	}
	out := make([]v1.Attempt, 0, len(as))
	for _, a := range as {
		out = append(out, v1.Attempt{ID: a.ID, RunID: a.RunID, Step: a.Step, Index: a.Index, Number: a.Number,
			Phase: a.Phase, Backend: a.Backend, Reason: a.Reason, Exit: a.Exit, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
