package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Principal kinds.
const (
	KindUser    = "user"
	KindService = "service" // a service account: automation (CI deploys, triggers)
)

// Principal is who acts through tokens: a person, or a service account of
// one project. Tokens name their principal in Subject; what a token may do
// is decided at each request from the principal (Admin, Disabled) and its
// memberships, so taking someone out of a project is one membership delete.
type Principal struct {
	Name      string // unique; service accounts are "<project>:<name>"
	Kind      string // KindUser or KindService
	Admin     bool   // opens every project and the admin routes
	Project   string // a service account's project ("" for users)
	Disabled  bool   // its tokens no longer authenticate
	CreatedAt time.Time
}

// Membership gives a principal a role in a project.
type Membership struct {
	Project   string
	Principal string
	Role      v1.Role
	CreatedAt time.Time
}

// MembershipFilter selects memberships; empty fields match all.
type MembershipFilter struct {
	Project   string
	Principal string
}

// Audit outcomes.
const (
	AuditOK     = "ok"
	AuditDenied = "denied"
)

// AuditEntry is one line of the append-only audit log: who did what to
// which object of which project, and whether it was allowed.
type AuditEntry struct {
	Seq     int64 // assigned by the store, increasing
	Time    time.Time
	Actor   string // principal name ("" when unauthenticated)
	Project string // "" for actions outside projects (users, admin)
	Action  string // e.g. "member.add", "token.create", "secret.set", "access.denied"
	Object  string // what it was done to, e.g. "member/alice", "token/tok_…", "GET /api/v1/projects/x/runs"
	Outcome string // AuditOK or AuditDenied
	Detail  string // free text, never a secret
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Project string
	Actor   string
	Action  string // exact, or a prefix ending in "." ("member." matches member.add)
	Since   *time.Time
	Before  int64 // only entries with Seq < Before (paging); 0: no bound
	Limit   int   // 0: 100
}

// TokenFilter selects tokens for listing; agent (attempt) tokens are never
// listed.
type TokenFilter struct {
	Subject string // "" for every subject
}

// NewSecret makes a bearer token secret with a prefix saying what it is
// for ("koya_" for people and service accounts, "koya_att_" for agents:
// secret scanners and people can tell them apart) and the hash to store.
func NewSecret(prefix string) (secret, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is how a bearer secret is stored (Token.Hash): hex SHA-256.
// Secrets are 256 random bits, so a fast hash is enough.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
