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
