package engine

import (
	"fmt"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/expr"
)

// DefaultMaxBackoff caps exponential backoff when a policy sets none.
const DefaultMaxBackoff = 10 * time.Minute

// RetryDecision is what to do with a task whose attempt failed.
type RetryDecision struct {
	Retry  bool
	At     time.Time // when the next attempt may start
	Reason string    // why not, or which rule matched
}

// DecideRetry applies a step's retry policy to a failed attempt. attempt is
// the 1-based number of the attempt that failed, counted since the task was
// last (re)submitted. It is pure: same inputs, same answer.
func DecideRetry(p *v1.RetryPolicy, exit v1.Exit, attempt int, params map[string]any, now time.Time) RetryDecision {
	if exit.Error == ErrCancelled {
		return RetryDecision{Reason: "cancelled"}
	}
	if p == nil || p.Limit == 0 {
		return RetryDecision{Reason: "no retry policy"}
	}
	if attempt > p.Limit {
		return RetryDecision{Reason: fmt.Sprintf("retry limit %d reached", p.Limit)}
	}
	if p.When != "" && exit.Error != ErrLost {
		ok, err := expr.Bool(p.When, expr.Vars{Params: params, Exit: &exit, Attempt: attempt})
		if err != nil {
			return RetryDecision{Reason: "retry.when: " + err.Error()}
		}
		if !ok {
			return RetryDecision{Reason: "retry.when is false: " + p.When}
		}
	}
	return RetryDecision{Retry: true, At: now.Add(backoff(p, attempt)), Reason: fmt.Sprintf("retry %d of %d", attempt, p.Limit)}
}

// backoff doubles per attempt from the policy's base, capped.
func backoff(p *v1.RetryPolicy, attempt int) time.Duration {
	d := p.Backoff.Duration
	if d <= 0 {
		return 0
	}
	limit := p.MaxBackoff.Duration
	if limit <= 0 {
		limit = DefaultMaxBackoff
	}
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// ErrCancelled is the Exit.Error of an attempt stopped on request.
const ErrCancelled = v1.ExitCancelled
