package keys

import (
	"bytes"
	"context"
	"sync"

	"github.com/koya-dev/koya/errs"
)

// Stored is a project's keysets as persisted: only ever wrapped by the KEK.
type Stored struct {
	// Version counts writes of the project's keysets, starting at 1; it is
	// what PutKeyset compares to detect a concurrent change.
	Version int64
	// KEK is the Name of the KEK that wrapped the keysets, kept to explain a
	// failure to unwrap after the KEK was changed.
	KEK string
	// Wrapped is opaque: the keysets encrypted by the KEK, with the key ids
	// and creation times bound to them.
	Wrapped []byte
}

// KeysetStore persists wrapped project keysets. The database packages
// implement it in one table (project, version, kek, wrapped).
type KeysetStore interface {
	// GetKeyset returns the project's keysets, or an errs.NotFound error.
	GetKeyset(ctx context.Context, project string) (Stored, error)
	// PutKeyset stores s for project if the stored version is still
	// expectVersion (0: nothing stored yet), and the stored version becomes
	// expectVersion+1 whatever s.Version says. Otherwise it returns an
	// errs.Conflict error and changes nothing.
	PutKeyset(ctx context.Context, project string, s Stored, expectVersion int64) error
}

// MemStore is a KeysetStore in memory, for tests and single-process tools.
// The zero value is ready to use.
type MemStore struct {
	mu sync.Mutex
	m  map[string]Stored
}

var _ KeysetStore = (*MemStore)(nil)

// GetKeyset implements KeysetStore. The result shares no memory with the
// store, like a row read from a database.
func (s *MemStore) GetKeyset(ctx context.Context, project string) (Stored, error) {
	if err := ctx.Err(); err != nil {
		return Stored{}, errs.Wrap(errs.Unavailable, err, "keyset store: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[project]
	if !ok {
		return Stored{}, errs.E(errs.NotFound, "project %q has no keys", project)
	}
	st.Wrapped = bytes.Clone(st.Wrapped)
	return st, nil
}

// PutKeyset implements KeysetStore.
func (s *MemStore) PutKeyset(ctx context.Context, project string, st Stored, expectVersion int64) error {
	if err := ctx.Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "keyset store: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[project].Version != expectVersion {
		return errs.E(errs.Conflict, "keys of project %q changed concurrently", project)
	}
	if s.m == nil {
		s.m = make(map[string]Stored)
	}
	st.Version = expectVersion + 1
	st.Wrapped = bytes.Clone(st.Wrapped)
	s.m[project] = st
	return nil
}
