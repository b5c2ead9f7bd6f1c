package trigger

import (
	"encoding/json"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

var t0 = time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)

func compile(t *testing.T, name string, d v1.DatalakeSource, params map[string]string) Compiled {
	t.Helper()
	c, ok, err := Compile(v1.Trigger{Metadata: v1.ObjectMeta{Project: "p", Name: name, CreatedAt: t0},
		Spec: v1.TriggerSpec{Workflow: "w", Datalake: &d, Params: params}})
	if err != nil || !ok {
		t.Fatalf("compile %s: %v %v", name, ok, err)
	}
	return c
}

func event(seq int64, typ, channel, path string, meta string) store.DataEvent {
	return store.DataEvent{Seq: seq, Type: typ, Project: "p", Channel: channel, FileID: "id" + path, Path: path,
		Size: 1000 * seq, Version: 1, Meta: json.RawMessage(meta), At: t0.Add(time.Duration(seq) * time.Second)}
}

func TestPlanEvents(t *testing.T) {
	params := map[string]string{"file": "{{ event.file.path }}", "label": "{{ event.file.meta.label }}", "size": "{{ event.file.size }}"}
	all := compile(t, "all", v1.DatalakeSource{Channel: "raw"}, params)
	updates := compile(t, "updates", v1.DatalakeSource{Channel: "raw", Events: []string{"updated", "meta", "deleted"}}, nil)
	other := compile(t, "other", v1.DatalakeSource{Channel: "other"}, nil)
	tests := []struct {
		name     string
		event    store.DataEvent
		triggers []Compiled
		want     []string // trigger/key
	}{
		{"created matches the default events", event(1, store.FileCreated, "raw", "a.jpg", `{}`), []Compiled{all, updates, other}, []string{"all/event:1"}},
		{"updated", event(2, store.FileUpdated, "raw", "a.jpg", `{}`), []Compiled{all, updates}, []string{"updates/event:2"}},
		{"meta", event(3, store.FileMeta, "raw", "a.jpg", `{}`), []Compiled{all, updates}, []string{"updates/event:3"}},
		{"deleted", event(4, store.FileDeleted, "raw", "a.jpg", `{}`), []Compiled{all, updates}, []string{"updates/event:4"}},
		{"other channel", event(5, store.FileCreated, "other", "a.jpg", `{}`), []Compiled{all, other}, []string{"other/event:5"}},
		{"other project", func() store.DataEvent { e := event(6, store.FileCreated, "raw", "a", `{}`); e.Project = "q"; return e }(), []Compiled{all}, nil},
		{"before the trigger existed", func() store.DataEvent {
			e := event(7, store.FileCreated, "raw", "a", `{}`)
			e.At = t0.Add(-time.Second)
			return e
		}(), []Compiled{all}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := PlanEvents([]store.DataEvent{tt.event}, tt.triggers)
			var got []string
			for _, it := range items {
				got = append(got, it.Trigger+"/"+it.Key)
				if it.Project != "p" || !it.EventAt.Equal(tt.event.At) || it.State != "" {
					t.Errorf("item %+v", it)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	items := PlanEvents([]store.DataEvent{event(8, store.FileCreated, "raw", "x/y.jpg", `{"label":"cat"}`)}, []Compiled{all})
	if len(items) != 1 {
		t.Fatalf("%d items", len(items))
	}
	want := map[string]any{"file": "x/y.jpg", "label": "cat", "size": float64(8000)}
	if b, w := mustJSON(items[0].Params), mustJSON(want); b != w {
		t.Fatalf("params %s, want %s", b, w)
	}
}

// TestPlanFilter needs the query language (package query).
func TestPlanFilter(t *testing.T) {
	cats := compile(t, "cats", v1.DatalakeSource{Channel: "raw", Filter: `label = "cat" and width >= 640`}, nil)
	big := compile(t, "big", v1.DatalakeSource{Channel: "raw", Filter: `size > 2500 and path startswith "img/"`}, nil)
	evs := []store.DataEvent{
		event(1, store.FileCreated, "raw", "img/1.jpg", `{"label":"cat","width":640}`),
		event(2, store.FileCreated, "raw", "img/2.jpg", `{"label":"cat","width":320}`),
		event(3, store.FileCreated, "raw", "img/3.jpg", `{"label":"dog","width":1024}`),
		event(4, store.FileCreated, "raw", "txt/4.jpg", `{"label":"cat","width":2000}`),
	}
	var got []string
	for _, it := range PlanEvents(evs, []Compiled{cats, big}) {
		got = append(got, it.Trigger+"/"+it.Key)
	}
	want := []string{"cats/event:1", "big/event:3", "cats/event:4"}
	if mustJSON(got) != mustJSON(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRoom(t *testing.T) {
	for _, tt := range []struct{ conc, inflight, want int }{{10, 0, 10}, {10, 4, 6}, {10, 10, 0}, {5, 8, 0}} {
		if got := Room(tt.conc, tt.inflight); got != tt.want {
			t.Errorf("Room(%d, %d) = %d, want %d", tt.conc, tt.inflight, got, tt.want)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
