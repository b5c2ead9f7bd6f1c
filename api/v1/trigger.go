package v1

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // schedule time zones resolve the same on every machine

	"github.com/robfig/cron/v3"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

// Trigger starts runs of a workflow on an event: a datalake change that
// matches a filter, a cron schedule, or a webhook call. Each event becomes
// one queued item; items start runs in order, at most spec.concurrency of
// the trigger's runs unfinished at once (the rest wait in the queue).
type Trigger struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     TriggerSpec    `json:"spec"`
	Status   *TriggerStatus `json:"status,omitempty"` // written by the server
}

type TriggerSpec struct {
	// Workflow is the workflow of the project the trigger runs.
	Workflow string `json:"workflow"`
	// Exactly one source.
	Datalake *DatalakeSource `json:"datalake,omitempty"`
	Schedule *ScheduleSource `json:"schedule,omitempty"`
	Webhook  *WebhookSource  `json:"webhook,omitempty"`
	// Params are the run's params: strings with {{ event.<field> }}
	// templates (see TriggerEventFields). A value that is one template
	// keeps the field's JSON type; a missing field leaves the param out
	// (the workflow's default applies), or is empty inside a longer string.
	Params map[string]string `json:"params,omitempty"`
	// Concurrency caps the trigger's unfinished runs (default 10).
	Concurrency int `json:"concurrency,omitempty"`
	// Suspend stops starting runs; events still queue.
	Suspend bool `json:"suspend,omitempty"`
}

// DatalakeSource fires on changes to a channel's files.
type DatalakeSource struct {
	Channel string `json:"channel"`
	// Events: created, updated (new content), meta (new metadata),
	// deleted. Default: created.
	Events []string `json:"events,omitempty"`
	// Filter is a datalake query the file must match (after the change).
	Filter string `json:"filter,omitempty"`
}

// ScheduleSource fires at the times of a cron expression: five fields
// (minute hour day-of-month month day-of-week) or a descriptor (@hourly,
// @daily, @every 10m). Slots missed while the control plane was down fire
// once, at restart, for the latest missed slot.
type ScheduleSource struct {
	Cron     string `json:"cron"`
	Timezone string `json:"timezone,omitempty"` // IANA zone (default UTC)
}

// WebhookSource fires on POST .../triggers/<name>/webhook, authenticated
// by an editor's token or the trigger's own webhook secret.
type WebhookSource struct{}

// TriggerStatus is the trigger's queue, as the server sees it.
type TriggerStatus struct {
	Backlog  int `json:"backlog"`  // items queued
	InFlight int `json:"inFlight"` // runs started and not finished
	// OldestQueued is when the oldest queued item was enqueued; Lag is
	// how long it has waited.
	OldestQueued *time.Time `json:"oldestQueued,omitempty"`
	Lag          Duration   `json:"lag,omitempty"`
	Started      int64      `json:"started"` // runs started, ever
	Failed       int64      `json:"failed"`  // items that could not start a run
	LastError    string     `json:"lastError,omitempty"`
	LastErrorAt  *time.Time `json:"lastErrorAt,omitempty"`
	HasSecret    bool       `json:"hasWebhookSecret,omitempty"`
	// NextFire is a schedule's next slot.
	NextFire *time.Time `json:"nextFire,omitempty"`
}

// DefaultTriggerConcurrency is Concurrency when a trigger gives none;
// MaxTriggerConcurrency bounds it.
const (
	DefaultTriggerConcurrency = 10
	MaxTriggerConcurrency     = 10000
)

// TriggerEvents are the datalake event names a trigger may list.
var TriggerEvents = []string{"created", "updated", "meta", "deleted"}

func (t *Trigger) GetTypeMeta() TypeMeta    { return t.TypeMeta }
func (t *Trigger) GetMetadata() *ObjectMeta { return &t.Metadata }

func init() {
	kinds["Trigger"] = func() validatable { return &Trigger{} }
	for k, v := range map[string]map[string]any{
		"TriggerSpec.workflow":    {"pattern": dnsLabel.String()},
		"TriggerSpec.params":      {"propertyNames": map[string]any{"pattern": identName.String()}, "description": "run params; strings may hold {{ event.<field> }} templates"},
		"TriggerSpec.concurrency": {"minimum": 0, "maximum": MaxTriggerConcurrency, "description": fmt.Sprintf("unfinished runs at once (0: %d)", DefaultTriggerConcurrency)},
		"DatalakeSource.channel":  {"pattern": dnsLabel.String()},
		"DatalakeSource.events":   {"items": map[string]any{"enum": TriggerEvents}},
		"DatalakeSource.filter":   {"description": `a datalake query, e.g. label = "cat" and width >= 640`},
		"ScheduleSource.cron":     {"description": "minute hour day-of-month month day-of-week, or @hourly, @daily, @every 10m"},
		"ScheduleSource.timezone": {"description": "IANA time zone, e.g. Asia/Tokyo (default UTC)"},
		"Trigger.status":          {"readOnly": true},
	} {
		annotations[k] = v
	}
}

