package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
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

// A unix:// server URL is HTTP over that socket.
func TestClientOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var gotPath, gotAuth string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`{"applied": 1}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := newClient("unix://"+sock, "tok", "a/1", nil)
	ack, err := c.postEvents(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Applied != 1 || gotPath != "/api/v1/agent/attempts/a/1/events" || gotAuth != "Bearer tok" {
		t.Errorf("ack %+v, path %q, auth %q", ack, gotPath, gotAuth)
	}
}
