// Package store persists koya's state behind one interface. Two real
// implementations share it (sqlite/ and postgres/) and both pass storetest/.
//
// Every method takes ctx first. Methods of Querier run on their own
// (autocommit) when called on a Store, or inside a transaction when called on
// the Querier that Store.Tx hands to its function: the engine composes a
// state change and the wake-up of the run it affects in one transaction.
package store

import (
	"context"
	"encoding/json"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// Store is a database holding koya's state.
type Store interface {
	Querier
	// Tx runs fn in one transaction: committed if fn returns nil, rolled
	// back otherwise. On SQLite the transaction takes the write lock at
	// BEGIN (so concurrent writers queue instead of failing); on PostgreSQL
	// it is READ COMMITTED and callers serialise per run with LockRun.
	Tx(ctx context.Context, fn func(q Querier) error) error
	// Dialect names the implementation ("sqlite", "postgres").
	Dialect() string
	Close() error
}

// Querier is every read and write the control plane makes. Missing rows are
// errs.NotFound; unique violations are errs.Conflict.
type Querier interface {
	// Projects and tokens.
	PutProject(ctx context.Context, p v1.Project) error // upsert by name
	GetProject(ctx context.Context, name string) (v1.Project, error)
	ListProjects(ctx context.Context) ([]v1.Project, error)
	CreateToken(ctx context.Context, t Token) error
	GetTokenByHash(ctx context.Context, hash string) (Token, error)
	GetToken(ctx context.Context, id string) (Token, error)
	// ListTokens lists user and service account tokens (never agent
	// tokens), newest first.
	ListTokens(ctx context.Context, f TokenFilter) ([]Token, error)
	RevokeToken(ctx context.Context, id string) error
	// RevokeTokensOf revokes every token of subject; it returns how many
	// were live.
	RevokeTokensOf(ctx context.Context, subject string) (int, error)

	// Identity: principals and their project roles (see identity.go).
	PutPrincipal(ctx context.Context, p Principal) error // upsert by name
	GetPrincipal(ctx context.Context, name string) (Principal, error)
	ListPrincipals(ctx context.Context) ([]Principal, error) // by name
	PutMembership(ctx context.Context, m Membership) error   // upsert by (project, principal)
	GetMembership(ctx context.Context, project, principal string) (Membership, error)
	DeleteMembership(ctx context.Context, project, principal string) error
	ListMemberships(ctx context.Context, f MembershipFilter) ([]Membership, error) // by project, then principal

	// Usage: bytes of artifacts a project stored (for its storage quota).
	// AddStorage adds n and returns the new total; StorageUsed is 0 for a
	// project that stored nothing.
	AddStorage(ctx context.Context, project string, n int64) (int64, error)
	StorageUsed(ctx context.Context, project string) (int64, error)

	// Keysets: a project's wrapped keys. PutKeyset stores k if the stored
	// version is still expectVersion (0: none yet) and makes it
	// expectVersion+1; otherwise errs.Conflict and nothing changes.
	GetKeyset(ctx context.Context, project string) (Keyset, error)
	PutKeyset(ctx context.Context, k Keyset, expectVersion int64) error
	// Rewraps: moves of a project's data to a key (see Rewrap).
	// PutRewrap replaces the project's record; DeleteRewrap removes it
	// only if it is still about key (a missing one is no error).
	PutRewrap(ctx context.Context, r Rewrap) error
	DeleteRewrap(ctx context.Context, project string, key uint32) error
	ListRewraps(ctx context.Context) ([]Rewrap, error) // by project

	// Secrets: values already sealed by the caller (see secrets.go).
	// PutSecret stores s.Value as the name's next version (1 for a new or
	// deleted-only name) and returns what it stored, without the value.
	PutSecret(ctx context.Context, s Secret) (Secret, error)
	// GetSecret is the latest version of a secret, value included.
	GetSecret(ctx context.Context, project, name string) (Secret, error)
	// ListSecrets lists a project's secrets by name: names, versions and
	// times, never values.
	ListSecrets(ctx context.Context, project string) ([]Secret, error)
	// ResealSecret replaces the value of version s.Version with s.Value:
	// the same secret under another key (key rotation). errs.Conflict if
	// the name moved on to another version meanwhile.
	ResealSecret(ctx context.Context, s Secret) error
	// DeleteSecret erases a secret's value; errs.NotFound if it has none.
	DeleteSecret(ctx context.Context, project, name string) error

	// Audit log: append-only (the stores refuse updates and deletes).
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) // newest first

	// Workflows. PutWorkflow stores a new version only when the spec or the
	// labels changed; changed reports which. Version starts at 1.
	PutWorkflow(ctx context.Context, w v1.Workflow) (stored v1.Workflow, changed bool, err error)
	GetWorkflow(ctx context.Context, project, name string) (v1.Workflow, error)
	ListWorkflows(ctx context.Context, project string) ([]v1.Workflow, error)
	DeleteWorkflow(ctx context.Context, project, name string) error

	// Runs. CreateRun inserts the run and its step rows.
	CreateRun(ctx context.Context, r Run, steps []Step) error
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// UpdateRun writes Phase, Message, CancelRequested, StartedAt, FinishedAt.
	UpdateRun(ctx context.Context, r Run) error
	// LockRun takes a row lock on the run for the rest of the transaction
	// (SELECT ... FOR UPDATE on PostgreSQL; a no-op on SQLite, whose write
	// transactions are already exclusive).
	LockRun(ctx context.Context, id string) error

	// Steps of a run, in workflow order (by Position).
	ListSteps(ctx context.Context, runID string) ([]Step, error)
	// UpdateStep writes Phase, Expanded, Items, Message, Backend, StartedAt,
	// FinishedAt.
	UpdateStep(ctx context.Context, s Step) error

	// Tasks: the items of a step (index 0 only, without foreach).
	InsertTasks(ctx context.Context, ts []Task) error
	GetTask(ctx context.Context, runID, step string, index int) (Task, error)
	// ListTasks returns tasks ordered by (step position, index).
	ListTasks(ctx context.Context, f TaskFilter) ([]Task, error)
	// UpdateTask writes Phase, Attempts, RetryBase, NextAt, Exit, Outputs,
	// Message, Backend, StartedAt, FinishedAt.
	UpdateTask(ctx context.Context, t Task) error
	// EarliestRetry is the earliest NextAt after `after` among the run's
	// Pending tasks (nil if none): when a retry's backoff ends.
	EarliestRetry(ctx context.Context, runID string, after time.Time) (*time.Time, error)
	// CountTasks counts a run's tasks by step and phase.
	// With steps, it counts only theirs.
	CountTasks(ctx context.Context, runID string, steps ...string) (map[string]map[v1.Phase]int, error)

	// Attempts.
	InsertAttempt(ctx context.Context, a Attempt) error
	GetAttempt(ctx context.Context, id string) (Attempt, error)
	ListAttempts(ctx context.Context, f AttemptFilter) ([]Attempt, error)
	// CountAttempts counts the attempts ListAttempts would return without
	// reading them (f.Limit is ignored): cheap where only a number is needed,
	// such as how many attempts are active.
	CountAttempts(ctx context.Context, f AttemptFilter) (int, error)
	// UpdateAttempt writes Phase, Handle, LastSeq, Exit, Outputs, HeartbeatAt,
	// Deadline, StartedAt, FinishedAt, Owner. With ifPhase non-empty it only
	// updates a row whose current phase is ifPhase, and reports whether it did
	// (the way to claim an attempt when several replicas share a database).
	UpdateAttempt(ctx context.Context, a Attempt, ifPhase v1.Phase) (bool, error)

	// Logs: lines keyed by (attempt, seq); a resent line is ignored.
	AppendLogs(ctx context.Context, a Attempt, lines []v1.AgentLogLine) error
	ReadLogs(ctx context.Context, f LogFilter) ([]v1.LogLine, error)

	// Wake-ups: a run that needs planning. Wake keeps the earliest due time
	// if the run is already queued. ClaimWakeups removes and returns up to
	// limit runs due at or before now; on PostgreSQL rows locked by another
	// replica's transaction are skipped (FOR UPDATE SKIP LOCKED), so call it
	// inside Tx and plan those runs in the same transaction. Runs another
	// transaction holds (LockRun) are skipped too, and claimed runs come back
	// locked as by LockRun, so a claim never waits.
	Wake(ctx context.Context, runID string, at time.Time) error
	ClaimWakeups(ctx context.Context, now time.Time, limit int) ([]string, error)

	// Step cache: outputs memoised by a key of the step's inputs.
	GetCache(ctx context.Context, project, key string) (map[string]v1.Output, error)
	PutCache(ctx context.Context, project, key string, outputs map[string]v1.Output) error

	// The datalake (datalake.go).
	DatalakeQuerier
	TriggerQuerier // triggers and their queue (triggers.go)
}

