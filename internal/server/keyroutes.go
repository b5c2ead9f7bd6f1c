package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/store"
)

// keyRoutes are the routes of project keys (rotation, status), for owners.
func (s *Server) keyRoutes() []route {
	owner := func(rt route) route {
		rt.access, rt.role, rt.resp = project, v1.RoleOwner, client.ProjectKeys{}
		return rt
	}
	return []route{
		owner(route{method: "GET", path: pProject + "/keys", id: "listKeys", handler: s.listKeys,
			summary: "The project's encryption keys, how much data each encrypts, and the progress of moving data to the primary key (owner).",
			query:   []param{{"counts", "boolean", "count the artifacts and log lines under each key (default true; reads every artifact's first bytes)"}}}),
		owner(route{method: "POST", path: pProject + "/keys/rotate", id: "rotateKey", handler: s.rotateKey,
			summary: "Make a new primary key and start moving the project's data to it (owner)."}),
		owner(route{method: "POST", path: pProject + "/keys/rewrap", id: "rewrapKeys", handler: s.rewrapKeys,
			summary: "Start moving the project's data to the primary key again, after a restart or failures (owner)."}),
		owner(route{method: "POST", path: pProject + "/keys/{key}/disable", id: "disableKey", handler: s.disableKey,
			summary: "Make data under a key unreadable; refused for the primary key and while data is left under it (owner)."}),
		owner(route{method: "POST", path: pProject + "/keys/{key}/enable", id: "enableKey", handler: s.enableKey,
			summary: "Make a disabled key's data readable again (owner)."}),
	}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	counts, err := boolParam(r.URL.Query().Get("counts"))
	if err != nil {
		return errs.At(errs.Invalid, "counts", "%v", err)
	}
	if r.URL.Query().Get("counts") == "" {
		counts = true
	}
	out, err := s.projectKeys(r.Context(), r.PathValue("project"), counts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// projectKeys describes project's keys; a project that never stored
// anything has none yet.
func (s *Server) projectKeys(ctx context.Context, project string, counts bool) (client.ProjectKeys, error) {
	out := client.ProjectKeys{Project: project, Keys: []client.KeyInfo{}, Rewrap: s.rewrapStatus(project)}
	if _, err := s.store.GetProject(ctx, project); err != nil {
		return out, err
	}
	ks, err := s.keys.ListKeys(ctx, project)
	if errs.Is(err, errs.NotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var c *census
	if counts {
		got, err := s.count(ctx, project)
		if err != nil {
			return out, err
		}
		c, out.Counted, out.UnencryptedArtifacts = &got, true, got.plainArtifacts
	}
	out.Keys = keyInfos(ks, c)
	return out, nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	if _, err := s.store.GetProject(ctx, project); err != nil {
		return err
	}
	old, err := s.primaryKey(ctx, project)
	first := errs.Is(err, errs.NotFound)
	if err != nil && !first {
		return err
	}
	id, err := s.keys.Rotate(ctx, project)
	if err != nil {
		return err
	}
	detail := "first key"
	if !first {
		detail = fmt.Sprintf("replaces key %d as primary; moving the project's data to it", old)
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "key.rotate",
		Object: keyObject(id), Detail: detail})
	return s.answerRewrap(w, r, project)
}

func (s *Server) rewrapKeys(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	id, err := s.primaryKey(ctx, project)
	if errs.Is(err, errs.NotFound) {
		return errs.E(errs.Conflict, "project %s has no keys yet: nothing to move", project)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "key.rewrap",
		Object: keyObject(id), Detail: "moving the project's data to its primary key"})
	return s.answerRewrap(w, r, project)
}

// answerRewrap starts moving project's data to its primary key and answers
// with the keys, uncounted (the job is counting).
func (s *Server) answerRewrap(w http.ResponseWriter, r *http.Request, project string) error {
	if err := s.startRewrap(r.Context(), project); err != nil {
		return err
	}
	out, err := s.projectKeys(r.Context(), project, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) disableKey(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	k, err := s.keyOf(r)
	if err != nil {
		return err
	}
	if k.Primary {
		return errs.E(errs.Conflict, "key %d is the primary key of project %s: rotate first (koya project rotate-key)", k.ID, project)
	}
	if !k.Enabled {
		return s.answerKeys(w, r, project) // nothing to do, nothing to audit
	}
	// Counted now, not from the job's progress: a job may have missed data
	// written meanwhile by a server with stale keys.
	c, err := s.count(ctx, project)
	if err != nil {
		return err
	}
	if n := c.under(k.ID); n > 0 {
		msg := "wait for the move to the primary key to finish (koya project keys shows it)"
		if st := s.rewrapStatus(project); st == nil || !st.Running {
			msg = "move it first (koya project rewrap)"
		}
		if c.artifacts[k.ID]+c.logs[k.ID] == 0 {
			msg = "set them again (koya secret set) to encrypt them with the primary key"
		}
		return errs.E(errs.Conflict, "%d artifacts, %d log lines and %d secrets of project %s are still encrypted under key %d: %s",
			c.artifacts[k.ID], c.logs[k.ID], c.secrets[k.ID], project, k.ID, msg)
	}
	if err := s.keys.Disable(ctx, project, k.ID); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "key.disable",
		Object: keyObject(k.ID), Detail: "data under it can no longer be read"})
	return s.answerKeys(w, r, project)
}

func (s *Server) enableKey(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	k, err := s.keyOf(r)
	if err != nil {
		return err
	}
	if k.Enabled {
		return s.answerKeys(w, r, project)
	}
	if err := s.keys.Enable(ctx, project, k.ID); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "key.enable",
		Object: keyObject(k.ID), Detail: "data under it can be read again"})
	return s.answerKeys(w, r, project)
}

func (s *Server) answerKeys(w http.ResponseWriter, r *http.Request, project string) error {
	out, err := s.projectKeys(r.Context(), project, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// keyOf finds the key {key} of the request's project.
func (s *Server) keyOf(r *http.Request) (keys.KeyInfo, error) {
	ctx, project, raw := r.Context(), r.PathValue("project"), r.PathValue("key")
	id, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		return keys.KeyInfo{}, errs.At(errs.Invalid, "key", "%q is not a key id (see koya project keys)", raw)
	}
	if _, err := s.store.GetProject(ctx, project); err != nil {
		return keys.KeyInfo{}, err
	}
	ks, err := s.keys.ListKeys(ctx, project)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return keys.KeyInfo{}, err
	}
	for _, k := range ks {
		if k.ID == uint32(id) {
			return k, nil
		}
	}
	return keys.KeyInfo{}, errs.E(errs.NotFound, "project %s has no key %d", project, id)
}

func keyObject(id uint32) string { return "key/" + strconv.FormatUint(uint64(id), 10) }
