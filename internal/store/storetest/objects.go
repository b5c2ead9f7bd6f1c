package storetest

import (
	"reflect"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func testProjects(t *testing.T, s store.Store) {
	_, err := s.GetProject(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetProject of a missing project")
	wantCode(t, s.PutProject(ctx, v1.Project{}), errs.Invalid, "PutProject without a name")

	b := v1.Project{Metadata: v1.ObjectMeta{Name: "b", Labels: map[string]string{"team": "ml"}},
		Spec: v1.ProjectSpec{Description: "bee", DefaultBackend: "local",
			BackendPolicy: []v1.BackendRule{{Backend: "kubernetes", AtLeast: &v1.Threshold{GPU: 1}}, {Backend: "container"}}}}
	must(t, s.PutProject(ctx, b))
	must(t, s.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "a"}}))

	got, err := s.GetProject(ctx, "b")
	must(t, err)
	if got.Metadata.Name != "b" || !reflect.DeepEqual(got.Spec, b.Spec) || got.Metadata.Labels["team"] != "ml" {
		t.Fatalf("GetProject = %+v, want %+v", got, b)
	}
	if got.Kind != "Project" || got.APIVersion != v1.APIVersion {
		t.Fatalf("GetProject type = %+v", got.TypeMeta)
	}
	if got.Metadata.CreatedAt.IsZero() || got.Metadata.Version != 1 {
		t.Fatalf("GetProject metadata = %+v, want a creation time and version 1", got.Metadata)
	}
	utc(t, "project times", &got.Metadata.CreatedAt, &got.Metadata.UpdatedAt)

	// The same document again changes nothing; a new spec is an update.
	must(t, s.PutProject(ctx, b))
	again, err := s.GetProject(ctx, "b")
	must(t, err)
	if again.Metadata.Version != 1 {
		t.Fatalf("putting the same project again: version %d, want 1", again.Metadata.Version)
	}
	b.Spec.DefaultBackend = "kubernetes"
	must(t, s.PutProject(ctx, b))
	got, err = s.GetProject(ctx, "b")
	must(t, err)
	if got.Spec.DefaultBackend != "kubernetes" || got.Metadata.Version != 2 || !got.Metadata.CreatedAt.Equal(again.Metadata.CreatedAt) {
		t.Fatalf("after update: %+v", got)
	}

	list, err := s.ListProjects(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Metadata.Name != "a" || list[1].Metadata.Name != "b" {
		t.Fatalf("ListProjects = %+v, want a, b", list)
	}
}

func testTokens(t *testing.T, s store.Store) {
	tok := store.Token{ID: "t1", Hash: "h1", Subject: "alice", Project: "p", AttemptID: "a1",
		ExpiresAt: ptr(at(3600)), CreatedAt: at(0)}
	must(t, s.CreateToken(ctx, tok))
	must(t, s.CreateToken(ctx, store.Token{ID: "t2", Hash: "h2", Subject: "root", Admin: true, CreatedAt: at(0)}))

	got, err := s.GetTokenByHash(ctx, "h1")
	must(t, err)
	want := tok
	want.ExpiresAt, want.CreatedAt = ptr(stored(*tok.ExpiresAt)), stored(tok.CreatedAt)
	same(t, "GetTokenByHash", got, want)
	utc(t, "token times", got.ExpiresAt, &got.CreatedAt)
	admin, err := s.GetTokenByHash(ctx, "h2")
	must(t, err)
	if !admin.Admin || admin.ExpiresAt != nil || admin.Revoked {
		t.Fatalf("admin token = %+v", admin)
	}

	_, err = s.GetTokenByHash(ctx, "nope")
	wantCode(t, err, errs.NotFound, "GetTokenByHash of an unknown hash")
	wantCode(t, s.CreateToken(ctx, store.Token{ID: "t1", Hash: "h3"}), errs.Conflict, "CreateToken with a duplicate id")
	wantCode(t, s.CreateToken(ctx, store.Token{ID: "t3", Hash: "h1"}), errs.Conflict, "CreateToken with a duplicate hash")

	must(t, s.RevokeToken(ctx, "t1"))
	got, err = s.GetTokenByHash(ctx, "h1")
	must(t, err)
	if !got.Revoked {
		t.Fatal("revoked token reads back not revoked")
	}
	wantCode(t, s.RevokeToken(ctx, "nope"), errs.NotFound, "RevokeToken of an unknown id")
}

func wf(project, name, desc string, labels map[string]string) v1.Workflow {
	return v1.Workflow{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: "Workflow"},
		Metadata: v1.ObjectMeta{Name: name, Project: project, Labels: labels},
		Spec: v1.WorkflowSpec{Description: desc, Steps: []v1.Step{{
			Name: "train", Command: []string{"python3", "train.py"}, Foreach: []any{map[string]any{"C": 0.1}, 1},
			Retry: &v1.RetryPolicy{Limit: 3, Backoff: v1.Duration{Duration: 10 * time.Second}},
		}}},
	}
}

