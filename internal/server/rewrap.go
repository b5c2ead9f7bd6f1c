package server

import (
	"context"
	"sync"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
)

// rewraps are the jobs that move projects' data (artifacts, log lines) to
// their primary key after a rotation: at most one per project, in this
// process. A job is recorded in the store (store.Rewrap) until it runs to
// its end, so one cut by a restart is taken up by the next start
// (Resume); nothing is lost meanwhile, as old keys stay enabled until an
// owner disables them, which is refused while data is left under them.
type rewraps struct {
	mu      sync.Mutex
	jobs    map[string]*rewrapJob
	stopped bool
	// base is cancelled by Stop; jobs outlive the request that started them.
	base   context.Context
	cancel context.CancelFunc
}

func newRewraps() *rewraps {
	base, cancel := context.WithCancel(context.Background())
	return &rewraps{jobs: map[string]*rewrapJob{}, base: base, cancel: cancel}
}

type rewrapJob struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	st client.Rewrap
}

// status is a copy of the job's progress.
func (j *rewrapJob) status() *client.Rewrap {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.st
	return &st
}

func (j *rewrapJob) update(f func(st *client.Rewrap)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.st)
}

// rewrapStatus is the progress of project's last job, or nil.
func (s *Server) rewrapStatus(project string) *client.Rewrap {
	s.rewraps.mu.Lock()
	j := s.rewraps.jobs[project]
	s.rewraps.mu.Unlock()
	if j == nil {
		return nil
	}
	return j.status()
}

// startRewrap stops project's running job, if any, and starts a new one
// towards the current primary key.
func (s *Server) startRewrap(ctx context.Context, project string) error {
	primary, err := s.primaryKey(ctx, project)
	if err != nil {
		return err
	}
	rw := s.rewraps
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.stopped {
		return errs.E(errs.Unavailable, "the server is stopping")
	}
	if old := rw.jobs[project]; old != nil {
		old.cancel()
		<-old.done // a job never takes rw.mu, so this ends
	}
	// Recorded once the job before has ended: its end must not remove
	// this job's record.
	if err := s.store.PutRewrap(ctx, store.Rewrap{Project: project, Key: primary, Since: s.clock().UTC()}); err != nil {
		return err
	}
	jctx, cancel := context.WithCancel(rw.base)
	j := &rewrapJob{cancel: cancel, done: make(chan struct{}), st: client.Rewrap{Running: true, Key: primary, Started: s.clock().UTC()}}
	rw.jobs[project] = j
	go func() {
		defer close(j.done)
		defer cancel()
		err := s.rewrap(jctx, project, primary, j)
		if err != nil {
			s.log.Warn("moving data to the primary key stopped", "project", project, "err", err)
		} else if derr := s.store.DeleteRewrap(context.WithoutCancel(jctx), project, primary); derr != nil {
			// Ran to its end (items that failed are in its status, and
			// keep their key from being disabled): nothing to take up
			// after a restart, but the record stays, and the next start
			// walks the project once more.
			s.log.Warn("a finished move to the primary key is still recorded", "project", project, "err", derr)
		}
		now := s.clock().UTC()
		j.update(func(st *client.Rewrap) {
			st.Running, st.Finished = false, &now
			if err != nil {
				st.Error = errs.Public(err).Message
			}
		})
	}()
	return nil
}

