package trigger

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Enqueue queues one item of trigger t for an event (a schedule's slot, a
// webhook call, a manual firing), its params rendered against event. It
// reports false when the trigger already had an item with key (a resent
// webhook, a slot fired by another replica).
func Enqueue(ctx context.Context, q store.Querier, t v1.Trigger, key string, event map[string]any, at time.Time) (bool, error) {
	it := store.TriggerItem{Project: t.Metadata.Project, Trigger: t.Metadata.Name, Key: key, EventAt: at}
	params, err := v1.ExpandTriggerParams(t.Spec.Params, event)
	if err != nil {
		return false, err
	}
	it.Params = params
	n, err := q.EnqueueTriggerItems(ctx, []store.TriggerItem{it})
	return n == 1, err
}

// WebhookEvent is the event of a webhook call: body is the JSON object
// sent (event.body), id the idempotency key or the request's id.
func WebhookEvent(id string, body map[string]any, at time.Time) map[string]any {
	if body == nil {
		body = map[string]any{}
	}
	return simpleTree("webhook", id, at, body)
}

// ManualEvent is the event of koya trigger fire: for a datalake trigger,
// file is the file to act on (as if it had just been written); body is
// event.body.
func ManualEvent(t v1.Trigger, id string, file *store.File, body map[string]any, at time.Time) (map[string]any, error) {
	if t.Spec.Datalake == nil {
		if file != nil {
			return nil, errs.At(errs.Invalid, "file", "trigger %s is not a datalake trigger: it takes no file", t.Metadata.Name)
		}
		if body == nil {
			body = map[string]any{}
		}
		return simpleTree("manual", id, at, body), nil
	}
	if file == nil {
		return nil, errs.At(errs.Invalid, "file", "trigger %s acts on files of channel %s: name one to fire it on", t.Metadata.Name, t.Spec.Datalake.Channel)
	}
	tree := DataEventTree(store.DataEvent{Type: "manual", Project: file.Project, Channel: file.Channel, FileID: file.ID, Path: file.Path,
		Version: file.Version, Size: file.Size, Digest: file.Digest, ContentType: file.ContentType, Meta: file.Meta, At: at})
	tree["id"] = id
	delete(tree, "seq")
	if body != nil {
		tree["body"] = body
	}
	return tree, nil
}

// scheduleRound fires the schedule triggers whose slot came (the latest
// missed one only, see Due) and sleeps until the next slot.
func (s *Service) scheduleRound(ctx context.Context) (time.Duration, error) {
	ts, err := s.store.ListTriggers(ctx, "")
	if err != nil {
		return 0, err
	}
	now := s.clock()
	wait := s.cfg.ScheduleEvery
	fired := false
	for _, t := range ts {
		sc := t.Spec.Schedule
		if sc == nil {
			continue
		}
		sched, loc, err := v1.ParseSchedule(*sc)
		if err != nil {
			s.log.Warn("trigger has a bad schedule", "project", t.Metadata.Project, "trigger", t.Metadata.Name, "err", err)
			continue
		}
		last, err := s.store.GetTriggerSlot(ctx, t.Metadata.Project, t.Metadata.Name)
		if err != nil {
			return 0, err
		}
		base := t.Metadata.CreatedAt
		if last != nil {
			base = *last
		}
		fire, next := Due(sched, loc, base, now)
		if fire != nil {
			slot := *fire
			err := s.store.Tx(ctx, func(q store.Querier) error {
				if !t.Spec.Suspend { // a suspended schedule skips its slots
					key := "cron:" + slot.UTC().Format(time.RFC3339)
					if _, err := Enqueue(ctx, q, t.Trigger, key, simpleTree("schedule", key, slot, nil), slot); err != nil {
						return err
					}
				}
				return q.SetTriggerSlot(ctx, t.Metadata.Project, t.Metadata.Name, slot)
			})
			if err != nil {
				return 0, fmt.Errorf("trigger %s/%s slot %s: %w", t.Metadata.Project, t.Metadata.Name, slot, err)
			}
			fired = fired || !t.Spec.Suspend
		}
		if !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
	}
	if fired {
		wake(s.startWake)
	}
	return max(wait, time.Millisecond), nil
}
