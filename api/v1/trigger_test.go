package v1

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTrigger(t *testing.T) {
	src := `apiVersion: koya.dev/v1
kind: Trigger
metadata: {name: infer-new-images, project: cams}
spec:
  workflow: infer
  datalake: {channel: raw, events: [created, updated], filter: 'label = "cat" and width >= 640'}
  params: {file: "{{ event.file.path }}", id: "{{ event.file.id }}", label: "{{ event.file.meta.label }}"}
  concurrency: 10
`
	objs, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := objs[0].(*Trigger)
	if !ok {
		t.Fatalf("got %T", objs[0])
	}
	if tr.Spec.Source() != "datalake" || tr.Spec.Datalake.Channel != "raw" || tr.Spec.MaxConcurrency() != 10 ||
		tr.Spec.Params["label"] != "{{ event.file.meta.label }}" {
		t.Fatalf("decoded %+v", tr.Spec)
	}
}

func TestTriggerValidation(t *testing.T) {
	tests := []struct {
		name, spec string
		where, msg string // where: file:line:col
	}{
		{"two sources", "  workflow: w\n  webhook: {}\n  schedule: {cron: '@daily'}\n", "t.yaml:4:1", "spec: give exactly one source"},
		{"no source", "  workflow: w\n", "t.yaml:4:1", "spec: give exactly one source: datalake, schedule or webhook (found 0)"},
		{"bad cron", "  workflow: w\n  schedule: {cron: '*/5 * * *'}\n", "t.yaml:6:20", "spec.schedule.cron: \"*/5 * * *\" is not a schedule"},
		{"bad zone", "  workflow: w\n  schedule: {cron: '@daily', timezone: Asia/Tokio}\n", "t.yaml:6:40", `spec.schedule.timezone: unknown time zone "Asia/Tokio"`},
		{"bad event", "  workflow: w\n  datalake: {channel: raw, events: [creatd]}\n", "t.yaml:6:37", `spec.datalake.events[0]: unknown event "creatd" (did you mean created?)`},
		{"bad filter", "  workflow: w\n  datalake: {channel: raw, filter: 'label = '}\n", "t.yaml:6:36", "spec.datalake.filter: query:1:9: expected a value"},
		{"unknown field", "  workflow: w\n  webhook: {}\n  params: {x: '{{ event.file.path }}'}\n", "t.yaml:7:15", "spec.params.x: unknown event field event.file.path for a webhook trigger"},
		{"not event", "  workflow: w\n  webhook: {}\n  params: {x: '{{ params.y }}'}\n", "t.yaml:7:15", "refer to event fields only"},
		{"unclosed", "  workflow: w\n  webhook: {}\n  params: {x: 'a {{ event.body.y'}\n", "t.yaml:7:15", `column 3: "{{" is not closed`},
		{"concurrency", "  workflow: w\n  webhook: {}\n  concurrency: -1\n", "t.yaml:7:16", "spec.concurrency: must be between 1 and"},
		{"param name", "  workflow: w\n  webhook: {}\n  params: {my-x: '1'}\n", "t.yaml:7:18", `cannot contain '-'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "apiVersion: koya.dev/v1\nkind: Trigger\nmetadata: {name: t, project: p}\nspec:\n" + tt.spec
			_, err := Parse("t.yaml", []byte(src))
			if err == nil {
				t.Fatal("no error")
			}
			found := false
			for _, e := range problems(t, err) {
				if strings.Contains(e.Message, tt.msg) {
					found = true
					if e.Where != tt.where {
						t.Errorf("%q at %s, want %s", e.Message, e.Where, tt.where)
					}
				}
			}
			if !found {
				t.Errorf("no problem containing %q in:\n%v", tt.msg, err)
			}
		})
	}
}

func TestExpandTriggerParams(t *testing.T) {
	event := map[string]any{
		"type": "file.created", "time": "2026-03-14T06:09:26Z",
		"file": map[string]any{"id": "f1", "path": "a/b.jpg", "size": float64(2048),
			"meta": map[string]any{"label": "cat", "box": map[string]any{"w": float64(3)}}},
	}
	got, err := ExpandTriggerParams(map[string]string{
		"file": "{{ event.file.path }}", "size": "{{event.file.size}}", "url": "s3://b/{{ event.file.path }}?n={{ event.file.size }}",
		"missing": "{{ event.file.meta.nope }}", "inline": "x{{ event.file.meta.nope }}y", "box": "{{ event.file.meta.box }}",
		"boxtext": "box={{ event.file.meta.box }}", "lit": "plain",
	}, event)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"file": "a/b.jpg", "size": float64(2048), "url": "s3://b/a/b.jpg?n=2048", "inline": "xy",
		"box": map[string]any{"w": float64(3)}, "boxtext": `box={"w":3}`, "lit": "plain",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestParseScheduleZones(t *testing.T) {
	sched, loc, err := ParseSchedule(ScheduleSource{Cron: "0 9 * * *", Timezone: "Asia/Tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	next := sched.Next(time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC).In(loc))
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !next.Equal(want) { // 09:00 JST
		t.Fatalf("next %v, want %v", next, want)
	}
	if _, _, err := ParseSchedule(ScheduleSource{Cron: "CRON_TZ=UTC 0 9 * * *"}); err == nil {
		t.Fatal("CRON_TZ accepted")
	}
}
