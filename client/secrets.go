package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/koya-dev/koya/errs"
)

// Secret describes a project secret. Its value is write-only: no answer of
// the API carries it (only the attempts of steps that list it receive it).
type Secret struct {
	Project   string    `json:"project"`
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
}

// SetSecret stores value as the secret's next version.
func (c *Client) SetSecret(ctx context.Context, project, name string, value []byte) (Secret, error) {
	var out Secret
	if err := need(project); err != nil {
		return out, err
	}
	resp, err := c.send(ctx, request{method: http.MethodPut, path: projectPath(project, "secrets", name),
		body: bytes.NewReader(value), contentType: "application/octet-stream"})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, errs.Wrap(errs.Internal, err, "cannot decode the server's answer to setting secret %s: %v", name, err)
	}
	return out, nil
}

// Secrets lists a project's secrets: names and versions, never values.
func (c *Client) Secrets(ctx context.Context, project string) ([]Secret, error) {
	var out []Secret
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "secrets"), nil, nil, &out)
}

// DeleteSecret erases a secret; steps that list it fail from then on.
func (c *Client) DeleteSecret(ctx context.Context, project, name string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, projectPath(project, "secrets", name), nil, nil, nil)
}
