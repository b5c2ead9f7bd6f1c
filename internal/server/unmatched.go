package server

import (
	"net/http"
	"strings"

	"github.com/koya-dev/koya/errs"
)

// unmatchedPattern catches the requests no route takes (an unknown path,
// or a method the path does not have), which the mux would answer in
// plain text. Being the mux's own most general pattern, it costs the
// requests that match a route nothing.
const unmatchedPattern = "/"

// unmatched answers in the API's one error shape, so that clients and
// scripts always get {"error": {...}}: 404, or 405 with Allow when the
// path has routes for other methods (probed only here, on a miss).
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != unmatchedPattern {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		s.writeError(w, r, errs.At(errs.NotFound, r.URL.Path, "no API route %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: errs.At(errs.Invalid, r.URL.Path, "method %s is not allowed here; allowed: %s", r.Method, w.Header().Get("Allow"))})
}
