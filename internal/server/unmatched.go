package server

import (
	"net/http"

	"github.com/koya-dev/koya/errs"
)

// unmatched answers the requests no route takes (an unknown path, or a
// method the path does not have) in the API's one error shape, where the
// mux would answer in plain text: clients and scripts always get
// {"error": {...}}. A 405 keeps the mux's Allow header.
func (s *Server) unmatched(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := s.mux.Handler(r)
		if pattern != "" { // a route, or one of the mux's redirects
			next.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusNotFound:
			s.writeError(w, r, errs.At(errs.NotFound, r.URL.Path, "no API route %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: errs.At(errs.Invalid, r.URL.Path, "method %s is not allowed here; allowed: %s", r.Method, allow)})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// headerProbe records what the mux's fallback handler would answer,
// without writing it.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) WriteHeader(status int) { p.status = status }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
