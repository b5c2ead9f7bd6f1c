package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"time"
)

// deliverer sends the outbox to the control plane in order: log lines
// first (so a task's lines precede its exit), then events. While the
// control plane is unreachable or failing it backs off, capped, and keeps
// everything on disk.
type deliverer struct {
	ob       *outbox
	cl       *client
	opts     Options
	log      *slog.Logger
	onCancel func()

	wake chan struct{}
	done chan struct{} // closed once the outbox is fully delivered
}

const (
	maxLinesPerPost  = 2000
	maxBytesPerPost  = 4 << 20
	maxEventsPerPost = 500
	requestTimeout   = 30 * time.Second
)

func newDeliverer(ob *outbox, cl *client, opts Options, log *slog.Logger, onCancel func()) *deliverer {
	return &deliverer{ob: ob, cl: cl, opts: opts, log: log, onCancel: onCancel,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// poke asks for a delivery now (a new event).
func (d *deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *deliverer) run(ctx context.Context) {
	var b backoff
	if d.ob.fresh {
		// A new attempt has nothing to send until its first event, and
		// that one waits for company like any other. (This goroutine may
		// well start after the command did: a flush first thing would
		// send the start alone.)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			d.linger(ctx)
		}
	}
	for {
		ok := d.flush(ctx)
		if d.ob.done() {
			d.ob.markDelivered()
			close(d.done)
			return
		}
		if ok {
			b.reset()
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				d.linger(ctx)
			case <-time.After(d.opts.BatchEvery):
			}
			continue
		}
		// New events do not shorten a backoff: the control plane is hurting.
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.next(d.opts)):
		}
	}
}

// linger holds a delivery back for up to Options.Linger while the command
// has not exited: a command that ends within it has its start and exit
// sent in one request (and one transaction of the control plane) instead
// of two; the start of a longer one is reported that much later.
func (d *deliverer) linger(ctx context.Context) {
	t := time.NewTimer(d.opts.Linger)
	defer t.Stop()
	for !d.ob.hasExited() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-d.wake:
		}
	}
}

// flush sends everything pending; false when the control plane failed.
// Events are sent up to the last one there was before the log lines were
// read: the exit is recorded after the command's last line, so a task's
// lines always reach the control plane before its exit does.
func (d *deliverer) flush(ctx context.Context) bool {
	upTo := d.ob.events.last()
	for {
		recs, err := d.ob.logs.pending(maxLinesPerPost, maxBytesPerPost)
		if err != nil {
			d.log.Error("reading the log outbox", "err", err)
			return false
		}
		if len(recs) == 0 {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err = d.cl.postLogs(rctx, raws(recs))
		cancel()
		if err != nil {
			d.log.Warn("delivering log lines", "err", err)
			return false
		}
		d.ob.logs.ack(recs[len(recs)-1])
		_ = d.ob.saveAcked()
	}
	for {
		recs, err := d.ob.events.pending(maxEventsPerPost, maxBytesPerPost)
		if err != nil {
			d.log.Error("reading the event outbox", "err", err)
			return false
		}
		for len(recs) > 0 && recs[len(recs)-1].Seq > upTo {
			recs = recs[:len(recs)-1] // newer than the log lines sent: next flush
		}
		if len(recs) == 0 {
			return true
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		ack, err := d.cl.postEvents(rctx, raws(recs))
		cancel()
		if err != nil {
			d.log.Warn("delivering events", "err", err)
			return false
		}
		if ack.Cancel {
			d.onCancel()
		}
		first := recs[0].Seq
		switch {
		case ack.Applied >= first:
			for _, r := range recs {
				if r.Seq <= ack.Applied {
					d.ob.events.ack(r)
				}
			}
			_ = d.ob.saveAcked()
			if ack.Applied < recs[len(recs)-1].Seq {
				return false // applied up to a gap or a refusal: try again later
			}
		case ack.Applied < first-1:
			// The control plane has less than it once acknowledged
			// (restored from a backup): send again from where it is.
			d.log.Warn("control plane is behind; resending events", "applied", ack.Applied, "sent_from", first)
			if err := d.ob.events.rewind(ack.Applied); err != nil {
				d.log.Error("rewinding the event outbox", "err", err)
			}
			return false
		default:
			return false // nothing applied
		}
	}
}

func raws(recs []record) []json.RawMessage {
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		out[i] = r.Raw
	}
	return out
}

// backoff is capped exponential with jitter.
type backoff struct{ cur time.Duration }

func (b *backoff) reset() { b.cur = 0 }

func (b *backoff) next(o Options) time.Duration {
	switch {
	case b.cur == 0:
		b.cur = o.BackoffMin
	case b.cur < o.BackoffMax:
		b.cur *= 2
	}
	if b.cur > o.BackoffMax {
		b.cur = o.BackoffMax
	}
	// ±20% so that many agents behind one outage do not return in step.
	j := time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
	return j
}

// retry runs f until it succeeds, fails for good, ctx ends or the give-up
// limit passes; failures the control plane may recover from back off.
func retry(ctx context.Context, o Options, log *slog.Logger, what string, f func(ctx context.Context) error) error {
	var b backoff
	deadline := time.Now().Add(o.GiveUp)
	for {
		err := f(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		log.Warn("will retry", "what", what, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.next(o)):
		}
	}
}
