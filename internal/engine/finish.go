package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// ErrLost is the Exit.Error of an attempt whose process vanished without a
// result; such an attempt is retried within the limit whatever retry.when says,
// since the user's code never told us how it ended.
const ErrLost = v1.ExitLost

// exitOK reports whether an exit is a success.
func exitOK(x v1.Exit) bool {
	return x.Code == 0 && x.Signal == 0 && !x.TimedOut && !x.OOMKilled && x.Error == ""
}

// finishAttempt records an attempt's end and moves its task on: succeeded
// (outputs recorded, cache filled), back to Pending for a retry, cancelled or
// failed. The run is woken in the same transaction. An attempt that is not
// its task's current one (a late report after the engine gave up on it)
// only has its own row updated.
func (e *Engine) finishAttempt(ctx context.Context, q store.Querier, run store.Run, a store.Attempt, exit v1.Exit, now time.Time) error {
	if a.Phase.Done() {
		return nil
	}
	task, err := q.GetTask(ctx, a.RunID, a.Step, a.Index)
	if err != nil {
		return err
	}
	def := stepDef(run.Spec, a.Step)
	if exitOK(exit) && def != nil {
		if missing := missingOutputs(def, a.Outputs); len(missing) > 0 {
			exit.Error = "outputs not produced: " + strings.Join(missing, ", ")
		}
	}
	a.Exit, a.FinishedAt = &exit, ptr(now)
	switch {
	case exitOK(exit):
		a.Phase = v1.Succeeded
	case exit.Error == ErrCancelled:
		a.Phase = v1.Cancelled
	case exit.Error == ErrLost:
		a.Phase = v1.Lost
	default:
		a.Phase = v1.Failed
	}
	if _, err := q.UpdateAttempt(ctx, a, ""); err != nil {
		return err
	}
	e.metrics.finished.WithLabelValues(string(a.Phase)).Inc()
	if task.Attempts != a.Number || task.Phase != v1.Running {
		return nil
	}
	task.Exit, task.FinishedAt = &exit, ptr(now)
	switch {
	case a.Phase == v1.Succeeded:
		task.Phase, task.Outputs, task.Message = v1.Succeeded, a.Outputs, ""
		if task.CacheKey != "" {
			if err := q.PutCache(ctx, run.Project, task.CacheKey, a.Outputs); err != nil {
				return err
			}
		}
	case run.CancelRequested || a.Phase == v1.Cancelled:
		task.Phase, task.Message = v1.Cancelled, "cancelled"
	default:
		var policy *v1.RetryPolicy
		if def != nil {
			policy = def.Retry
		}
		d := DecideRetry(policy, exit, a.Number-task.RetryBase, run.Params, now)
		if d.Retry {
			task.Phase, task.NextAt, task.FinishedAt = v1.Pending, &d.At, nil
			task.Message = describeExit(exit) + "; " + d.Reason
			if err := q.Wake(ctx, run.ID, d.At); err != nil {
				return err
			}
		} else {
			task.Phase, task.Message = v1.Failed, describeExit(exit)
			if def != nil && def.Retry != nil {
				task.Message += " (" + d.Reason + ")"
			}
		}
	}
	if err := q.UpdateTask(ctx, task); err != nil {
		return err
	}
	return q.Wake(ctx, run.ID, now)
}

func stepDef(spec v1.WorkflowSpec, name string) *v1.Step {
	for i := range spec.Steps {
		if spec.Steps[i].Name == name {
			return &spec.Steps[i]
		}
	}
	return nil
}

func missingOutputs(def *v1.Step, got map[string]v1.Output) []string {
	var missing []string
	for name := range def.Outputs {
		if _, ok := got[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

// describeExit says how an attempt ended, for task messages.
func describeExit(x v1.Exit) string {
	var parts []string
	switch {
	case x.TimedOut:
		parts = append(parts, "timed out")
	case x.OOMKilled:
		parts = append(parts, "killed: out of memory")
	case x.Signal != 0:
		parts = append(parts, fmt.Sprintf("killed by signal %d", x.Signal))
	case x.Code != 0:
		parts = append(parts, fmt.Sprintf("exit code %d", x.Code))
	}
	if x.Error != "" {
		parts = append(parts, x.Error)
	}
	if len(parts) == 0 {
		return "succeeded"
	}
	return strings.Join(parts, ": ")
}

func itoa(i int) string { return strconv.Itoa(i) }
