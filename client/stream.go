package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// LogOptions select log lines.
type LogOptions struct {
	Step   string
	Index  *int  // nil: every item
	After  int64 // only lines after this cursor
	Limit  int   // Logs only: at most this many lines (server default 1000)
	Follow bool  // StreamLogs only: go on until the run ends
}

func (o LogOptions) query() url.Values {
	q := url.Values{}
	if o.Step != "" {
		q.Set("step", o.Step)
	}
	if o.Index != nil {
		q.Set("index", strconv.Itoa(*o.Index))
	}
	if o.After > 0 {
		q.Set("after", strconv.FormatInt(o.After, 10))
	}
	return q
}

// Logs returns one page of a run's log lines.
func (c *Client) Logs(ctx context.Context, project, run string, o LogOptions) ([]v1.LogLine, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	q := o.query()
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out []v1.LogLine
	return out, c.do(ctx, http.MethodGet, runPath(project, run, "logs"), q, nil, &out)
}

// StreamLogs yields a run's log lines as an event stream: every line there
// is, then (with Follow) new ones as they come until the run ends. A
// dropped connection is resumed after the last line seen.
func (c *Client) StreamLogs(ctx context.Context, project, run string, o LogOptions) iter.Seq2[v1.LogLine, error] {
	return func(yield func(v1.LogLine, error) bool) {
		if err := need(project); err != nil {
			yield(v1.LogLine{}, err)
			return
		}
		after := o.After
		c.stream(ctx, func() request {
			q := o.query()
			if after > 0 {
				q.Set("after", strconv.FormatInt(after, 10))
			}
			if o.Follow {
				q.Set("follow", "1")
			}
			return request{method: http.MethodGet, path: runPath(project, run, "logs"), query: q}
		}, func(ev event) (bool, error) {
			var l v1.LogLine
			if err := json.Unmarshal(ev.data, &l); err != nil {
				return false, err
			}
			after = l.Cursor
			return yield(l, nil), nil
		}, func(err error) { yield(v1.LogLine{}, err) })
	}
}

// Watch yields the run now and after every change, until it ends.
func (c *Client) Watch(ctx context.Context, project, run string) iter.Seq2[v1.Run, error] {
	return func(yield func(v1.Run, error) bool) {
		if err := need(project); err != nil {
			yield(v1.Run{}, err)
			return
		}
		c.stream(ctx, func() request {
			return request{method: http.MethodGet, path: runPath(project, run, "watch")}
		}, func(ev event) (bool, error) {
			var r v1.Run
			if err := json.Unmarshal(ev.data, &r); err != nil {
				return false, err
			}
			return yield(r, nil), nil
		}, func(err error) { yield(v1.Run{}, err) })
	}
}

// event is one server-sent event.
type event struct {
	name string
	id   string
	data []byte
}

// stream reads an event stream until its "end" event, reconnecting (with
// backoff, a bounded number of times in a row) when the connection drops
// or the server is briefly unavailable. onEvent returns false to stop.
func (c *Client) stream(ctx context.Context, mk func() request, onEvent func(event) (bool, error), fail func(error)) {
	const maxTries = 12
	wait := 200 * time.Millisecond
	for tries := 0; ; tries++ {
		req := mk()
		req.accept = "text/event-stream"
		resp, err := c.send(ctx, req)
		if err == nil {
			var progressed, ended, stop bool
			progressed, ended, stop, err = readEvents(resp.Body, onEvent)
			resp.Body.Close()
			if stop && err != nil {
				fail(err)
				return
			}
			if ended || stop {
				return
			}
			if progressed {
				tries, wait = 0, 200*time.Millisecond
			}
			if err == nil {
				err = errs.E(errs.Unavailable, "the server closed the stream early")
			}
		}
		if ctx.Err() != nil {
			fail(ctx.Err())
			return
		}
		if !errs.Is(err, errs.Unavailable) || tries+1 >= maxTries {
			fail(err)
			return
		}
		select {
		case <-ctx.Done():
			fail(ctx.Err())
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// readEvents parses text/event-stream from r and hands each event to
// onEvent, until an "end" event (ended), onEvent says stop, or r fails.
func readEvents(r io.Reader, onEvent func(event) (bool, error)) (progressed, ended, stop bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var ev event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) == 0 && ev.name == "" {
				continue
			}
			ev.data = []byte(strings.Join(data, "\n"))
			if ev.name == "end" {
				return progressed, true, false, nil
			}
			if ev.name == "error" {
				var env struct {
					Error *errs.Error `json:"error"`
				}
				if json.Unmarshal(ev.data, &env) == nil && env.Error != nil {
					return progressed, false, true, env.Error
				}
			}
			more, err := onEvent(ev)
			if err != nil {
				return progressed, false, true, errs.Wrap(errs.Internal, err, "cannot decode a streamed event: %v", err)
			}
			progressed = true
			if !more {
				return progressed, false, true, nil
			}
			ev, data = event{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: keep-alive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "id":
			ev.id = value
		case "data":
			data = append(data, value)
		}
	}
	err = sc.Err()
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		return progressed, false, false, nil
	}
	return progressed, false, false, errs.Wrap(errs.Unavailable, err, "the stream broke: %v", err)
}

// decodeBody decodes a JSON answer.
func decodeBody(resp *http.Response, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return errs.Wrap(errs.Internal, err, "cannot decode the server's answer: %v", err)
	}
	return nil
}
