package store

import "time"

// Secret is a project secret as persisted: its Value is the ciphertext the
// control plane sealed with the project's key (see internal/keys), never
// the plaintext. One row per name holds the latest version only: a write
// replaces the value, so an overwritten credential is not kept around.
type Secret struct {
	Project string
	Name    string
	// Version counts the writes of the name, from 1. A delete keeps the
	// count (the store keeps a tombstone without a value), so a name's
	// versions only ever grow and audit entries that name one stay
	// unambiguous.
	Version   int64
	Value     []byte // ciphertext; nil in listings
	CreatedAt time.Time
	CreatedBy string // principal that wrote this version
}
