package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ProjectKeys describes a project's encryption keys (owners only).
type ProjectKeys struct {
	Project string    `json:"project"`
	Keys    []KeyInfo `json:"keys"`
	// Counted says whether the keys' Artifacts and LogLines were counted
	// (GET .../keys?counts=false skips it: it reads every artifact's
	// first bytes).
	Counted bool `json:"counted,omitempty"`
	// UnencryptedArtifacts are stored in the clear, by a koya from before
	// encryption at rest; they are not served.
	UnencryptedArtifacts int64 `json:"unencryptedArtifacts,omitempty"`
	// Rewrap is the last job moving the project's data to its primary key
	// started by this server, if any.
	Rewrap *Rewrap `json:"rewrap,omitempty"`
}

// KeyInfo is one key of a project and, when counted, how much of the
// project's data it encrypts.
type KeyInfo struct {
	ID        uint32    `json:"id"`
	Primary   bool      `json:"primary"` // new data is encrypted with it
	Enabled   bool      `json:"enabled"` // data under it can be read
	Created   time.Time `json:"created"`
	Artifacts int64     `json:"artifacts"`
	// DataObjects are datalake files' contents (and their parts).
	DataObjects int64 `json:"dataObjects"`
	LogLines    int64 `json:"logLines"`
	// Secrets are not moved by a rewrap: setting a secret again encrypts
	// it with the primary key.
	Secrets int64 `json:"secrets"`
}

// Rewrap is the progress of moving a project's data to its primary key,
// started by every rotation. A key can be disabled once nothing is left
// under it.
type Rewrap struct {
	Running bool   `json:"running"`
	Key     uint32 `json:"key"`   // the key data is moved to
	Total   int64  `json:"total"` // items under other keys when the job started
	Done    int64  `json:"done"`
	Failed  int64  `json:"failed,omitempty"`
	// Error is the last failure (of an item, or of the job).
	Error    string     `json:"error,omitempty"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
}

func keysPath(project string) string { return projectPath(project) + "/keys" }

// Keys lists the project's keys; with counts, how much data each holds.
func (c *Client) Keys(ctx context.Context, project string, counts bool) (ProjectKeys, error) {
	var out ProjectKeys
	q := url.Values{"counts": {strconv.FormatBool(counts)}}
	return out, c.do(ctx, http.MethodGet, keysPath(project), q, nil, &out)
}

// RotateKey makes a new primary key and starts moving the project's data
// to it.
func (c *Client) RotateKey(ctx context.Context, project string) (ProjectKeys, error) {
	var out ProjectKeys
	return out, c.do(ctx, http.MethodPost, keysPath(project)+"/rotate", nil, nil, &out)
}

// RewrapKeys starts moving the project's data to its primary key again
// (after a server restart cut a job, or to retry failures).
func (c *Client) RewrapKeys(ctx context.Context, project string) (ProjectKeys, error) {
	var out ProjectKeys
	return out, c.do(ctx, http.MethodPost, keysPath(project)+"/rewrap", nil, nil, &out)
}

// DisableKey makes data under key id unreadable; refused while data is
// left under it, and for the primary key.
func (c *Client) DisableKey(ctx context.Context, project string, id uint32) (ProjectKeys, error) {
	var out ProjectKeys
	return out, c.do(ctx, http.MethodPost, keysPath(project)+"/"+strconv.FormatUint(uint64(id), 10)+"/disable", nil, nil, &out)
}

// EnableKey undoes DisableKey.
func (c *Client) EnableKey(ctx context.Context, project string, id uint32) (ProjectKeys, error) {
	var out ProjectKeys
	return out, c.do(ctx, http.MethodPost, keysPath(project)+"/"+strconv.FormatUint(uint64(id), 10)+"/enable", nil, nil, &out)
}
