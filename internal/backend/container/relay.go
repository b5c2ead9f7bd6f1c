package container

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// relays are the attempts' relays of this driver, by attempt id.
type relays struct {
	mu sync.Mutex
	m  map[string]*relay
	// tr carries every relay's requests to the control plane.
	tr *http.Transport
}

// relay serves one attempt's agent on a Unix socket: its own agent routes
// only, forwarded to the control plane with the attempt's token.
type relay struct {
	srv *http.Server
}

func newRelays() *relays {
	return &relays{m: map[string]*relay{}, tr: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
	}}
}

// ensure serves the attempt's relay unless this driver already does. A
// socket left by an earlier control plane is replaced.
func (rs *relays) ensure(d *Driver, attemptID, dir string, m *v1.TaskManifest) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m[attemptID] != nil {
		return nil
	}
	target, err := url.Parse(m.Server)
	if err != nil || target.Scheme != "http" && target.Scheme != "https" || target.Host == "" {
		return errs.At(errs.Invalid, "server", "the control plane URL %q is not an http(s) URL", m.Server)
	}
	sdir := filepath.Join(dir, sockDir)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return errs.Wrap(errs.Internal, err, "creating the relay directory")
	}
	sock := filepath.Join(sdir, socketName)
	if len(sock) > 107 {
		return errs.E(errs.Invalid, "container backend: the relay socket %s is longer than a Unix socket path may be (107 bytes): use a shorter root", sock)
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "listening on %s", sock)
	}
	// Any uid in the container connects (the socket's directory is
	// mounted read-only; only this attempt's container mounts it).
	if err := os.Chmod(sock, 0o666); err != nil {
		ln.Close()
		return errs.Wrap(errs.Internal, err, "opening %s to the container", sock)
	}
	r := &relay{srv: &http.Server{Handler: rs.handler(d, attemptID, dir, target, m.Token), ReadHeaderTimeout: 30 * time.Second}}
	go func() { _ = r.srv.Serve(ln) }()
	rs.m[attemptID] = r
	return nil
}

// ensureFromDisk serves the relay of an attempt found running (after a
// restart of the control plane that nobody Recovered it from).
func (rs *relays) ensureFromDisk(d *Driver, attemptID, dir string) {
	rs.mu.Lock()
	have := rs.m[attemptID] != nil
	rs.mu.Unlock()
	if have {
		return
	}
	if m, err := readTask(dir); err == nil {
		_ = rs.ensure(d, attemptID, dir, m)
	}
}

func (rs *relays) close(attemptID string) {
	rs.mu.Lock()
	r := rs.m[attemptID]
	delete(rs.m, attemptID)
	rs.mu.Unlock()
	if r != nil {
		r.srv.Close()
	}
}

func (rs *relays) closeAll() {
	rs.mu.Lock()
	all := rs.m
	rs.m = map[string]*relay{}
	rs.mu.Unlock()
	for _, r := range all {
		r.srv.Close()
	}
	rs.tr.CloseIdleConnections()
}

// handler forwards the attempt's agent routes to target with its token.
// An exit by SIGKILL is amended to OOM-killed when the container's memory
// cgroup counted an OOM kill.
func (rs *relays) handler(d *Driver, attemptID, dir string, target *url.URL, token string) http.Handler {
	prefix := "/api/v1/agent/attempts/" + attemptID + "/"
	proxy := &httputil.ReverseProxy{
		Transport: rs.tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer "+token)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// 502: the agent keeps its outbox and tries again.
			relayError(w, http.StatusBadGateway, errs.E(errs.Unavailable, "the control plane is unreachable from the relay: %v", err))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, prefix) || path.Clean(p) != p || strings.Contains(r.URL.RawPath, "%2F") || strings.Contains(r.URL.RawPath, "%2f") {
			relayError(w, http.StatusForbidden, errs.E(errs.Forbidden, "the relay of attempt %s forwards its own agent routes only", attemptID))
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(p, "/events") {
			body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
			if err != nil {
				relayError(w, http.StatusBadGateway, errs.E(errs.Unavailable, "reading the events: %v", err))
				return
			}
			body = d.amendOOM(r.Context(), attemptID, dir, body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		proxy.ServeHTTP(w, r)
	})
}

func relayError(w http.ResponseWriter, status int, e *errs.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]*errs.Error{"error": e})
}

// amendOOM marks an exited event of a SIGKILLed command OOM-killed when the
// attempt's container had an OOM kill, and records it (file oom) for
// Status and for resends after the container is gone.
func (d *Driver) amendOOM(ctx context.Context, attemptID, dir string, body []byte) []byte {
	var batch map[string][]json.RawMessage
	if json.Unmarshal(body, &batch) != nil {
		return body
	}
	changed := false
	for i, raw := range batch["events"] {
		var ev v1.AgentEvent
		if json.Unmarshal(raw, &ev) != nil || ev.Type != v1.EventExited || ev.Exit == nil || ev.Exit.Signal != 9 || ev.Exit.OOMKilled {
			continue
		}
		if !d.oomKilled(ctx, attemptID, dir) {
			continue
		}
		ev.Exit.OOMKilled = true
		if b, err := json.Marshal(ev); err == nil {
			batch["events"][i] = b
			changed = true
		}
	}
	if !changed {
		return body
	}
	b, err := json.Marshal(batch)
	if err != nil {
		return body
	}
	return b
}

// oomKilled: the relay saw it before (file oom), or the container's memory
// cgroup counts an OOM kill now.
func (d *Driver) oomKilled(ctx context.Context, attemptID, dir string) bool {
	f := filepath.Join(dir, oomFile)
	if exists(f) {
		return true
	}
	c, found, err := d.inspect(ctx, attemptID)
	if err != nil || !found {
		return false
	}
	n, err := containerOOMKills(c.State.Pid)
	if !c.State.OOMKilled && (err != nil || n == 0) {
		return false
	}
	_ = os.WriteFile(f, nil, 0o600)
	return true
}
