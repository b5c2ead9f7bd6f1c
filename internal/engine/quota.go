package engine

import (
	"context"
	"fmt"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// Use is what a project's unfinished attempts ask for at once.
type Use struct {
	Tasks  int
	CPU    float64
	Memory int64 // bytes
}

// add is u with one more task asking for r.
func (u Use) add(r v1.Resources) Use {
	mem, _ := v1.MemoryBytes(r.Memory) // validated when the workflow was applied
	return Use{Tasks: u.Tasks + 1, CPU: u.CPU + r.CPU, Memory: u.Memory + mem}
}

// overQuota says which of q's limits starting a task asking for r would
// pass, given the use u ("" when it fits).
func overQuota(q *v1.Quota, u Use, r v1.Resources) string {
	if q == nil {
		return ""
	}
	next := u.add(r)
	switch {
	case q.MaxRunning > 0 && next.Tasks > q.MaxRunning:
		return fmt.Sprintf("running tasks: %d of %d in use", u.Tasks, q.MaxRunning)
	case q.CPU > 0 && next.CPU > q.CPU:
		return fmt.Sprintf("cpu: %g of %g cores in use, the task asks for %g", u.CPU, q.CPU, r.CPU)
	}
	if limit, _ := v1.MemoryBytes(q.Memory); limit > 0 && next.Memory > limit {
		return fmt.Sprintf("memory: %s of %s in use, the task asks for %s", v1.FormatBytes(u.Memory), q.Memory, r.Memory)
	}
	return ""
}

// projectUse sums what the project's unfinished attempts ask for. Only
// called for projects with a quota: it reads each such attempt's task.
func projectUse(ctx context.Context, q store.Querier, project string, active []store.Attempt) (Use, error) {
	var u Use
	for _, a := range active {
		if a.Project != project {
			continue
		}
		t, err := q.GetTask(ctx, a.RunID, a.Step, a.Index)
		if err != nil {
			return u, err
		}
		u = u.add(t.Manifest.Resources)
	}
	return u, nil
}
