package storetest

import (
	"context"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// logKeyStore is what key rotation needs of a store for log lines, whose
// text the server stores encrypted (see internal/server/census.go). It is
// optional, so LogKeys is not part of Run: the SQL stores call it.
type logKeyStore interface {
	ProjectLogs(ctx context.Context, project string, after int64, limit int) ([]v1.LogLine, error)
	ReplaceLogText(ctx context.Context, cursor int64, old, text string) (bool, error)
	CountLogPrefixes(ctx context.Context, project string, n int) (map[string]int64, error)
}

// LogKeys checks that a store counts a project's log lines by text prefix,
// pages through them, and replaces a line's text only if it is unchanged.
func LogKeys(t *testing.T, s store.Store) {
	ls, ok := s.(logKeyStore)
	if !ok {
		t.Fatalf("%T cannot move log lines between keys", s)
	}
	createRun(t, s, "r", "p", "a")
	createRun(t, s, "other", "q", "a")
	ta := insertTasks(t, s, "r", "a", 1)
	to := insertTasks(t, s, "other", "a", 1)
	a0, o0 := newAttempt("a0", ta[0], 1), newAttempt("o0", to[0], 1)
	o0.Project = "q"
	for _, a := range []store.Attempt{a0, o0} {
		must(t, s.InsertAttempt(ctx, a))
	}
	must(t, s.AppendLogs(ctx, a0, []v1.AgentLogLine{
		{Seq: 1, Stream: "stdout", Time: at(1), Text: "KEY1xxx"},
		{Seq: 2, Stream: "stdout", Time: at(2), Text: "KEY1yyy"},
		{Seq: 3, Stream: "stderr", Time: at(3), Text: "KEY2zzz"},
	}))
	must(t, s.AppendLogs(ctx, o0, []v1.AgentLogLine{{Seq: 1, Stream: "stdout", Time: at(1), Text: "KEY1qqq"}}))

	counts, err := ls.CountLogPrefixes(ctx, "p", 4)
	must(t, err)
	same(t, "counts by prefix", counts, map[string]int64{"KEY1": 2, "KEY2": 1})

	page, err := ls.ProjectLogs(ctx, "p", 0, 2)
	must(t, err)
	if len(page) != 2 || page[0].Text != "KEY1xxx" || page[1].Seq != 2 || page[0].Attempt != "a0" || page[0].Cursor >= page[1].Cursor {
		t.Fatalf("first page: %+v", page)
	}
	rest, err := ls.ProjectLogs(ctx, "p", page[1].Cursor, 2)
	must(t, err)
	if len(rest) != 1 || rest[0].Text != "KEY2zzz" || rest[0].Stream != "stderr" {
		t.Fatalf("second page: %+v (another project's line must not show)", rest)
	}

	cur := page[0].Cursor
	changed, err := ls.ReplaceLogText(ctx, cur, "KEY1xxx", "KEY3xxx")
	must(t, err)
	if !changed {
		t.Fatal("replace of an unchanged line did nothing")
	}
	changed, err = ls.ReplaceLogText(ctx, cur, "KEY1xxx", "KEY4xxx")
	must(t, err)
	if changed {
		t.Fatal("replace of a line changed meanwhile went through")
	}
	got, err := s.ReadLogs(ctx, store.LogFilter{RunID: "r", Limit: 1})
	must(t, err)
	if len(got) != 1 || got[0].Text != "KEY3xxx" || got[0].Cursor != cur {
		t.Fatalf("after replace: %+v", got)
	}
}
