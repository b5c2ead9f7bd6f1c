package store

import "time"

// Keyset is a project's encryption keysets as persisted: only ever wrapped
// by the key-encryption key (see internal/keys), never readable without it.
type Keyset struct {
	Project   string
	Version   int64  // counts writes, from 1; PutKeyset compares it
	KEK       string // name of the KEK that wrapped it
	Wrapped   []byte
	UpdatedAt time.Time
}

// Rewrap records that a project's data is being moved to one of its keys
// after a rotation, so that a move cut by a restart is taken up again: at
// most one per project, removed once a move ran to its end.
type Rewrap struct {
	Project string
	Key     uint32 // the key the data moves to
	Since   time.Time
}
