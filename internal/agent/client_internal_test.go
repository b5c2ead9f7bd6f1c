package agent

import (
	"errors"
	"net/http"
	"testing"

	"github.com/koya-dev/koya/errs"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&statusError{status: http.StatusServiceUnavailable, err: errs.E(errs.Unavailable, "down")}, true},
		{&statusError{status: http.StatusTooManyRequests, err: errs.E(errs.Unavailable, "slow down")}, true},
		{&statusError{status: http.StatusTooManyRequests, err: errs.E(errs.QuotaExceeded, "storage full")}, false},
		{&statusError{status: http.StatusBadRequest, err: errs.E(errs.Invalid, "bad")}, false},
		{errors.New("connection refused"), true},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
