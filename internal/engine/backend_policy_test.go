package engine

import (
	"context"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// A step that says auto runs where the project's backend policy sends it,
// and its attempt says why; a rule naming a backend this control plane
// lacks is passed over.
func TestEngineBackendPolicy(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		e := newEnv(t, st, nil, nil)
		ctx := context.Background()
		p := v1.Project{Metadata: v1.ObjectMeta{Name: "p"}, Spec: v1.ProjectSpec{DefaultBackend: "local", BackendPolicy: []v1.BackendRule{
			{Backend: "kubernetes", AtLeast: &v1.Threshold{GPU: 1}},
			{Backend: "fake", AtLeast: &v1.Threshold{Memory: "8Gi"}},
		}}}
		if err := st.PutProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		e.workflow("sized", v1.WorkflowSpec{Steps: []v1.Step{
			{Name: "big", Command: cmd("exit", "0"), Resources: v1.Resources{GPU: 1, Memory: "8Gi"}},
		}})
		id := e.submit("sized", nil)
		if r := e.wait(id, 20*time.Second); r.Status.Phase != v1.Succeeded {
			t.Fatalf("run %s (%s)", r.Status.Phase, stepPhases(r))
		}
		as, err := st.ListAttempts(ctx, store.AttemptFilter{RunID: id})
		if err != nil || len(as) != 1 {
			t.Fatalf("attempts: %v %v", as, err)
		}
		if as[0].Backend != "fake" || as[0].Reason != "rule 1 (kubernetes) not configured here; auto: rule 2: memory 8Gi ≥ 8Gi" {
			t.Errorf("attempt on %s because %q", as[0].Backend, as[0].Reason)
		}
	})
}
