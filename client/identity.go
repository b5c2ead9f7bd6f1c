package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// User is a principal: a person, or a service account of one project
// (Kind "service", Name "<project>:<name>").
type User struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Admin     bool      `json:"admin,omitempty"`
	Project   string    `json:"project,omitempty"`
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// UserRequest is the body of POST /api/v1/users.
type UserRequest struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin,omitempty"`
}

// Member is a principal's role in a project.
type Member struct {
	Project   string    `json:"project"`
	Principal string    `json:"principal"`
	Role      v1.Role   `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

// MemberRequest is the body of PUT .../members/{principal}.
type MemberRequest struct {
	Role v1.Role `json:"role"`
}

// ServiceAccountRequest is the body of POST .../serviceaccounts.
type ServiceAccountRequest struct {
	Name string  `json:"name"`
	Role v1.Role `json:"role"`
}

// Whoami is the caller as the server sees it.
type Whoami struct {
	Subject   string     `json:"subject"`
	Kind      string     `json:"kind"`
	Admin     bool       `json:"admin,omitempty"`
	Project   string     `json:"project,omitempty"` // the token opens only this project
	Members   []Member   `json:"memberships"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// TokenRequest is the body of POST /api/v1/tokens. Subject defaults to
// the caller; ExpiresIn is a Go duration ("720h"), empty for none.
type TokenRequest struct {
	Subject     string `json:"subject,omitempty"`
	Project     string `json:"project,omitempty"`
	Description string `json:"description,omitempty"`
	ExpiresIn   string `json:"expiresIn,omitempty"`
}

// Token describes an API token; Secret is set only in the answer that
// created it (it is stored hashed and never shown again).
type Token struct {
	ID          string     `json:"id"`
	Subject     string     `json:"subject"`
	Project     string     `json:"project,omitempty"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	Revoked     bool       `json:"revoked,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	Secret      string     `json:"secret,omitempty"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Project string    `json:"project,omitempty"`
	Action  string    `json:"action"`
	Object  string    `json:"object,omitempty"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// AuditFilter selects audit entries (newest first).
type AuditFilter struct {
	Project, Actor, Action string
	Since                  time.Time
	Before                 int64
	Limit                  int
}

func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var out Whoami
	return out, c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &out)
}

func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out []User
	return out, c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &out)
}

func (c *Client) CreateUser(ctx context.Context, req UserRequest) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPost, "/api/v1/users", nil, req, &out)
}

// DisableUser disables a user and revokes their tokens.
func (c *Client) DisableUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (Token, error) {
	var out Token
	return out, c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, req, &out)
}

// Tokens lists tokens: the caller's, or subject's ("" for the caller).
func (c *Client) Tokens(ctx context.Context, subject string) ([]Token, error) {
	var out []Token
	q := url.Values{}
	if subject != "" {
		q.Set("subject", subject)
	}
	return out, c.do(ctx, http.MethodGet, "/api/v1/tokens", q, nil, &out)
}

func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

func (c *Client) Members(ctx context.Context, project string) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, http.MethodGet, projectPath(project)+"/members", nil, nil, &out)
}

func (c *Client) SetMember(ctx context.Context, project, principal string, role v1.Role) (Member, error) {
	var out Member
	return out, c.do(ctx, http.MethodPut, projectPath(project)+"/members/"+url.PathEscape(principal), nil, MemberRequest{Role: role}, &out)
}

func (c *Client) RemoveMember(ctx context.Context, project, principal string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/members/"+url.PathEscape(principal), nil, nil, nil)
}

func (c *Client) ServiceAccounts(ctx context.Context, project string) ([]User, error) {
	var out []User
	return out, c.do(ctx, http.MethodGet, projectPath(project)+"/serviceaccounts", nil, nil, &out)
}

func (c *Client) CreateServiceAccount(ctx context.Context, project string, req ServiceAccountRequest) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPost, projectPath(project)+"/serviceaccounts", nil, req, &out)
}

// DeleteServiceAccount disables the account, revokes its tokens and
// removes its membership.
func (c *Client) DeleteServiceAccount(ctx context.Context, project, name string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/serviceaccounts/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := url.Values{}
	for k, v := range map[string]string{"project": f.Project, "actor": f.Actor, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if f.Before > 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []AuditEntry
	return out, c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &out)
}
