package server

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/objects"
)

// downloadArtifact streams the bytes of one output of one task.
func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	step, name := r.PathValue("step"), r.PathValue("output")
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || index < 0 {
		return errs.At(errs.Invalid, "index", "%q is not an item index (0, 1, ...)", r.PathValue("index"))
	}
	t, err := s.store.GetTask(r.Context(), run.ID, step, index)
	if errs.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "run %s has no task %s[%d]", run.ID, step, index)
	}
	if err != nil {
		return err
	}
	out, ok := t.Outputs[name]
	if !ok {
		return errs.E(errs.NotFound, "task %s[%d] of run %s has no output %q (yet)", step, index, run.ID, name)
	}
	return s.sendArtifact(w, r, run.Project, out)
}

// sendArtifact streams an artifact of project.
func (s *Server) sendArtifact(w http.ResponseWriter, r *http.Request, project string, out v1.Output) error {
	var rd interface {
		io.ReadCloser
		Size() int64
	}
	var err error
	if strings.HasPrefix(out.Ref, objects.DataPrefix(project)) {
		rd, err = s.objects.OpenData(r.Context(), project, out.Ref) // a datalake input
	} else {
		rd, err = s.objects.Open(r.Context(), project, out.Ref)
	}
	if err != nil {
		return err
	}
	defer rd.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if out.Dir {
		h.Set("Content-Type", "application/x-tar")
	}
	h.Set("Content-Length", strconv.FormatInt(rd.Size(), 10))
	if out.Digest != "" {
		h.Set("X-Koya-Digest", out.Digest)
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10) // large writes, not one per 4 KiB segment
	_, err = io.Copy(bw, rd)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "artifact download cut", "ref", out.Ref, "err", err)
	}
	return nil
}
