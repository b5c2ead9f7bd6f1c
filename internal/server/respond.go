package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/koya-dev/koya/errs"
)

// ErrorResponse is the one shape of every error response:
// {"error": {"code", "message", "where"}}.
type ErrorResponse struct {
	Error *errs.Error `json:"error"`
}

// writeError answers with err's public form and its code's status. The
// internal cause goes to the log only, with the request it failed.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = normalise(err)
	pub := errs.Public(err)
	status := errs.HTTPStatus(pub.Code)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern,
			"code", pub.Code, "err", err.Error(), "cause", fmt.Sprint(errors.Unwrap(err)))
	} else {
		s.log.DebugContext(r.Context(), "request refused", "method", r.Method, "route", r.Pattern, "code", pub.Code, "err", err.Error())
	}
	if st, ok := w.(*statusWriter); ok && st.wrote {
		return // a stream already started: the status cannot change any more
	}
	writeJSON(w, status, ErrorResponse{Error: pub})
}

// normalise gives errors from the standard library a code.
func normalise(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errs.Wrap(errs.TooLarge, err, "request body is larger than the limit of %d bytes", mb.Limit)
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeJSON reads r's body into v: at most limit bytes, exactly one JSON
// value, no field that v does not have (a typo must not be ignored).
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") && !strings.HasPrefix(ct, "application/octet-stream") {
		return errs.At(errs.Invalid, "Content-Type", "body must be JSON, not %s", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if dec.More() {
		return errs.At(errs.Invalid, "body", "body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.At(errs.Invalid, "body", "unexpected data after the JSON value")
	}
	return nil
}

// bodyError says what was wrong with a JSON body, and where.
func bodyError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mb  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mb):
		return normalise(err)
	case errors.Is(err, io.EOF):
		return errs.At(errs.Invalid, "body", "a JSON body is required")
	case errors.As(err, &syn):
		return errs.At(errs.Invalid, fmt.Sprintf("body:offset %d", syn.Offset), "malformed JSON: %v", syn)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "body"
		}
		return errs.At(errs.Invalid, where, "%s is not a valid %s", typ.Value, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.At(errs.Invalid, field, "unknown field %q", field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.At(errs.Invalid, "body", "the JSON body ends early")
	}
	return errs.Wrap(errs.Invalid, err, "body is not valid JSON: %v", err)
}
