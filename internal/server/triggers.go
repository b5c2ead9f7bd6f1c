package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/trigger"
)

const pTrigger = pProject + "/triggers/{name}"

func (s *Server) triggerRoutes() []route {
	return []route{
		{method: "GET", path: pProject + "/triggers", id: "listTriggers", summary: "A project's triggers with their queues' status.", access: project,
			resp: []v1.Trigger{}, handler: s.listTriggers},
		{method: "GET", path: pTrigger, id: "getTrigger", summary: "One trigger with its queue's status.", access: project,
			resp: v1.Trigger{}, handler: s.getTrigger},
		{method: "DELETE", path: pTrigger, id: "deleteTrigger", summary: "Delete a trigger and its queue (the runs it started stay).", access: project,
			status: http.StatusNoContent, handler: s.deleteTrigger},
		{method: "POST", path: pTrigger + "/suspend", id: "suspendTrigger", summary: "Stop starting runs (events still queue; schedules skip their slots).", access: project,
			resp: v1.Trigger{}, handler: s.suspendTrigger(true)},
		{method: "POST", path: pTrigger + "/resume", id: "resumeTrigger", summary: "Start runs again.", access: project,
			resp: v1.Trigger{}, handler: s.suspendTrigger(false)},
		{method: "POST", path: pTrigger + "/fire", id: "fireTrigger", summary: "Queue one run of the trigger by hand (a datalake trigger on a named file).", access: project,
			body: client.FireRequest{}, status: http.StatusAccepted, resp: client.FireResult{}, handler: s.fireTrigger},
		{method: "POST", path: pTrigger + "/webhook-secret", id: "rotateWebhookSecret", summary: "Make a new webhook secret (shown once; the old one stops working).", access: project,
			resp: client.WebhookSecret{}, handler: s.rotateWebhookSecret},
		// Public in the table: the handler accepts an editor's token or the
		// trigger's own webhook secret (outside systems hold only that).
		{method: "POST", path: pTrigger + "/webhook", id: "callWebhook", access: public,
			summary: "Fire a webhook trigger: Authorization: Bearer <the trigger's webhook secret, or an editor's token>; the JSON object body is event.body; Idempotency-Key dedupes.",
			body:    map[string]any{}, status: http.StatusAccepted, resp: client.FireResult{}, handler: s.callWebhook},
	}
}