// Token is an API credential. Only the SHA-256 of the secret is stored.
type Token struct {
	ID          string
	Hash        string // hex SHA-256 of the bearer secret
	Subject     string // principal name (agent tokens: "attempt:<id>")
	Description string // what the token is for, shown in listings
	// Admin is set on tokens minted before principals existed (and on the
	// first admin's): it only counts while the principal is an admin too.
	Admin     bool
	Project   string // non-empty: the token only opens this project
	AttemptID string // non-empty: an agent token, good for this attempt only
	ExpiresAt *time.Time
	Revoked   bool
	CreatedAt time.Time
}

// Run is a run's row. Spec is the workflow spec as it was when the run was
// submitted (later edits of the workflow do not change a running run). It
// never changes, so stores may share one decoded Spec between the runs they
// return: treat it as read-only.
type Run struct {
	ID              string
	Seq             int64 // assigned by the store; orders runs by creation
	Project         string
	Workflow        string
	WorkflowVersion int64
	Spec            v1.WorkflowSpec
	Params          map[string]any
	Phase           v1.Phase
	Message         string
	CancelRequested bool
	RetryOf         string
	CreatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
	// StepsVersion counts changes to the run's step rows (UpdateStep): a
	// copy of them read at one version is current while it holds.
	StepsVersion int64
}

