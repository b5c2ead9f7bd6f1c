package engine

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

func TestDecideRetry(t *testing.T) {
	oomOrKilled := &v1.RetryPolicy{Limit: 3, Backoff: v1.Duration{Duration: 10 * time.Second}, When: "exit.oom_killed || exit.code in [137, 143]"}
	tests := []struct {
		name      string
		policy    *v1.RetryPolicy
		exit      v1.Exit
		attempt   int
		wantRetry bool
		wantAfter time.Duration
		wantWhy   string
	}{
		{"no policy", nil, v1.Exit{Code: 1}, 1, false, 0, "no retry policy"},
		{"matching exit code, first backoff", oomOrKilled, v1.Exit{Code: 137}, 1, true, 10 * time.Second, "retry 1 of 3"},
		{"backoff doubles", oomOrKilled, v1.Exit{Code: 143}, 3, true, 40 * time.Second, "retry 3 of 3"},
		{"limit reached", oomOrKilled, v1.Exit{Code: 137}, 4, false, 0, "retry limit 3 reached"},
		{"oom flag matches", oomOrKilled, v1.Exit{Code: 1, OOMKilled: true}, 1, true, 10 * time.Second, ""},
		{"other code does not match", oomOrKilled, v1.Exit{Code: 2}, 1, false, 0, "retry.when is false"},
		{"lost attempts retry whatever when says", oomOrKilled, v1.Exit{Code: -1, Error: ErrLost}, 1, true, 10 * time.Second, ""},
		{"cancelled never retries", &v1.RetryPolicy{Limit: 5}, v1.Exit{Error: ErrCancelled}, 1, false, 0, "cancelled"},
		{"attempt in when", &v1.RetryPolicy{Limit: 5, When: "attempt < 2"}, v1.Exit{Code: 1}, 2, false, 0, "retry.when is false"},
		{"timed out in when", &v1.RetryPolicy{Limit: 1, When: "exit.timed_out"}, v1.Exit{Code: -1, TimedOut: true}, 1, true, 0, ""},
		{"backoff capped", &v1.RetryPolicy{Limit: 20, Backoff: v1.Duration{Duration: time.Minute}, MaxBackoff: v1.Duration{Duration: 5 * time.Minute}},
			v1.Exit{Code: 1}, 10, true, 5 * time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideRetry(tt.policy, tt.exit, tt.attempt, nil, t0)
			if d.Retry != tt.wantRetry {
				t.Fatalf("retry = %v (%s), want %v", d.Retry, d.Reason, tt.wantRetry)
			}
			if d.Retry && d.At.Sub(t0) != tt.wantAfter {
				t.Errorf("next attempt after %v, want %v", d.At.Sub(t0), tt.wantAfter)
			}
			if !strings.Contains(d.Reason, tt.wantWhy) {
				t.Errorf("reason %q does not mention %q", d.Reason, tt.wantWhy)
			}
		})
	}
}