// withStatus is a trigger as the API shows it.
func (s *Server) withStatus(ctx context.Context, t store.Trigger) (v1.Trigger, error) {
	st, err := trigger.Status(ctx, s.store, t, s.clock())
	if err != nil {
		return v1.Trigger{}, err
	}
	out := t.Trigger
	out.Status = &st
	return out, nil
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("project")
	if _, err := s.store.GetProject(r.Context(), p); err != nil {
		return err
	}
	ts, err := s.store.ListTriggers(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]v1.Trigger, 0, len(ts))
	for _, t := range ts {
		v, err := s.withStatus(r.Context(), t)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.GetTrigger(r.Context(), r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	v, err := s.withStatus(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request) error {
	p, name := r.PathValue("project"), r.PathValue("name")
	if err := s.store.DeleteTrigger(r.Context(), p, name); err != nil {
		return err
	}
	s.audit(r.Context(), store.AuditEntry{Actor: callerOf(r.Context()).name(), Project: p, Action: "trigger.delete", Object: "trigger/" + name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) suspendTrigger(suspend bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, name := r.PathValue("project"), r.PathValue("name")
		t, err := s.store.GetTrigger(r.Context(), p, name)
		if err != nil {
			return err
		}
		t.Spec.Suspend = suspend
		if _, _, err := s.store.PutTrigger(r.Context(), t.Trigger); err != nil {
			return err
		}
		s.cfg.Triggers.Poke()
		if t, err = s.store.GetTrigger(r.Context(), p, name); err != nil {
			return err
		}
		v, err := s.withStatus(r.Context(), t)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

func (s *Server) fireTrigger(w http.ResponseWriter, r *http.Request) error {
	p, name := r.PathValue("project"), r.PathValue("name")
	var req client.FireRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	t, err := s.store.GetTrigger(r.Context(), p, name)
	if err != nil {
		return err
	}
	var file *store.File
	if req.File != "" && t.Spec.Datalake != nil {
		f, err := s.store.GetFile(r.Context(), p, t.Spec.Datalake.Channel, req.File)
		if err != nil {
			return err
		}
		file = &f
	}
	if req.File != "" && t.Spec.Datalake == nil {
		return errs.At(errs.Invalid, "file", "trigger %s is not a datalake trigger: it takes no file", name)
	}
	key := "manual:" + uuid.NewString()
	now := s.clock()
	event, err := trigger.ManualEvent(t.Trigger, key, file, req.Body, now)
	if err != nil {
		return err
	}
	queued, err := trigger.Enqueue(r.Context(), s.store, t.Trigger, key, event, now)
	if err != nil {
		return err
	}
	s.cfg.Triggers.Poke()
	s.audit(r.Context(), store.AuditEntry{Actor: callerOf(r.Context()).name(), Project: p, Action: "trigger.fire", Object: "trigger/" + name, Detail: key})
	writeJSON(w, http.StatusAccepted, client.FireResult{Queued: queued, Key: key})
	return nil
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	p, name := r.PathValue("project"), r.PathValue("name")
	t, err := s.store.GetTrigger(r.Context(), p, name)
	if err != nil {
		return err
	}
	if t.Spec.Webhook == nil {
		return errs.At(errs.Invalid, "spec.webhook", "trigger %s is not a webhook trigger: it has no webhook secret", name)
	}
	secret, hash := store.NewSecret("koya_whk_")
	if err := s.store.SetTriggerSecret(r.Context(), p, name, hash); err != nil {
		return err
	}
	s.audit(r.Context(), store.AuditEntry{Actor: callerOf(r.Context()).name(), Project: p, Action: "trigger.secret", Object: "trigger/" + name})
	writeJSON(w, http.StatusOK, client.WebhookSecret{Trigger: name, Secret: secret,
		URL: "/api/v1/projects/" + p + "/triggers/" + name + "/webhook"})
	return nil
}

// callWebhook authenticates by the trigger's secret or an editor's token,
// then queues one item keyed by the Idempotency-Key header (a resent call
// queues nothing) with the JSON body as event.body.
func (s *Server) callWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, name := r.PathValue("project"), r.PathValue("name")
	t, terr := s.store.GetTrigger(ctx, p, name)
	if terr != nil && !errs.Is(terr, errs.NotFound) {
		return terr
	}
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	bySecret := terr == nil && t.SecretHash != "" && strings.EqualFold(scheme, "Bearer") && secret != "" &&
		subtle.ConstantTimeCompare([]byte(store.HashSecret(secret)), []byte(t.SecretHash)) == 1
	if !bySecret {
		c, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="koya"`)
			return err
		}
		ctx = context.WithValue(ctx, callerKey{}, c)
		if err := s.requireRole(ctx, p, v1.RoleEditor, "POST "+r.URL.Path); err != nil {
			return err
		}
	}
	if terr != nil {
		return terr
	}
	if t.Spec.Webhook == nil {
		return errs.At(errs.Invalid, "spec.webhook", "trigger %s is not a webhook trigger", name)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return normalise(err)
	}
	body := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return errs.At(errs.Invalid, "body", "the webhook body must be a JSON object (or empty): %v", err)
		}
	}
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(key) > 200 {
		return errs.At(errs.Invalid, "Idempotency-Key", "at most 200 characters")
	}
	if key == "" {
		key = uuid.NewString()
	}
	dedupe := "webhook:" + key
	now := s.clock()
	queued, err := trigger.Enqueue(ctx, s.store, t.Trigger, dedupe, trigger.WebhookEvent(key, body, now), now)
	if err != nil {
		return err
	}
	s.cfg.Triggers.Poke()
	writeJSON(w, http.StatusAccepted, client.FireResult{Queued: queued, Key: dedupe})
	return nil
}

// putTrigger validates t and creates or updates it (dry: only says what it
// would do); projectDeclared: the project is applied in the same body.
func (s *Server) putTrigger(r *http.Request, t v1.Trigger, dry, projectDeclared bool) (client.Applied, error) {
	res := client.Applied{Kind: "Trigger", Name: t.Metadata.Name, Project: t.Metadata.Project}
	t.Status = nil
	if err := t.Validate().Err(); err != nil {
		return res, err
	}
	if err := s.requireProject(r.Context(), t.Metadata.Project, dry && projectDeclared); err != nil {
		return res, err
	}
	old, err := s.store.GetTrigger(r.Context(), t.Metadata.Project, t.Metadata.Name)
	exists := err == nil
	if err != nil && !errs.Is(err, errs.NotFound) {
		return res, err
	}
	if dry {
		res.Action, res.Version = dryAction(exists, sameJSON(old.Spec, t.Spec) && sameJSON(old.Metadata.Labels, t.Metadata.Labels), old.Metadata.Version)
		return res, nil
	}
	stored, changed, err := s.store.PutTrigger(r.Context(), t)
	if err != nil {
		return res, err
	}
	res.Action, res.Version = appliedAction(exists, changed), stored.Metadata.Version
	if changed {
		s.cfg.Triggers.Poke()
		s.audit(r.Context(), store.AuditEntry{Actor: callerOf(r.Context()).name(), Project: t.Metadata.Project, Action: "trigger.apply", Object: "trigger/" + t.Metadata.Name})
	}
	return res, nil
}

// dataChanged tells the triggers that file writes committed: call it after
// the transaction of an upload, a metadata change or a delete.
func (s *Server) dataChanged() { s.cfg.Triggers.Poke() }