func testWorkflows(t *testing.T, s store.Store) {
	_, err := s.GetWorkflow(ctx, "p", "w")
	wantCode(t, err, errs.NotFound, "GetWorkflow of a missing workflow")
	_, _, err = s.PutWorkflow(ctx, wf("", "w", "x", nil))
	wantCode(t, err, errs.Invalid, "PutWorkflow without a project")

	w := wf("p", "w", "first", nil)
	st, changed, err := s.PutWorkflow(ctx, w)
	must(t, err)
	if !changed || st.Metadata.Version != 1 {
		t.Fatalf("first PutWorkflow: changed=%v version=%d, want true 1", changed, st.Metadata.Version)
	}
	same(t, "stored spec", st.Spec, w.Spec)
	if st.Metadata.Name != "w" || st.Metadata.Project != "p" || st.Kind != "Workflow" || st.Metadata.CreatedAt.IsZero() {
		t.Fatalf("stored workflow = %+v", st)
	}

	st, changed, err = s.PutWorkflow(ctx, wf("p", "w", "first", map[string]string{}))
	must(t, err)
	if changed || st.Metadata.Version != 1 {
		t.Fatalf("same spec again: changed=%v version=%d, want false 1", changed, st.Metadata.Version)
	}
	st, changed, err = s.PutWorkflow(ctx, wf("p", "w", "first", map[string]string{"stage": "dev"}))
	must(t, err)
	if !changed || st.Metadata.Version != 2 {
		t.Fatalf("new labels: changed=%v version=%d, want true 2", changed, st.Metadata.Version)
	}
	st, changed, err = s.PutWorkflow(ctx, wf("p", "w", "second", map[string]string{"stage": "dev"}))
	must(t, err)
	if !changed || st.Metadata.Version != 3 {
		t.Fatalf("new spec: changed=%v version=%d, want true 3", changed, st.Metadata.Version)
	}

	got, err := s.GetWorkflow(ctx, "p", "w")
	must(t, err)
	if got.Metadata.Version != 3 || got.Spec.Description != "second" || got.Metadata.Labels["stage"] != "dev" {
		t.Fatalf("GetWorkflow = %+v, want version 3", got)
	}
	same(t, "GetWorkflow", got, st)

	must(t, s.DeleteWorkflow(ctx, "p", "w"))
	_, err = s.GetWorkflow(ctx, "p", "w")
	wantCode(t, err, errs.NotFound, "GetWorkflow after delete")
	wantCode(t, s.DeleteWorkflow(ctx, "p", "w"), errs.NotFound, "DeleteWorkflow twice")

	// Re-created, it never reuses a version number a run may carry.
	st, changed, err = s.PutWorkflow(ctx, wf("p", "w", "first", nil))
	must(t, err)
	if !changed || st.Metadata.Version <= 3 {
		t.Fatalf("re-created: changed=%v version=%d, want true and > 3", changed, st.Metadata.Version)
	}
}

func testWorkflowsPerProject(t *testing.T, s store.Store) {
	for _, p := range []string{"p", "q"} {
		for _, n := range []string{"b", "a"} {
			st, changed, err := s.PutWorkflow(ctx, wf(p, n, p+n, nil))
			must(t, err)
			if !changed || st.Metadata.Version != 1 {
				t.Fatalf("%s/%s: changed=%v version=%d (names are scoped by project)", p, n, changed, st.Metadata.Version)
			}
		}
	}
	list, err := s.ListWorkflows(ctx, "q")
	must(t, err)
	if len(list) != 2 || list[0].Metadata.Name != "a" || list[1].Metadata.Name != "b" || list[0].Spec.Description != "qa" {
		t.Fatalf("ListWorkflows(q) = %+v", list)
	}
	must(t, s.DeleteWorkflow(ctx, "q", "a"))
	if _, err := s.GetWorkflow(ctx, "p", "a"); err != nil {
		t.Fatalf("deleting q/a removed p/a: %v", err)
	}
	list, err = s.ListWorkflows(ctx, "none")
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ListWorkflows of an empty project = %+v", list)
	}
}

func testCache(t *testing.T, s store.Store) {
	_, err := s.GetCache(ctx, "p", "k")
	wantCode(t, err, errs.NotFound, "GetCache of a missing key")
	outs := map[string]v1.Output{"model": {Ref: "r/1", Digest: "sha256:ab", Size: 42, Value: []byte(`{"auc":0.9}`)}}
	must(t, s.PutCache(ctx, "p", "k", outs))
	got, err := s.GetCache(ctx, "p", "k")
	must(t, err)
	same(t, "GetCache", got, outs)
	if string(got["model"].Value) != `{"auc":0.9}` {
		t.Fatalf("cached value = %s, want the bytes stored", got["model"].Value)
	}
	_, err = s.GetCache(ctx, "q", "k")
	wantCode(t, err, errs.NotFound, "GetCache of another project's key")

	outs2 := map[string]v1.Output{"model": {Ref: "r/2"}}
	must(t, s.PutCache(ctx, "p", "k", outs2))
	got, err = s.GetCache(ctx, "p", "k")
	must(t, err)
	same(t, "GetCache after replace", got, outs2)
}
