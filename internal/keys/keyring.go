package keys

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/koya-dev/koya/errs"
)

// Options tune a Keyring; the zero value is fine.
type Options struct {
	// Now is the clock for key creation times and cache ages (time.Now if nil).
	Now func() time.Time
	// CacheTTL is how long a cached keyset is trusted before its stored
	// version is checked again, which bounds how long a key disabled by
	// another server stays usable here. 0 means one minute.
	CacheTTL time.Duration
	// StreamSegment is the segment size of the streaming keys this
	// keyring creates: 0 or Segment1MiB; Segment4KiB makes keys as koya
	// made them before (tests of old data). Existing keys keep theirs.
	StreamSegment int
}

// Keyring encrypts and decrypts project data with per-project keysets kept
// in a KeysetStore, wrapped by a KEK. It is the portable type over the KEK
// drivers: validation, error codes and caching are done here once. Safe for
// concurrent use, also by several servers sharing one store.
type Keyring struct {
	kek     KEK
	store   KeysetStore
	now     func() time.Time
	ttl     time.Duration
	segment int // of new streaming keys

	mu    sync.Mutex
	slots map[string]*slot

	disabledUse atomic.Int64
}

// slot caches one project's keys.
type slot struct {
	// load serialises reading, unwrapping and writing the project's keysets,
	// so that concurrent first uses make one KEK call, not one each.
	load sync.Mutex

	mu      sync.Mutex
	keys    *projectKeys
	checked time.Time
}

// NewKeyring returns a Keyring over kek and store.
func NewKeyring(kek KEK, store KeysetStore, opts Options) *Keyring {
	k := &Keyring{kek: kek, store: store, now: opts.Now, ttl: opts.CacheTTL, segment: opts.StreamSegment, slots: make(map[string]*slot)}
	if k.now == nil {
		k.now = time.Now
	}
	if k.ttl <= 0 {
		k.ttl = time.Minute
	}
	return k
}

// DisabledKeyFailures counts reads refused because the data is under a
// disabled key: if it moves after a Disable, the re-encryption job missed
// something and the key should be enabled again.
func (k *Keyring) DisabledKeyFailures() int64 { return k.disabledUse.Load() }

func (k *Keyring) slot(project string) *slot {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.slots[project]
	if !ok {
		s = &slot{}
		k.slots[project] = s
	}
	return s
}

// cached returns the slot's keys if they were checked within the TTL.
func (k *Keyring) cached(s *slot) *projectKeys {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil && k.now().Sub(s.checked) < k.ttl {
		return s.keys
	}
	return nil
}

func (k *Keyring) install(s *slot, p *projectKeys) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.checked = p, k.now()
}

// keysFor returns the project's keys, from the cache when fresh. With create
// a project without keys gets its first key; without, it is errs.NotFound.
func (k *Keyring) keysFor(ctx context.Context, project string, create bool) (*projectKeys, error) {
	s := k.slot(project)
	if p := k.cached(s); p != nil {
		return p, nil
	}
	s.load.Lock()
	if p := k.cached(s); p != nil {
		s.load.Unlock()
		return p, nil
	}
	p, err := k.refresh(ctx, project, s)
	s.load.Unlock()
	if create && errs.Is(err, errs.NotFound) {
		return k.mutate(ctx, project, func(cur *projectKeys) (*projectKeys, error) {
			if cur != nil {
				return nil, nil // created meanwhile
			}
			return newProjectKeys(k.now(), k.segment)
		})
	}
	return p, err
}

// reload rereads the project's keys whatever their age: used when a
// ciphertext names a key this server has not seen.
func (k *Keyring) reload(ctx context.Context, project string) (*projectKeys, error) {
	s := k.slot(project)
	s.load.Lock()
	defer s.load.Unlock()
	return k.refresh(ctx, project, s)
}

// refresh reads the stored version and unwraps it unless it is the one
// cached, which saves a KEK call per TTL. The caller holds s.load.
func (k *Keyring) refresh(ctx context.Context, project string, s *slot) (*projectKeys, error) {
	cur, err := k.current(ctx, project, s)
	if err != nil {
		return nil, err
	}
	k.install(s, cur)
	return cur, nil
}

// current returns the stored keys of project (errs.NotFound if none),
// reusing the cached unwrapped form when the version matches.
func (k *Keyring) current(ctx context.Context, project string, s *slot) (*projectKeys, error) {
	st, err := k.store.GetKeyset(ctx, project)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c := s.keys
	s.mu.Unlock()
	if c != nil && c.version == st.Version {
		return c, nil
	}
	return unwrap(ctx, k.kek, project, st)
}

// maxAttempts bounds retries of a change that keeps meeting concurrent
// changes by other servers; within one Keyring changes are serialised.
const maxAttempts = 10

// mutate applies change to the project's current keys (nil if none) and
// stores the result, retrying on concurrent changes. change returns nil
// for "nothing to do", and its errors are returned as they are.
func (k *Keyring) mutate(ctx context.Context, project string, change func(cur *projectKeys) (*projectKeys, error)) (*projectKeys, error) {
	s := k.slot(project)
	s.load.Lock()
	defer s.load.Unlock()
	for range maxAttempts {
		cur, err := k.current(ctx, project, s)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return nil, err
		}
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		if next == nil {
			if cur == nil {
				return nil, errs.E(errs.NotFound, "project %q has no keys", project)
			}
			k.install(s, cur)
			return cur, nil
		}
		b, err := next.wrap(ctx, k.kek, project)
		if err != nil {
			return nil, err
		}
		var expect int64
		if cur != nil {
			expect = cur.version
		}
		err = k.store.PutKeyset(ctx, project, Stored{KEK: k.kek.Name(), Wrapped: b}, expect)
		if errs.Is(err, errs.Conflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		next.version = expect + 1
		k.install(s, next)
		return next, nil
	}
	return nil, errs.E(errs.Conflict, "keys of project %q keep changing concurrently; try again", project)
}
