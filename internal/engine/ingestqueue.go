package engine

import (
	"sync"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// ingestCall is one Ingest call waiting for, or in, a group commit.
type ingestCall struct {
	attemptID string
	events    []v1.AgentEvent
	ack       v1.AgentEventAck
	err       error
	lead      bool          // set before wake: this call commits the next batch
	wake      chan struct{} // one signal: applied, or lead
}

// ingestQueue is a group commit without a goroutine of its own: the first
// caller commits its call; calls that come meanwhile queue, and when the
// commit is over the first of them commits the whole queue, and so on.
// A caller commits at most one batch, its own call in it: none waits for
// more than the batches of the calls ahead of it and its own.
type ingestQueue struct {
	mu      sync.Mutex
	pending []*ingestCall
	busy    bool // a caller is committing
}

// maxIngestBatch bounds a batch, and so the transaction that applies it.
const maxIngestBatch = 100

// join queues c and returns once commit has applied it (and set its ack
// or err), in a batch committed by this caller or by another.
func (q *ingestQueue) join(c *ingestCall, commit func(batch []*ingestCall)) {
	q.mu.Lock()
	q.pending = append(q.pending, c)
	if q.busy {
		q.mu.Unlock()
		<-c.wake
		if !c.lead {
			return
		}
		q.mu.Lock()
	}
	q.busy = true
	n := min(len(q.pending), maxIngestBatch)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()

	// Whatever commit does, the batch's other callers are answered and
	// the queue moves on: a panic here would otherwise stop all
	// ingestion. The panic itself goes on up this caller's stack.
	defer func() {
		p := recover()
		for _, o := range batch {
			if p != nil {
				o.err = errs.E(errs.Internal, "applying agents' reports: %v", p)
			}
			if o != c {
				o.wake <- struct{}{}
			}
		}
		q.mu.Lock()
		if len(q.pending) > 0 {
			next := q.pending[0]
			next.lead = true
			next.wake <- struct{}{}
		} else {
			q.busy = false
		}
		q.mu.Unlock()
		if p != nil {
			panic(p)
		}
	}()
	commit(batch)
}
