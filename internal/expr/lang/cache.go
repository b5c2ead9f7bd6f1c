package lang

import (
	"sync"
	"sync/atomic"
)

type kind byte

const (
	kindEnv      kind = iota // a checking environment, keyed by scope
	kindBool                 // a guard compiled for evaluation
	kindTemplate             // a template string: its parts, each compiled
)

type cacheKey struct {
	kind kind
	src  string
}

// cache memoises compiled values by (kind, source). Concurrent callers of
// the same key wait for one build; the build result, error included, is
// kept. It is bounded: when full it starts over, which is cheap (entries are
// rebuilt on demand) and keeps a long-running server's memory flat.
type cache struct {
	mu  sync.Mutex
	m   map[cacheKey]*cacheEntry
	max int
}

type cacheEntry struct {
	once sync.Once
	val  any
	err  error
}

func newCache(max int) *cache {
	return &cache{m: make(map[cacheKey]*cacheEntry), max: max}
}

func (c *cache) get(k cacheKey, build func() (any, error)) (any, error) {
	c.mu.Lock()
	e := c.m[k]
	if e == nil {
		if len(c.m) >= c.max {
			c.m = make(map[cacheKey]*cacheEntry)
		}
		e = &cacheEntry{}
		c.m[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.val, e.err = build() })
	return e.val, e.err
}

// programs caches what evaluation compiles.
var programs = newCache(8192)

// compiles counts CEL compilations for evaluation.
var compiles atomic.Int64

// Compiles reports how many expressions have been compiled for evaluation
// since the process started (tests and benchmarks assert that a repeated
// expression compiles once).
func Compiles() int64 { return compiles.Load() }
