package engine

import "sync"

// Notifier tells followers of a run (SSE streams of status and logs) that
// something about it changed. Followers re-read the store; a notification
// carries no data, so a slow follower only misses redundant wake-ups.
type Notifier struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func NewNotifier() *Notifier { return &Notifier{subs: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives after each change of runID,
// and a function to stop.
func (n *Notifier) Subscribe(runID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs[runID] == nil {
		n.subs[runID] = map[chan struct{}]struct{}{}
	}
	n.subs[runID][ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs[runID], ch)
		if len(n.subs[runID]) == 0 {
			delete(n.subs, runID)
		}
		n.mu.Unlock()
	}
}

// Notify wakes every follower of runID without blocking.
func (n *Notifier) Notify(runID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[runID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
