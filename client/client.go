// Package client is the Go client of koya's HTTP API (/api/v1), the one the
// koya CLI uses. Every method maps to one route; errors come back as
// *errs.Error with the code, message and place the server gave.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/koya-dev/koya/errs"
)

// Client talks to one koya server with one token.
type Client struct {
	base  string
	token string
	hc    *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one without an overall
// timeout, as log streams and downloads are long; give ctx deadlines).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the server at base (e.g. http://127.0.0.1:7070).
func New(base, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{}, UserAgent: "koya-client"}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Server is the base URL the client talks to.
func (c *Client) Server() string { return c.base }

// request is one call.
type request struct {
	method, path string
	query        url.Values
	body         io.Reader
	length       int64 // of body if > 0; else unknown (chunked)
	contentType  string
	accept       string
	// trailer, if set, is sent after a chunked body: its keys announced
	// up front, its values set by the body before it returns io.EOF.
	trailer http.Header
}

// send performs req and returns the response of a 2xx status; any other
// status is decoded into an *errs.Error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	u := c.base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, req.body)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "bad request to %s: %v", u, err)
	}
	if req.length > 0 {
		hr.ContentLength = req.length
	}
	if req.trailer != nil {
		hr.Trailer = req.trailer
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	accept := req.accept
	if accept == "" {
		accept = "application/json"
	}
	hr.Header.Set("Accept", accept)
	hr.Header.Set("User-Agent", c.UserAgent)
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errs.Wrap(errs.Unavailable, err, "cannot reach the koya server at %s: %v", c.base, unwrapURLError(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError reads {"error": {...}}; a response without one gets the
// code of its status.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Error *errs.Error `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error != nil && env.Error.Code != "" {
		return env.Error
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" || len(msg) > 200 {
		msg = http.StatusText(resp.StatusCode)
	}
	return errs.E(errs.FromHTTPStatus(resp.StatusCode), "server answered %d: %s", resp.StatusCode, msg)
}

// do sends a JSON body (if in is not nil) and decodes a JSON answer into
// out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	req := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.Wrap(errs.Invalid, err, "cannot encode the request: %v", err)
		}
		req.body, req.contentType = bytes.NewReader(b), "application/json"
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return errs.Wrap(errs.Internal, err, "cannot decode the server's answer to %s %s: %v", method, path, err)
	}
	return nil
}

// projectPath is /api/v1/projects/<project> plus the escaped parts.
func projectPath(project string, parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1/projects/")
	b.WriteString(url.PathEscape(project))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func runPath(project, run string, parts ...string) string {
	return projectPath(project, append([]string{"runs", run}, parts...)...)
}

var errNoProject = errs.At(errs.Invalid, "project", "no project given: use --project, KOYA_PROJECT or the config's context")

func need(project string) error {
	if project == "" {
		return errNoProject
	}
	return nil
}
