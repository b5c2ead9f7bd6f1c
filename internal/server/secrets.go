package server

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Secrets are write-only: a value comes in with PUT, is sealed with the
// project's key before the store sees it, and goes out only to the agent of
// an attempt whose step lists it. Values are never logged nor audited.

// MaxSecretBytes caps one secret's value.
const MaxSecretBytes = 64 << 10

// secretKind is the keys kind of secret values; the object id is the
// secret's name, so a sealed value cannot be moved to another name or
// project. (Its version is not bound: whoever can write the table can
// roll back the version column along with the value.)
const secretKind = "secret"

// secretName is the rule api/v1 checks a step's `secrets:` against (a
// secret arrives as an environment variable of its name), plus a length
// cap: any name a step may list can be set.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

func (s *Server) secretRoutes() []route {
	return []route{
		{method: "GET", path: pProject + "/secrets", id: "listSecrets", summary: "A project's secrets: names and versions, never values.", access: project,
			resp: []client.Secret{}, handler: s.listSecrets},
		{method: "PUT", path: pProject + "/secrets/{name}", id: "setSecret", access: project,
			summary: "Store the body (at most 64 KiB) as the secret's next version; it is encrypted with the project's key and never shown again.",
			body:    "", bodyType: "application/octet-stream", resp: client.Secret{}, handler: s.setSecret},
		{method: "DELETE", path: pProject + "/secrets/{name}", id: "deleteSecret", summary: "Erase a secret (steps that list it fail from then on).", access: project,
			status: http.StatusNoContent, handler: s.deleteSecret},
		{method: "GET", path: pAgent + "/secrets", id: "agentSecrets", summary: "An agent receives the values of the secrets its step lists (agent token).", access: agent,
			resp: v1.AgentSecrets{}, handler: s.agentSecrets},
	}
}

func checkSecretName(name string) error {
	if !secretName.MatchString(name) {
		return errs.At(errs.Invalid, "name", "%q is not a secret name: secrets arrive as environment variables, so use letters, digits and '_' (at most 128), not starting with a digit, e.g. WANDB_API_KEY", name)
	}
	if strings.HasPrefix(strings.ToUpper(name), "KOYA_") {
		return errs.At(errs.Invalid, "name", "%q: names starting with KOYA_ are reserved for the variables koya sets", name)
	}
	return nil
}

func secretOut(sec store.Secret) client.Secret {
	return client.Secret{Project: sec.Project, Name: sec.Name, Version: sec.Version, CreatedAt: sec.CreatedAt, CreatedBy: sec.CreatedBy}
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.store.ListSecrets(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	out := []client.Secret{}
	for _, sec := range ls {
		out = append(out, secretOut(sec))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) setSecret(w http.ResponseWriter, r *http.Request) error {
	ctx, project, name := r.Context(), r.PathValue("project"), r.PathValue("name")
	if err := checkSecretName(name); err != nil {
		return err
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSecretBytes))
	defer clear(value) // the plaintext lives no longer than the request
	if isTooLarge(err) {
		return errs.E(errs.TooLarge, "secret %s: a value may hold at most %d KiB", name, MaxSecretBytes>>10)
	}
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "secret %s: the upload was cut: %v", name, err)
	}
	if len(value) == 0 {
		return errs.At(errs.Invalid, "body", "secret %s: the value is empty", name)
	}
	sealed, err := s.keys.Encrypt(ctx, project, secretKind, name, value)
	if err != nil {
		return err
	}
	c := callerOf(ctx)
	sec, err := s.store.PutSecret(ctx, store.Secret{Project: project, Name: name, Value: sealed, CreatedAt: s.clock().UTC(), CreatedBy: c.name()})
	if err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: c.name(), Project: project, Action: "secret.set", Object: "secret/" + name,
		Detail: fmt.Sprintf("version %d", sec.Version)})
	writeJSON(w, http.StatusOK, secretOut(sec))
	return nil
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	ctx, project, name := r.Context(), r.PathValue("project"), r.PathValue("name")
	if err := s.store.DeleteSecret(ctx, project, name); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "secret.delete", Object: "secret/" + name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentSecrets gives an attempt's agent the secrets its step lists, read
// from the task the engine rendered (never from what the agent asks for),
// all or none: a missing one fails the attempt before its command starts.
func (s *Server) agentSecrets(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// Read now, not attemptOf's (which may be seconds old): an ended
	// attempt gets no secrets.
	a, err := s.store.GetAttempt(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if a.Phase.Done() {
		return errs.E(errs.Forbidden, "attempt %s has ended (%s): its secrets are no longer delivered", a.ID, a.Phase)
	}
	t, err := s.store.GetTask(ctx, a.RunID, a.Step, a.Index)
	if err != nil {
		return err
	}
	out := v1.AgentSecrets{Secrets: []v1.AgentSecret{}}
	var missing []string
	for _, name := range t.Manifest.Secrets {
		sec, err := s.store.GetSecret(ctx, a.Project, name)
		if errs.Is(err, errs.NotFound) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return err
		}
		value, err := s.keys.Decrypt(ctx, a.Project, secretKind, name, sec.Value)
		if err != nil {
			return errs.Wrap(errs.CodeOf(err), err, "secret %s of project %s cannot be decrypted: %v", name, a.Project, errs.Public(err).Message)
		}
		out.Secrets = append(out.Secrets, v1.AgentSecret{Name: name, Version: sec.Version, Value: value})
	}
	if len(missing) > 0 {
		return errs.E(errs.NotFound, "step %s lists secrets that project %s does not have: %s (set them with 'koya secret set NAME')",
			a.Step, a.Project, strings.Join(missing, ", "))
	}
	for _, sec := range out.Secrets {
		s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: a.Project, Action: "secret.deliver", Object: "secret/" + sec.Name,
			Detail: fmt.Sprintf("attempt %s (version %d)", a.ID, sec.Version)})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}