// Resume takes up the moves of data to a primary key that a restart cut
// (those still recorded in the store), towards each project's primary key
// now. Call it once before serving. With several replicas each takes them
// up when it starts; a move is idempotent (what is under the primary key
// already is skipped), so the cost is a second walk, not a second copy.
func (s *Server) Resume(ctx context.Context) error {
	rs, err := s.store.ListRewraps(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		err := s.startRewrap(ctx, r.Project)
		if errs.Is(err, errs.NotFound) { // no keys (any more): nothing to move
			err = s.store.DeleteRewrap(ctx, r.Project, r.Key)
		} else if err == nil {
			s.log.Info("taking up the move of a project's data to its primary key", "project", r.Project, "since", r.Since)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rewrap counts what is under other keys than primary, then moves it,
// artifacts first. An item that fails (a disabled key, damaged data) is
// counted and the job goes on; the key it is under then cannot be
// disabled.
func (s *Server) rewrap(ctx context.Context, project string, primary uint32, j *rewrapJob) error {
	c, err := s.count(ctx, project)
	if err != nil {
		return err
	}
	j.update(func(st *client.Rewrap) { st.Total = c.besides(primary) })
	step := func(err error) {
		if err != nil {
			s.log.Warn("an item could not be moved to the primary key", "project", project, "err", err)
		}
		j.update(func(st *client.Rewrap) {
			if err != nil {
				st.Failed++
				st.Error = errs.Public(err).Message
			} else {
				st.Done++
			}
			st.Total = max(st.Total, st.Done+st.Failed) // data written meanwhile by a server with stale keys
		})
	}
	err = s.objects.Walk(ctx, project, func(o objects.Object) error {
		if !o.Encrypted || o.KeyID == primary {
			return nil
		}
		_, err := s.objects.Rewrap(ctx, project, o.Ref, primary)
		step(err)
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	if err := s.rewrapLogs(ctx, project, primary, step); err != nil {
		return err
	}
	return s.rewrapSecrets(ctx, project, primary, step)
}

// rewrapSecrets moves the latest version of each of project's secrets that
// is under another key than primary; a secret set again meanwhile is left
// to its new version (already under the primary key).
func (s *Server) rewrapSecrets(ctx context.Context, project string, primary uint32, step func(error)) error {
	ss, err := s.store.ListSecrets(ctx, project)
	if err != nil {
		return err
	}
	for _, sec := range ss {
		full, err := s.store.GetSecret(ctx, project, sec.Name)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if id, err := keys.KeyIDOf(full.Value); err == nil && id == primary {
			continue
		}
		full.Value, err = s.keys.Reencrypt(ctx, project, secretKind, full.Name, full.Value)
		if err == nil {
			if err = s.store.ResealSecret(ctx, full); errs.Is(err, errs.Conflict) {
				err = nil
			}
		}
		step(err)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// primaryKey is the id of project's primary key.
func (s *Server) primaryKey(ctx context.Context, project string) (uint32, error) {
	ks, err := s.keys.ListKeys(ctx, project)
	if err != nil {
		return 0, err
	}
	for _, k := range ks {
		if k.Primary {
			return k.ID, nil
		}
	}
	return 0, errs.E(errs.Internal, "project %q has keys but no primary", project)
}

// Stop stops the background jobs (moving data between keys) and waits for
// them until ctx ends. Call it before closing the store.
func (s *Server) Stop(ctx context.Context) error {
	rw := s.rewraps
	rw.mu.Lock()
	rw.stopped = true
	rw.cancel()
	jobs := make([]*rewrapJob, 0, len(rw.jobs))
	for _, j := range rw.jobs {
		jobs = append(jobs, j)
	}
	rw.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return errs.Wrap(errs.Unavailable, ctx.Err(), "background jobs did not stop in time")
		}
	}
	return nil
}

// keyInfos lists ks for clients, with c's counts if counted.
func keyInfos(ks []keys.KeyInfo, c *census) []client.KeyInfo {
	out := make([]client.KeyInfo, 0, len(ks))
	for _, k := range ks {
		ki := client.KeyInfo{ID: k.ID, Primary: k.Primary, Enabled: k.Enabled, Created: k.Created}
		if c != nil {
			ki.Artifacts, ki.DataObjects, ki.LogLines, ki.Secrets = c.artifacts[k.ID], c.data[k.ID], c.logs[k.ID], c.secrets[k.ID]
		}
		out = append(out, ki)
	}
	return out
}
