// Package trigger starts runs on events: datalake changes (read from the
// store's outbox of data events), cron schedules and webhook calls.
//
// Every event becomes one queue item per trigger it fires, inserted with a
// dedupe key ("event:<seq>", "cron:<slot>", "webhook:<key>"), so a replayed
// event inserts nothing. The dispatcher claims data events, plans the items
// (PlanEvents, pure) and marks the events dispatched in one transaction; the
// starter creates a run and marks its item started in one transaction. A
// kill -9 at any point therefore neither loses an event nor doubles a run.
package trigger

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// eventTypes maps a trigger's event names to the store's data event types.
var eventTypes = map[string]string{
	"created": store.FileCreated,
	"updated": store.FileUpdated,
	"meta":    store.FileMeta,
	"deleted": store.FileDeleted,
}

// Compiled is a datalake trigger ready to match events.
type Compiled struct {
	Project, Name, Channel string
	CreatedAt              time.Time // events before it are not the trigger's
	Types                  map[string]bool
	Filter                 query.Expr // nil: every file
	Params                 map[string]string
}

// Compile prepares a datalake trigger; ok is false for other sources.
func Compile(t v1.Trigger) (c Compiled, ok bool, err error) {
	d := t.Spec.Datalake
	if d == nil {
		return c, false, nil
	}
	c = Compiled{Project: t.Metadata.Project, Name: t.Metadata.Name, Channel: d.Channel, CreatedAt: t.Metadata.CreatedAt,
		Types: map[string]bool{}, Params: t.Spec.Params}
	events := d.Events
	if len(events) == 0 {
		events = []string{"created"}
	}
	for _, e := range events {
		typ, known := eventTypes[e]
		if !known {
			return c, true, fmt.Errorf("unknown event %q", e)
		}
		c.Types[typ] = true
	}
	if strings.TrimSpace(d.Filter) != "" {
		if c.Filter, err = query.Parse(d.Filter); err != nil {
			return c, true, err
		}
	}
	return c, true, nil
}

// PlanEvents is the dispatcher's decision, pure: one queue item per
// (event, trigger) where the trigger is of the event's project and
// channel, lists its type, was created before it and its filter matches
// the file. Items whose params cannot be rendered come back failed.
func PlanEvents(events []store.DataEvent, triggers []Compiled) []store.TriggerItem {
	var items []store.TriggerItem
	for _, ev := range events {
		var fields query.Fields
		var tree map[string]any
		for _, t := range triggers {
			if t.Project != ev.Project || t.Channel != ev.Channel || !t.Types[ev.Type] || ev.At.Before(t.CreatedAt) {
				continue
			}
			if tree == nil {
				fields, tree = eventFields(ev), DataEventTree(ev)
			}
			if t.Filter != nil && !query.Match(t.Filter, fields) {
				continue
			}
			it := store.TriggerItem{Project: t.Project, Trigger: t.Name, Key: fmt.Sprintf("event:%d", ev.Seq), EventAt: ev.At}
			params, err := v1.ExpandTriggerParams(t.Params, tree)
			if err != nil {
				it.State, it.Message = store.ItemFailed, err.Error()
			}
			it.Params = params
			items = append(items, it)
		}
	}
	return items
}

// eventFields is what a filter sees of an event's file: the file after the
// change (before it, for a delete).
func eventFields(ev store.DataEvent) query.Fields {
	f := query.Fields{Path: ev.Path, Size: ev.Size, ContentType: ev.ContentType, Digest: ev.Digest, Created: ev.At, Updated: ev.At}
	_ = json.Unmarshal(ev.Meta, &f.Meta)
	if f.Meta == nil {
		f.Meta = map[string]any{}
	}
	return f
}

// DataEventTree is the event a datalake trigger's params see.
func DataEventTree(ev store.DataEvent) map[string]any {
	var meta map[string]any
	_ = json.Unmarshal(ev.Meta, &meta)
	if meta == nil {
		meta = map[string]any{}
	}
	return map[string]any{
		"type": ev.Type, "id": fmt.Sprintf("event:%d", ev.Seq), "time": ev.At.UTC().Format(time.RFC3339Nano),
		"seq": float64(ev.Seq), "channel": ev.Channel,
		"file": map[string]any{
			"id": ev.FileID, "path": ev.Path, "channel": ev.Channel, "size": float64(ev.Size), "digest": ev.Digest,
			"content_type": ev.ContentType, "version": float64(ev.Version), "meta": meta,
		},
	}
}

// simpleTree is the event of a schedule, webhook or manual firing.
func simpleTree(typ, id string, at time.Time, body map[string]any) map[string]any {
	tree := map[string]any{"type": typ, "id": id, "time": at.UTC().Format(time.RFC3339Nano)}
	if body != nil {
		tree["body"] = body
	}
	return tree
}
