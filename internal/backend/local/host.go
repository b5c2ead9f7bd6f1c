package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/agent"
	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// hostClient reaches the root's agent host over its Unix socket, starting
// one when none answers (or when the one that answers is of another
// version: it is drained, keeping its running attempts, and replaced).
type hostClient struct {
	o       Options
	version string
	hc      *http.Client

	mu      sync.Mutex
	checked bool // the live host's version was checked
}

// errNoHost is a host that did not answer (nothing listens, or it drains).
var errNoHost = errors.New("no agent host answers")

func newHostClient(o Options) (*hostClient, error) {
	sock := filepath.Join(o.Root, agent.HostSocket)
	if len(sock) > 100 {
		return nil, errs.E(errs.Invalid, "local backend: root %q is too long for a Unix socket path (%d bytes, at most 100 with %q)", o.Root, len(sock), agent.HostSocket)
	}
	st, err := os.Stat(o.AgentPath)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "local backend: the agent binary")
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "unix", sock)
	}
	return &hostClient{
		o:       o,
		version: fmt.Sprintf("%d-%d", st.Size(), st.ModTime().UnixNano()),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: dial, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}},
	}, nil
}

// start has the host take the attempt of manifest; it returns the host.
// An attempt whose agent already runs (409) is not an error.
func (c *hostClient) start(ctx context.Context, manifest string) (agent.HostHello, error) {
	var hello agent.HostHello
	err := c.withHost(ctx, func() error {
		status, err := c.call(ctx, "POST", "/attempts", agent.HostStart{Manifest: manifest}, &hello)
		if err == nil && status == http.StatusConflict {
			return nil
		}
		return err
	})
	return hello, err
}

// cancel asks the live host to cancel the attempt; an attempt it does not
// run (finished, or run by a drained host) is left to its cancel file and
// the control plane's acknowledgements.
func (c *hostClient) cancel(ctx context.Context, attemptID string) error {
	status, err := c.call(ctx, "POST", "/attempts/"+attemptID+"/cancel", nil, nil)
	if errors.Is(err, errNoHost) || status == http.StatusNotFound {
		return nil
	}
	return err
}

// withHost runs f against a live host of this version, starting one first
// if needed, and once more after starting one if f found no host.
func (c *hostClient) withHost(ctx context.Context, f func() error) error {
	c.mu.Lock()
	checked := c.checked
	c.mu.Unlock()
	if checked {
		if err := f(); !errors.Is(err, errNoHost) {
			return err
		}
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	return f()
}

// ensure makes sure a host of this version serves the root. The launch
// lock serialises control planes (and goroutines) that find none.
func (c *hostClient) ensure(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, err := c.current(ctx); ok || err != nil {
		c.checked = ok
		return err
	}
	unlock, err := sandbox.LockFile(filepath.Join(c.o.Root, ".launch.lock"), true)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "local backend: locking the agent host launch")
	}
	defer unlock()
	if ok, err := c.current(ctx); ok || err != nil {
		c.checked = ok
		return err
	}
	if err := c.launch(ctx); err != nil {
		return err
	}
	c.checked = true
	return nil
}

// current reports whether a host of this version answers; one of another
// version is drained (it finishes its attempts, then exits).
func (c *hostClient) current(ctx context.Context) (bool, error) {
	var hello agent.HostHello
	_, err := c.call(ctx, "GET", "/hello", nil, &hello)
	if errors.Is(err, errNoHost) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if hello.Version == c.version {
		return true, nil
	}
	_, err = c.call(ctx, "POST", "/drain", nil, nil)
	if err != nil && !errors.Is(err, errNoHost) {
		return false, err
	}
	// Kept-alive connections lead to the drained host, not the next one.
	c.hc.CloseIdleConnections()
	return false, nil
}

// launch starts the host in its own session, so that it survives the
// control plane (a kill -9 of this process does not reach it), and waits
// until it answers.
func (c *hostClient) launch(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(c.o.Root, agent.HostLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "local backend: opening %s", agent.HostLog)
	}
	defer logf.Close()
	args := append(append([]string(nil), c.o.AgentArgs...), "--host", c.o.Root, "--host-version", c.version)
	cmd := exec.Command(c.o.AgentPath, args...)
	cmd.Dir = c.o.Root
	cmd.Env = append(agentEnv(), c.o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf // stdin stays nil: /dev/null
	sandbox.Detach(cmd)
	if err := cmd.Start(); err != nil {
		return errs.Wrap(errs.Internal, err, "local backend: starting the agent host %s", c.o.AgentPath)
	}
	exited := make(chan error, 1)
	// Reap the host if it ends while this process lives; after this
	// process dies, init does.
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var hello agent.HostHello
		_, err := c.call(ctx, "GET", "/hello", nil, &hello)
		if err == nil && hello.Version == c.version {
			return nil
		}
		select {
		case err := <-exited:
			return errs.E(errs.Unavailable, "local backend: the agent host exited at start (%v); the end of %s:\n%s",
				err, filepath.Join(c.o.Root, agent.HostLog), tail(filepath.Join(c.o.Root, agent.HostLog), 2000))
		case <-ctx.Done():
			return errs.Wrap(errs.Unavailable, ctx.Err(), "local backend: waiting for the agent host")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errs.E(errs.Unavailable, "local backend: the agent host did not answer within 10s; see %s", filepath.Join(c.o.Root, agent.HostLog))
		}
	}
}

// tail is the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return strings.TrimSpace(string(b))
}

// call sends one request to the host. errNoHost when nothing answers or
// the host drains (503); other statuses are errors but 409 and 404, which
// callers decide on.
func (c *hostClient) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent-host"+path, rd)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, errs.Wrap(errs.Unavailable, ctx.Err(), "local backend: agent host")
		}
		return 0, errNoHost
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, errs.Wrap(errs.Internal, err, "local backend: agent host answer to %s", path)
			}
		}
		return resp.StatusCode, nil
	case http.StatusConflict, http.StatusNotFound:
		return resp.StatusCode, nil
	case http.StatusServiceUnavailable:
		return resp.StatusCode, errNoHost
	}
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, errs.E(errs.Internal, "local backend: agent host answered %d to %s: %s", resp.StatusCode, path, strings.TrimSpace(e.Error))
}
