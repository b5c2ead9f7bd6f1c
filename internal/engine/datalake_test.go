package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// putFiles stores files in channel raw of project p, with a label each.
func putFiles(t *testing.T, st store.Store, labels ...string) []store.File {
	t.Helper()
	ctx := context.Background()
	if _, err := st.PutChannel(ctx, store.Channel{Project: "p", Name: "raw"}); err != nil {
		t.Fatal(err)
	}
	var out []store.File
	for i, l := range labels {
		f, _, err := st.PutFile(ctx, store.File{Project: "p", Channel: "raw", Path: fmt.Sprintf("img/%03d.jpg", i),
			ContentType: "image/jpeg", Size: int64(100 + i), Digest: fmt.Sprintf("sha256:%064x", i),
			Ref: fmt.Sprintf("projects/p/datalake/obj%d", i), Meta: json.RawMessage(`{"label":"` + l + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// A datalake query fans a step out, one task per file, and an input of
// "{{ item.uri }}" pins each task to its file's stored object and digest.
func TestEngineDatalakeForeachAndInputs(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		e := newEnv(t, st, nil, nil)
		files := putFiles(t, st, "cat", "dog", "cat", "cat", "bird")
		e.workflow("infer", v1.WorkflowSpec{
			Params: map[string]v1.ParamSpec{"label": {Type: "string", Default: "cat"}},
			Steps: []v1.Step{
				{Name: "each", Foreach: `datalake://p/raw?query=label = "{{ params.label }}"&sort=path desc`,
					Command: cmd("out", "n={{ item.size }}"), Inputs: map[string]string{"img": "{{ item.uri }}"},
					Outputs: map[string]string{"n": "n.json"}},
				{Name: "all", Command: cmd("exit", "0"),
					Inputs: map[string]string{"cats": `datalake://p/raw?query=label = "cat"`, "one": "datalake://p/raw/img/004.jpg"}},
			}})
		id := e.submit("infer", nil)
		r := e.wait(id, 20*time.Second)
		if r.Status.Phase != v1.Succeeded {
			t.Fatalf("run %s: %s (%s)", r.Status.Phase, r.Status.Message, stepPhases(r))
		}
		each := e.tasks(id, "each")
		if len(each) != 3 {
			t.Fatalf("each has %d tasks, want one per cat (3)", len(each))
		}
		// sort=path desc: 003, 002, 000.
		for i, want := range []int{3, 2, 0} {
			in := each[i].Manifest.Inputs
			if len(in) != 1 || in[0].Many || len(in[0].Artifacts) != 1 {
				t.Fatalf("task %d inputs %+v", i, in)
			}
			f := files[want]
			if a := in[0].Artifacts[0]; a.Ref != f.Ref || a.Digest != f.Digest || a.Size != f.Size {
				t.Errorf("task %d input pinned to %+v, want file %s", i, a, f.Path)
			}
			if got := string(each[i].Outputs["n"].Value); got != fmt.Sprint(f.Size) {
				t.Errorf("task %d saw item.size %s, want %d", i, got, f.Size)
			}
		}
		all := e.tasks(id, "all")[0].Manifest.Inputs
		if len(all) != 2 || all[0].Name != "cats" || !all[0].Many || strings.Join(all[0].Names, ",") != "img/000.jpg,img/002.jpg,img/003.jpg" {
			t.Fatalf("query input: %+v", all)
		}
		if all[1].Many || len(all[1].Artifacts) != 1 || all[1].Artifacts[0].Ref != files[4].Ref {
			t.Errorf("file input: %+v", all[1])
		}
	})
}

// References that do not resolve fail their step with the reason, not
// the run's engine.
func TestEngineDatalakeRefsThatDoNotResolve(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		e := newEnv(t, st, nil, nil)
		putFiles(t, st, "cat")
		cases := map[string]v1.Step{
			`file "img/nope.jpg" not found`: {Name: "s", Command: cmd("exit", "0"), Inputs: map[string]string{"x": "datalake://p/raw/img/nope.jpg"}},
			"query:1:8":                     {Name: "s", Command: cmd("exit", "0"), Foreach: `datalake://p/raw?query=label = `},
			`names project "other"`:         {Name: "s", Command: cmd("exit", "0"), Inputs: map[string]string{"x": "datalake://other/raw/img/000.jpg"}},
			`channel`:                       {Name: "s", Command: cmd("exit", "0"), Foreach: `datalake://p/nochan?query=`},
		}
		i := 0
		for want, step := range cases {
			i++
			name := fmt.Sprintf("bad%d", i)
			e.workflow(name, v1.WorkflowSpec{Steps: []v1.Step{step}})
			id := e.submit(name, nil)
			r := e.wait(id, 20*time.Second)
			said := stepPhases(r)
			for _, task := range e.tasks(id, "s") {
				said += " task: " + task.Message
			}
			if r.Status.Phase != v1.Failed || !strings.Contains(said, want) {
				t.Errorf("%s: run %s (%s); want Failed with %q", name, r.Status.Phase, said, want)
			}
		}
	})
}

// countingQuerier counts the datalake reads that pinning makes.
type countingQuerier struct {
	store.Querier
	gets, finds int
}

func (c *countingQuerier) GetFile(ctx context.Context, project, channel, path string) (store.File, error) {
	c.gets++
	return c.Querier.GetFile(ctx, project, channel, path)
}

func (c *countingQuerier) FindFiles(ctx context.Context, q store.FileQuery) (store.FilePage, error) {
	c.finds++
	return c.Querier.FindFiles(ctx, q)
}

// The items of a fan-out that read the same datalake reference read it
// once per transaction; other references are read on their own.
func TestPinInputsReadsEachReferenceOnce(t *testing.T) {
	st := testStores(t)["sqlite"](t)
	files := putFiles(t, st, "cat", "dog", "cat")
	ctx := context.Background()
	q := &countingQuerier{Querier: st}
	pins := pinnedFiles{}
	task := func(one string) store.Task {
		return store.Task{Manifest: v1.TaskManifest{Project: "p", Inputs: []v1.InputSpec{
			{Name: "cats", Datalake: `datalake://p/raw?query=label = "cat"`},
			{Name: "one", Datalake: "datalake://p/raw/" + one},
		}}}
	}
	tasks := []store.Task{task("img/001.jpg"), task("img/001.jpg"), task("img/001.jpg"), task("img/002.jpg"), task("img/009.jpg")}
	for i := range tasks[:4] {
		if err := pinInputs(ctx, q, pins, &tasks[i]); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		if got := tasks[i].Manifest.Inputs[0].Artifacts; len(got) != 2 {
			t.Errorf("task %d: the query pinned %d files, want 2", i, len(got))
		}
	}
	if a := tasks[3].Manifest.Inputs[1].Artifacts; len(a) != 1 || a[0].Ref != files[2].Ref {
		t.Errorf("task 3 pinned %+v, want %s", a, files[2].Path)
	}
	var f inputFailure
	if err := pinInputs(ctx, q, pins, &tasks[4]); !errors.As(err, &f) {
		t.Errorf("a missing file: %v, want the task failed", err)
	}
	if err := pinInputs(ctx, q, pins, &tasks[4]); !errors.As(err, &f) {
		t.Errorf("the missing file again: %v, want the task failed", err)
	}
	if q.finds != 1 || q.gets != 3 {
		t.Errorf("%d queries and %d file reads, want 1 and 3 (one per reference)", q.finds, q.gets)
	}
}
