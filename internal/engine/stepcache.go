package engine

import (
	"sync"

	"github.com/koya-dev/koya/internal/store"
)

// stepCache keeps runs' step rows between planning passes: a run of a
// thousand steps would otherwise be read whole at every pass. An entry is
// good while the run's StepsVersion (moved by every step row change, by
// any writer) is the one it was read or written at.
type stepCache struct {
	mu sync.Mutex
	m  map[string]cachedSteps
}

type cachedSteps struct {
	version int64
	steps   []store.Step
}

// maxCachedRuns bounds the cache: past it, it starts over.
const maxCachedRuns = 4096

func newStepCache() *stepCache { return &stepCache{m: map[string]cachedSteps{}} }

// get returns a copy of the run's steps at version.
func (c *stepCache) get(runID string, version int64) ([]store.Step, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[runID]
	if !ok || e.version != version {
		return nil, false
	}
	return append([]store.Step(nil), e.steps...), true
}

// put keeps steps (not copied: callers hand over their slice) at version.
func (c *stepCache) put(runID string, version int64, steps []store.Step) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedRuns {
		c.m = map[string]cachedSteps{}
	}
	c.m[runID] = cachedSteps{version: version, steps: steps}
}

func (c *stepCache) drop(runID string) {
	c.mu.Lock()
	delete(c.m, runID)
	c.mu.Unlock()
}

// applied is steps with the plan's changed rows in place: what the store
// holds once the plan committed, at version+len(changed) (one UpdateStep
// each).
func applied(steps []store.Step, changed []store.Step) []store.Step {
	out := append([]store.Step(nil), steps...)
	at := make(map[string]int, len(out))
	for i, s := range out {
		at[s.Name] = i
	}
	for _, s := range changed {
		if i, ok := at[s.Name]; ok {
			out[i] = s
		}
	}
	return out
}
