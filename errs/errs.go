// Package errs is koya's one error vocabulary: a small set of codes, each
// mapped once to an HTTP status and back, so that the server, the Go client
// and the CLI say the same thing about the same failure.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for callers. Internal detail never travels with it.
type Code string

const (
	Invalid         Code = "invalid"
	NotFound        Code = "not_found"
	Conflict        Code = "conflict"
	Unauthenticated Code = "unauthenticated"
	Forbidden       Code = "forbidden"
	QuotaExceeded   Code = "quota_exceeded"
	TooLarge        Code = "too_large"
	Unavailable     Code = "unavailable"
	Internal        Code = "internal"
)

var httpStatus = map[Code]int{
	Invalid:         http.StatusBadRequest,
	NotFound:        http.StatusNotFound,
	Conflict:        http.StatusConflict,
	Unauthenticated: http.StatusUnauthorized,
	Forbidden:       http.StatusForbidden,
	QuotaExceeded:   http.StatusTooManyRequests,
	TooLarge:        http.StatusRequestEntityTooLarge,
	Unavailable:     http.StatusServiceUnavailable,
	Internal:        http.StatusInternalServerError,
}

// HTTPStatus is the status a response carrying code c uses.
func HTTPStatus(c Code) int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FromHTTPStatus maps a status back to a code for responses that carry no body.
func FromHTTPStatus(status int) Code {
	for c, s := range httpStatus {
		if s == status {
			return c
		}
	}
	if status >= 500 {
		return Internal
	}
	return Invalid
}

// Error is an error with a code, a message meant for users, and optionally
// the place it is about (a field path or file:line:column). Err keeps the
// internal cause for logs; it is never serialised.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Where   string `json:"where,omitempty"`
	Err     error  `json:"-"`
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Where != "" {
		return fmt.Sprintf("%s: %s", e.Where, msg)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of code c with a formatted message.
func E(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// At is E with the place the error is about.
func At(c Code, where, format string, args ...any) *Error {
	return &Error{Code: c, Where: where, Message: fmt.Sprintf(format, args...)}
}

// Wrap keeps err as the internal cause under a user-facing message.
func Wrap(c Code, err error, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, Internal otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool { return err != nil && CodeOf(err) == c }

// Public returns the form of err safe to show a user: an *Error is kept as is
// (without its internal cause); anything else becomes a bare internal error.
func Public(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		msg := e.Message
		if msg == "" {
			msg = string(e.Code)
		}
		return &Error{Code: e.Code, Message: msg, Where: e.Where}
	}
	return &Error{Code: Internal, Message: "internal error"}
}

// List gathers several errors about one input (every problem in a file at
// once, rather than one per try).
type List []*Error

func (l List) Error() string {
	s := ""
	for i, e := range l {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

// Err returns nil for an empty list, else an Invalid *Error summarising it.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	if len(l) == 1 {
		return l[0]
	}
	return &Error{Code: l[0].Code, Message: l.Error(), Err: l}
}
