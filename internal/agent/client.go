package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// client speaks the agent half of the control plane's API, for one attempt.
type client struct {
	base  string // .../api/v1/agent/attempts/{id}
	token string
	hc    *http.Client
}

// A server URL unix:///path/to.sock is the control plane reached over that
// Unix socket (HTTP on it): the container backend relays such a socket to
// the control plane, so that a task without a network still reports.
func newClient(server, token, attemptID string, hc *http.Client) *client {
	base := strings.TrimRight(server, "/")
	if sock, ok := strings.CutPrefix(server, "unix://"); ok {
		base = "http://koya-control-plane"
		if hc == nil {
			hc = newUnixHTTPClient(sock, 4)
		}
	}
	if hc == nil {
		hc = newHTTPClient(4)
	}
	return &client{
		base:  base + "/api/v1/agent/attempts/" + url.PathEscape(attemptID),
		token: token,
		hc:    hc,
	}
}

// newHTTPClient is the client to the control plane, keeping up to idle
// connections open. No overall timeout: an upload may take long. Requests
// that should be quick get a context deadline instead.
func newHTTPClient(idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   idle,
	}}
}

// newUnixHTTPClient is newHTTPClient over the Unix socket sock, whatever
// the requests' host. No proxy: the socket is local.
func newUnixHTTPClient(sock string, idle int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   idle,
	}}
}

// statusError is a response the control plane refused or failed.
type statusError struct {
	status int
	err    *errs.Error
}

func (e *statusError) Error() string {
	return fmt.Sprintf("control plane answered %d: %s", e.status, e.err.Error())
}

// retryable says whether trying again later may succeed: the control plane
// was unreachable, overloaded or failing (5xx, 429, 408).
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		if se.err != nil && se.err.Code == errs.QuotaExceeded {
			return false // a full quota does not empty by waiting: the step fails, saying which
		}
		return se.status >= 500 || se.status == http.StatusTooManyRequests || se.status == http.StatusRequestTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

func (c *client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *client) postEvents(ctx context.Context, events []json.RawMessage) (v1.AgentEventAck, error) {
	var ack v1.AgentEventAck
	err := c.do(ctx, http.MethodPost, "/events", rawBatch("events", events), &ack)
	return ack, err
}

func (c *client) postLogs(ctx context.Context, lines []json.RawMessage) error {
	return c.do(ctx, http.MethodPost, "/logs", rawBatch("lines", lines), nil)
}

// rawBatch builds {"<field>": [...]} from lines already encoded in the outbox.
func rawBatch(field string, items []json.RawMessage) io.Reader {
	var b bytes.Buffer
	b.WriteString(`{"` + field + `":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteString("]}")
	return &b
}

func (c *client) putOutput(ctx context.Context, name string, dir bool, body io.Reader) (v1.Output, error) {
	path := "/outputs/" + url.PathEscape(name)
	if dir {
		path += "?dir=1"
	}
	var out v1.Output
	err := c.do(ctx, http.MethodPut, path, body, &out)
	return out, err
}

// getArtifact opens an artifact's bytes (a tar stream for a directory).
func (c *client) getArtifact(ctx context.Context, ref string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/artifacts?ref="+url.QueryEscape(ref), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp.Body, nil
}

// responseError reads the control plane's {"error": {...}} body.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Error *errs.Error `json:"error"`
	}
	if json.Unmarshal(b, &env) != nil || env.Error == nil {
		env.Error = errs.E(errs.FromHTTPStatus(resp.StatusCode), "%s", http.StatusText(resp.StatusCode))
	}
	return &statusError{status: resp.StatusCode, err: env.Error}
}