// Step is one node of a run's DAG.
type Step struct {
	RunID      string
	Name       string
	Position   int // index in the workflow's step list
	Phase      v1.Phase
	Expanded   bool // tasks were created (Items of them)
	Items      int
	Message    string
	Backend    string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Task is one item of a step. Manifest holds the rendered command, env,
// inputs and outputs (attempt-specific fields left empty).
type Task struct {
	RunID    string
	Step     string
	Index    int
	Item     json.RawMessage
	Phase    v1.Phase
	Manifest v1.TaskManifest
	CacheKey string
	Attempts int // attempts started so far
	// RetryBase is Attempts when the task was last re-submitted by a manual
	// retry: the retry limit counts attempts after it.
	RetryBase  int
	NextAt     *time.Time // a Pending task starts no earlier than this (retry backoff)
	Exit       *v1.Exit
	Outputs    map[string]v1.Output
	Message    string
	Backend    string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Attempt is one execution of a task.
type Attempt struct {
	ID      string
	Project string
	RunID   string
	Step    string
	Index   int
	Number  int // 1-based
	Phase   v1.Phase
	Backend string
	Reason  string // why Backend was chosen
	// Handle is the backend's opaque, versioned handle (backend.Handle as JSON).
	Handle      json.RawMessage
	LastSeq     int64 // highest agent event applied
	Exit        *v1.Exit
	Outputs     map[string]v1.Output // outputs reported so far
	Owner       string               // control-plane replica that dispatched it
	HeartbeatAt *time.Time
	Deadline    *time.Time // the engine stops the attempt after this
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

type RunFilter struct {
	Project     string // required unless AllProjects
	AllProjects bool   // list the runs of every project
	Workflow    string
	Phase       v1.Phase
	// BeforeSeq pages: only runs with Seq < BeforeSeq (0: from the newest).
	BeforeSeq int64
	Limit     int // 0: 100
}

type TaskFilter struct {
	RunID  string
	Step   string     // empty: all steps
	Phases []v1.Phase // empty: all phases
	// DueBy, if set, keeps Pending tasks whose NextAt is nil or <= DueBy
	// (other phases in Phases are unaffected).
	DueBy     *time.Time
	FromIndex int // only Index >= FromIndex
	Limit     int // 0: no limit
}

type AttemptFilter struct {
	RunID  string     // empty: all runs
	IDs    []string   // empty: any id
	Phases []v1.Phase // empty: all phases
	Limit  int
}

type LogFilter struct {
	RunID     string
	Step      string // empty: all steps
	Index     *int   // nil: all items
	AttemptID string // empty: all attempts
	// AfterCursor pages: only lines whose Cursor is greater (0: from the start).
	AfterCursor int64
	Limit       int // 0: 1000
}
