package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/pgtest"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

// The triggers' promise: a burst of 10,000 uploads, with the control plane
// killed -9 in the middle of it (while the trigger's queue has a backlog),
// ends with exactly 10,000 runs, one per file. Files are written by this
// process straight into the server's database (as another replica's
// uploads would be): the server sees them only through the outbox of data
// events, so nothing but the outbox, the queue and their transactions can
// make the count right.
//
// It runs on the embedded SQLite and on PostgreSQL. KOYA_BURST_FILES
// changes the number of files; KOYA_BURST_NOKILL=1 runs without the kill,
// to measure (bench/trigger_burst.sh).
func TestTriggerBurstKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers and 10,000 runs")
	}
	t.Run("sqlite", func(t *testing.T) { triggerBurst(t, "") })
	t.Run("postgres", func(t *testing.T) { triggerBurst(t, pgtest.Fresh(t)) })
}

// triggerBurst runs the burst against a server on db (a postgres:// URL),
// or on the embedded SQLite of its data directory if db is empty.
func triggerBurst(t *testing.T, db string) {
	files := 10000
	if n, err := strconv.Atoi(os.Getenv("KOYA_BURST_FILES")); err == nil && n > 0 {
		files = n
	}
	kill := os.Getenv("KOYA_BURST_NOKILL") == ""
	ctx := context.Background()
	h := newBurstHarness(t, db)
	h.start()

	dir := t.TempDir()
	docs := `apiVersion: koya.dev/v1
kind: Workflow
metadata: {name: infer}
spec:
  params:
    file: {type: string}
    id: {type: string}
  steps:
    - {name: infer, command: ["true"], backend: mock}
---
apiVersion: koya.dev/v1
kind: Trigger
metadata: {name: infer-new}
spec:
  workflow: infer
  datalake: {channel: raw}
  params: {file: "{{ event.file.path }}", id: "{{ event.file.id }}"}
  concurrency: 200
`
	path := filepath.Join(dir, "burst.yaml")
	if err := os.WriteFile(path, []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := storeopen.Open(ctx, h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutChannel(ctx, store.Channel{Project: "default", Name: "raw"}); err != nil {
		t.Fatal(err)
	}
	h.koya("apply", "-f", path)

	// The writer: batches of 100 files, one transaction each, going on
	// whatever happens to the server.
	uploaded := map[string]string{} // file id -> path
	werr := make(chan error, 1)
	began := time.Now()
	go func() {
		ids := map[string]string{}
		for b := 0; b < files; b += 100 {
			err := st.Tx(ctx, func(q store.Querier) error {
				for i := b; i < min(b+100, files); i++ {
					f, _, err := q.PutFile(ctx, store.File{Project: "default", Channel: "raw", Path: fmt.Sprintf("img/%05d.jpg", i),
						ContentType: "image/jpeg", Size: int64(i), Digest: "sha256:00", Ref: fmt.Sprintf("burst/%d", i), Meta: json.RawMessage(`{}`)})
					if err != nil {
						return err
					}
					ids[f.ID] = f.Path
				}
				return nil
			})
			if err != nil {
				werr <- err
				return
			}
			if kill {
				// A breath between batches. SQLite has one write lock and
				// its busy handler polls for it (every 100 ms at most)
				// without a queue: a writer that takes it again the
				// moment it commits starves another process's writes,
				// and a restarted server's migration failed after its
				// 10 s busy timeout (seen once under the full suite's
				// load). Uploads through a server never do that: they
				// share its one writer.
				time.Sleep(20 * time.Millisecond)
			}
		}
		for k, v := range ids {
			uploaded[k] = v
		}
		werr <- nil
	}()

	stats := func() store.TriggerQueueStats {
		t.Helper()
		s, err := st.TriggerQueueStats(ctx, "default", "infer-new")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if kill {
		// Kill while runs are being started and items wait.
		deadline := time.Now().Add(90 * time.Second)
		for {
			s := stats()
			if s.Queued > 0 && s.Started+s.Done >= int64(files)/4 {
				t.Logf("kill -9 at queued %d, started %d, done %d", s.Queued, s.Started, s.Done)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no backlog to kill into: %+v", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		h.kill9()
		time.Sleep(300 * time.Millisecond) // uploads go on without a control plane
		h.start()
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(began)

	deadline := time.Now().Add(150 * time.Second)
	for {
		s := stats()
		if s.Queued == 0 && s.Started+s.Done+s.Failed >= int64(files) {
			if s.Failed != 0 {
				t.Fatalf("%d items failed", s.Failed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs not started in time: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Every run is the trigger's, one per file, with that file's params.
	var runs []store.Run
	var before int64
	for {
		page, err := st.ListRuns(ctx, store.RunFilter{Project: "default", BeforeSeq: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, page...)
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].Seq
	}
	if len(runs) != files {
		t.Fatalf("%d runs, want %d", len(runs), files)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		id, _ := r.Params["id"].(string)
		if seen[id] {
			t.Fatalf("file %s has two runs", id)
		}
		seen[id] = true
		if p, ok := uploaded[id]; !ok || r.Params["file"] != p {
			t.Fatalf("run %s: params %v match no uploaded file", r.ID, r.Params)
		}
	}
	if len(seen) != len(uploaded) || len(uploaded) != files {
		t.Fatalf("%d files with a run, %d uploaded, want %d", len(seen), len(uploaded), files)
	}

	// Figures: lag from each file's event to its run, and the rate.
	var lags []time.Duration
	var first, last time.Time
	var after int64
	for {
		items, err := st.ListTriggerItems(ctx, store.TriggerItemFilter{Project: "default", Trigger: "infer-new", AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.StartedAt == nil {
				t.Fatalf("item %s has no start time", it.Key)
			}
			lags = append(lags, it.StartedAt.Sub(it.EventAt))
			if first.IsZero() || it.EventAt.Before(first) {
				first = it.EventAt
			}
			if it.StartedAt.After(last) {
				last = *it.StartedAt
			}
		}
		if len(items) < 1000 {
			break
		}
		after = items[len(items)-1].ID
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pct := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	t.Logf("%d files written in %v; %d runs started in %v (%.0f runs/s from the first event); lag event→run p50 %v p99 %v max %v; kill -9: %v",
		files, wrote.Round(time.Millisecond), len(lags), last.Sub(first).Round(time.Millisecond), float64(len(lags))/last.Sub(first).Seconds(),
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond), kill)
}

// burstHarness runs `koya server --backend mock` on one data directory.
type burstHarness struct {
	*harness
	db string
}

// newBurstHarness serves from db (a postgres:// URL, given as KOYA_DB), or
// from the SQLite file of its data directory if db is empty.
func newBurstHarness(t *testing.T, db string) *burstHarness {
	h := &harness{t: t, bin: koyaBinary(t), dir: t.TempDir(), addr: freeAddr(t)}
	for _, d := range []string{h.dir, filepath.Dir(h.dir)} { // the local backend checks it could run tasks
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	h.env = append(os.Environ(), "HOME="+h.dir, "KOYA_CONFIG="+filepath.Join(h.dir, "config.yaml"),
		"KOYA_SERVER=", "KOYA_TOKEN=", "KOYA_PROJECT=", "KOYA_KEK_FILE="+filepath.Join(h.dir, "kek"))
	t.Cleanup(func() {
		if h.server != nil && h.server.Process != nil {
			_ = h.server.Process.Signal(syscall.SIGTERM)
			_ = h.server.Wait()
		}
	})
	if db == "" {
		db = filepath.Join(h.dir, "data", "koya.db")
	} else {
		h.env = append(h.env, "KOYA_DB="+db)
	}
	return &burstHarness{harness: h, db: db}
}

func (h *burstHarness) start() {
	h.t.Helper()
	log, err := os.OpenFile(filepath.Join(h.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "server", "--addr", h.addr, "--data-dir", filepath.Join(h.dir, "data"), "--backend", "mock", "--max-running", "256")
	cmd.Env, cmd.Stdout, cmd.Stderr = h.env, log, log
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.server = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := h.run("get", "projects"); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "server.log"))
	h.t.Fatalf("server did not come up on %s:\n%s", h.addr, b)
}
