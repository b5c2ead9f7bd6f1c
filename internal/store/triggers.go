package store

import (
	"context"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// TriggerQuerier is the triggers' part of Querier: the triggers, their
// queue of items (one per event, deduplicated per trigger by a key) and
// the schedules' state.
//
// An item is queued, then started (its run created in the same
// transaction, so a run exists if and only if its item says started),
// then done (its run finished), or failed (it could not start a run).
type TriggerQuerier interface {
	// PutTrigger creates a trigger or replaces its spec (and labels):
	// Version starts at 1 and grows when either changes; changed says
	// whether it did. The webhook secret, queue and state are kept.
	PutTrigger(ctx context.Context, t v1.Trigger) (stored v1.Trigger, changed bool, err error)
	GetTrigger(ctx context.Context, project, name string) (Trigger, error)
	// ListTriggers lists a project's triggers by name (every project's
	// with project empty, by project then name).
	ListTriggers(ctx context.Context, project string) ([]Trigger, error)
	// DeleteTrigger deletes a trigger with its queue and state; runs it
	// started stay.
	DeleteTrigger(ctx context.Context, project, name string) error
	// SetTriggerSecret stores the hash of the trigger's webhook secret
	// ("" removes it).
	SetTriggerSecret(ctx context.Context, project, name, hash string) error
	// SetTriggerError records the trigger's last error ("" clears it).
	SetTriggerError(ctx context.Context, project, name, msg string, at time.Time) error
	// LockTrigger returns the trigger, row-locked for the rest of the
	// transaction on PostgreSQL (FOR UPDATE; with skipLocked, a trigger
	// another transaction holds is errs.Conflict instead of a wait).
	LockTrigger(ctx context.Context, project, name string, skipLocked bool) (Trigger, error)

	// EnqueueTriggerItems inserts items (ID, State and EnqueuedAt are
	// set by the store, State queued unless given as failed); an item
	// whose (project, trigger, key) is already queued or was ever is
	// skipped. It returns how many it inserted.
	EnqueueTriggerItems(ctx context.Context, items []TriggerItem) (int, error)
	// QueuedTriggers lists the triggers that have queued or started
	// items, with how many are queued: the starter finishes the items of
	// runs that ended after the last item started, too.
	QueuedTriggers(ctx context.Context) ([]TriggerBacklog, error)
	// NextTriggerItems returns up to limit of the trigger's queued items,
	// oldest first (call it with the trigger locked).
	NextTriggerItems(ctx context.Context, project, trigger string, limit int) ([]TriggerItem, error)
	// StartTriggerItem marks a queued item started with its run;
	// FailTriggerItem marks it failed with why. Either fails with
	// errs.Conflict if the item is not queued any more.
	StartTriggerItem(ctx context.Context, id int64, runID string, at time.Time) error
	FailTriggerItem(ctx context.Context, id int64, msg string, at time.Time) error
	// FinishTriggerItems marks done the trigger's started items whose runs
	// ended, and returns how many started items are left (runs in flight).
	FinishTriggerItems(ctx context.Context, project, trigger string, at time.Time) (int, error)
	// GetTriggerItemByRun is the item that started runID (errs.NotFound
	// for a run no trigger started).
	GetTriggerItemByRun(ctx context.Context, runID string) (TriggerItem, error)
	// ListTriggerItems lists a trigger's items, oldest first.
	ListTriggerItems(ctx context.Context, f TriggerItemFilter) ([]TriggerItem, error)
	// TriggerQueueStats counts a trigger's items by state.
	TriggerQueueStats(ctx context.Context, project, trigger string) (TriggerQueueStats, error)

	// PruneTriggerHistory deletes what has served its purpose before
	// `before`, at most limit of each kind, oldest first: dispatched data
	// events (an undispatched one is never deleted) and queue items that
	// finished (done or failed; their dedupe keys go with them, so a key
	// is remembered for as long as its item is kept). It returns how many
	// of each went.
	PruneTriggerHistory(ctx context.Context, before time.Time, limit int) (events, items int64, err error)

	// Schedules: the last slot a schedule trigger fired (nil: never).
	GetTriggerSlot(ctx context.Context, project, trigger string) (*time.Time, error)
	SetTriggerSlot(ctx context.Context, project, trigger string, slot time.Time) error
}

// Trigger is a trigger's row: the resource plus what the store keeps
// beside it.
type Trigger struct {
	v1.Trigger
	SecretHash  string // hex SHA-256 of the webhook secret ("" none)
	LastError   string
	LastErrorAt *time.Time
}

// TriggerRef names a trigger.
type TriggerRef struct{ Project, Name string }

// TriggerBacklog is a trigger with items under way and how many of them
// wait (queued).
type TriggerBacklog struct {
	TriggerRef
	Queued int64
}

// Trigger item states.
const (
	ItemQueued  = "queued"
	ItemStarted = "started"
	ItemDone    = "done"
	ItemFailed  = "failed"
)

// TriggerItem is one event waiting for (or having started) a run.
type TriggerItem struct {
	ID      int64
	Project string
	Trigger string
	// Key deduplicates: "event:<seq>", "cron:<RFC 3339 slot>",
	// "webhook:<idempotency key>", "manual:<id>".
	Key        string
	Params     map[string]any // rendered at enqueue time
	EventAt    time.Time      // when the event happened (lag is measured from it)
	State      string
	RunID      string
	Message    string // why it failed
	EnqueuedAt time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

type TriggerItemFilter struct {
	Project, Trigger string
	State            string // "": any
	AfterID          int64
	Limit            int // 0: 1000
}

// TriggerQueueStats is a trigger's queue by state.
type TriggerQueueStats struct {
	Queued, Started, Done, Failed int64
	// InFlight counts the started items whose runs have not ended (Started
	// may still hold some whose runs ended since the starter last looked).
	InFlight     int64
	OldestQueued *time.Time // enqueue time of the oldest queued item
}