// cronParser reads five-field expressions and descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a schedule: its cron expression and time zone.
func ParseSchedule(s ScheduleSource) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	if s.Timezone != "" {
		l, err := time.LoadLocation(s.Timezone)
		if err != nil || strings.HasPrefix(s.Timezone, "/") {
			return nil, nil, errs.At(errs.Invalid, "spec.schedule.timezone", "unknown time zone %q: use an IANA name such as UTC, Europe/Paris or Asia/Tokyo", s.Timezone)
		}
		loc = l
	}
	if strings.HasPrefix(strings.TrimSpace(s.Cron), "CRON_TZ=") || strings.HasPrefix(strings.TrimSpace(s.Cron), "TZ=") {
		return nil, nil, errs.At(errs.Invalid, "spec.schedule.cron", "give the time zone in spec.schedule.timezone, not in the expression")
	}
	sched, err := cronParser.Parse(s.Cron)
	if err != nil {
		return nil, nil, errs.At(errs.Invalid, "spec.schedule.cron", "%q is not a schedule: %v (write five fields: minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\", or @hourly, @daily, @every 10m)", s.Cron, err)
	}
	return sched, loc, nil
}

// Source names the trigger's source: datalake, schedule or webhook.
func (s *TriggerSpec) Source() string {
	switch {
	case s.Datalake != nil:
		return "datalake"
	case s.Schedule != nil:
		return "schedule"
	case s.Webhook != nil:
		return "webhook"
	}
	return ""
}

// MaxConcurrency is Concurrency with its default applied.
func (s *TriggerSpec) MaxConcurrency() int {
	if s.Concurrency <= 0 {
		return DefaultTriggerConcurrency
	}
	return s.Concurrency
}

// Validate checks a trigger on its own (the workflow it names may be
// applied later; a run that cannot start is reported in its status).
func (t *Trigger) Validate() errs.List {
	var v validator
	v.typeMeta(t.TypeMeta, "Trigger")
	v.objectMeta(t.Metadata, "trigger")
	s := &t.Spec
	v.dnsName("spec.workflow", s.Workflow, "workflow name")
	n := 0
	for _, set := range []bool{s.Datalake != nil, s.Schedule != nil, s.Webhook != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.add("spec", "give exactly one source: datalake, schedule or webhook (found %d)", n)
	}
	if d := s.Datalake; d != nil {
		v.dnsName("spec.datalake.channel", d.Channel, "channel name")
		for i, e := range d.Events {
			v.oneOf(fmt.Sprintf("spec.datalake.events[%d]", i), e, "event", TriggerEvents)
			if e == "" {
				v.add(fmt.Sprintf("spec.datalake.events[%d]", i), "empty event: use one of %s", strings.Join(TriggerEvents, ", "))
			}
		}
		if strings.TrimSpace(d.Filter) != "" {
			if _, err := query.Parse(d.Filter); err != nil {
				pub := errs.Public(err)
				if pub.Where != "" && !strings.HasPrefix(pub.Message, pub.Where) {
					pub.Message = pub.Where + ": " + pub.Message
				}
				v.add("spec.datalake.filter", "%s", pub.Message)
			}
		}
	}
	if sc := s.Schedule; sc != nil {
		if strings.TrimSpace(sc.Cron) == "" {
			v.add("spec.schedule.cron", "a cron expression is required, e.g. \"*/5 * * * *\"")
		} else if _, _, err := ParseSchedule(*sc); err != nil {
			var e *errs.Error
			if errors.As(err, &e) {
				v.list = append(v.list, e)
			}
		}
	}
	if s.Concurrency < 0 || s.Concurrency > MaxTriggerConcurrency {
		v.add("spec.concurrency", "must be between 1 and %d (0: %d), not %d", MaxTriggerConcurrency, DefaultTriggerConcurrency, s.Concurrency)
	}
	for _, k := range sortedKeys(s.Params) {
		p := joinKey("spec.params", k)
		if !v.ident(p, k, "param name", "params.") {
			continue
		}
		if err := checkTriggerTemplate(s.Params[k], s.Source()); err != nil {
			v.add(p, "%s", err)
		}
	}
	return v.list
}
