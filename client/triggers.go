package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// FireRequest is the body of a manual firing (koya trigger fire): File
// names the file of a datalake trigger's channel to act on; Body is
// event.body.
type FireRequest struct {
	File string         `json:"file,omitempty"`
	Body map[string]any `json:"body,omitempty"`
}

// FireResult says whether a firing or webhook call queued an item: false
// when its key was queued before (a resent webhook call).
type FireResult struct {
	Queued bool   `json:"queued"`
	Key    string `json:"key"`
}

// WebhookSecret is a trigger's new webhook secret, shown once.
type WebhookSecret struct {
	Trigger string `json:"trigger"`
	Secret  string `json:"secret"`
	URL     string `json:"url"` // path of the webhook, relative to the server
}

// Triggers lists a project's triggers with their status.
func (c *Client) Triggers(ctx context.Context, project string) ([]v1.Trigger, error) {
	var out []v1.Trigger
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "triggers"), nil, nil, &out)
}

// GetTrigger is one trigger with its status.
func (c *Client) GetTrigger(ctx context.Context, project, name string) (v1.Trigger, error) {
	var out v1.Trigger
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "triggers", name), nil, nil, &out)
}

// DeleteTrigger deletes a trigger and its queue (runs it started stay).
func (c *Client) DeleteTrigger(ctx context.Context, project, name string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, projectPath(project, "triggers", name), nil, nil, nil)
}

// SuspendTrigger stops (suspend true) or resumes a trigger's runs.
func (c *Client) SuspendTrigger(ctx context.Context, project, name string, suspend bool) (v1.Trigger, error) {
	var out v1.Trigger
	if err := need(project); err != nil {
		return out, err
	}
	verb := "resume"
	if suspend {
		verb = "suspend"
	}
	return out, c.do(ctx, http.MethodPost, projectPath(project, "triggers", name, verb), nil, nil, &out)
}

// FireTrigger queues one item of a trigger by hand.
func (c *Client) FireTrigger(ctx context.Context, project, name string, req FireRequest) (FireResult, error) {
	var out FireResult
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, projectPath(project, "triggers", name, "fire"), nil, req, &out)
}

// RotateWebhookSecret makes a new webhook secret for a trigger (the old one
// stops working) and returns it: it is never shown again.
func (c *Client) RotateWebhookSecret(ctx context.Context, project, name string) (WebhookSecret, error) {
	var out WebhookSecret
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, projectPath(project, "triggers", name, "webhook-secret"), nil, nil, &out)
}

// CallWebhook calls a trigger's webhook with body (a JSON object, or nil)
// and an idempotency key (empty: none): as an outside system would,
// with the client's token or, given, the trigger's own secret.
func (c *Client) CallWebhook(ctx context.Context, project, name string, body map[string]any, idempotencyKey, secret string) (FireResult, error) {
	var out FireResult
	if err := need(project); err != nil {
		return out, err
	}
	if body == nil {
		body = map[string]any{}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return out, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+projectPath(project, "triggers", name, "webhook"), bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	token := c.token
	if secret != "" {
		token = secret
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", c.UserAgent)
	if idempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return out, errs.Wrap(errs.Unavailable, err, "cannot reach the koya server at %s: %v", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, errs.Wrap(errs.Internal, err, "cannot decode the server's answer to the webhook call: %v", err)
	}
	return out, nil
}
