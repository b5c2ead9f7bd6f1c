package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

func TestErrorsComeBackCoded(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/projects/p/runs/x":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"run x not found in project p"}}`)
		case "/api/v1/projects/p/workflows":
			w.WriteHeader(http.StatusForbidden) // no body
		default:
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "upstream down")
		}
	}))
	defer hs.Close()
	c := New(hs.URL+"/", "tok")
	ctx := context.Background()

	_, err := c.GetRun(ctx, "p", "x")
	if !errs.Is(err, errs.NotFound) || err.Error() != "run x not found in project p" {
		t.Errorf("GetRun: %v", err)
	}
	if _, err := c.ListWorkflows(ctx, "p"); !errs.Is(err, errs.Forbidden) {
		t.Errorf("ListWorkflows: %v", err)
	}
	if _, err := c.Projects(ctx); !errs.Is(err, errs.Internal) || !strings.Contains(err.Error(), "upstream down") {
		t.Errorf("Projects: %v", err)
	}
	if _, err := c.ListRuns(ctx, "", RunFilter{}); !errs.Is(err, errs.Invalid) {
		t.Errorf("no project: %v", err)
	}
	dead := New("http://127.0.0.1:1", "tok")
	if _, err := dead.Projects(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("unreachable server: %v", err)
	}
}

// A log stream cut before its end resumes after the last line seen.
func TestStreamLogsResumes(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" || r.URL.Query().Get("follow") != "1" {
			t.Errorf("request: %v %v", r.Header, r.URL.Query())
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch calls.Add(1) {
		case 1:
			fmt.Fprint(w, ": keep-alive\n\n")
			fmt.Fprint(w, "id: 1\nevent: log\ndata: {\"text\":\"one\",\"cursor\":1}\n\n")
			// the connection ends without "end": a restart of the server
		case 2:
			if got := r.URL.Query().Get("after"); got != "1" {
				t.Errorf("resumed after %q, want 1", got)
			}
			fmt.Fprint(w, "id: 2\nevent: log\ndata: {\"text\":\"two\",\"cursor\":2}\n\n")
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			fmt.Fprint(w, "event: log\ndata: {\"text\":\"never\",\"cursor\":3}\n\n")
		}
	}))
	defer hs.Close()
	c := New(hs.URL, "tok")
	var got []string
	for l, err := range c.StreamLogs(context.Background(), "p", "r", LogOptions{Follow: true}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Text)
	}
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("lines: %v", got)
	}
}

func TestWatchStopsEarly(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "event: run\ndata: {\"metadata\":{\"name\":\"r%d\"},\"spec\":{\"workflow\":\"w\"},\"status\":{\"phase\":\"Running\"}}\n\n", i)
		}
	}))
	defer hs.Close()
	var seen []v1.Run
	for r, err := range New(hs.URL, "").Watch(context.Background(), "p", "r") {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, r)
		if len(seen) == 2 {
			break
		}
	}
	if len(seen) != 2 || seen[1].Metadata.Name != "r1" {
		t.Fatalf("seen %+v", seen)
	}
}
