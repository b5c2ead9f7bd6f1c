package storetest

import (
	"fmt"
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

func lines(from, to int, text string) []v1.AgentLogLine {
	var out []v1.AgentLogLine
	for i := from; i <= to; i++ {
		out = append(out, v1.AgentLogLine{Seq: int64(i), Stream: "stdout", Time: at(i), Text: fmt.Sprintf("%s %d", text, i)})
	}
	return out
}

func testLogs(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a", "b")
	ts := insertTasks(t, s, "r", "a", 2)
	tb := insertTasks(t, s, "r", "b", 1)
	a0 := newAttempt("a0", ts[0], 1)
	a1 := newAttempt("a1", ts[1], 1)
	b0 := newAttempt("b0", tb[0], 1)
	for _, a := range []store.Attempt{a0, a1, b0} {
		must(t, s.InsertAttempt(ctx, a))
	}

	must(t, s.AppendLogs(ctx, a0, lines(1, 3, "a0")))
	must(t, s.AppendLogs(ctx, a1, lines(1, 2, "a1")))
	must(t, s.AppendLogs(ctx, b0, []v1.AgentLogLine{{Seq: 1, Stream: "stderr", Time: at(1), Text: "b0 1"}}))
	// A resent batch (2, 3 again, with other text) adds only seq 4.
	must(t, s.AppendLogs(ctx, a0, lines(2, 4, "again")))
	must(t, s.AppendLogs(ctx, a0, nil))

	read := func(f store.LogFilter) []v1.LogLine {
		t.Helper()
		got, err := s.ReadLogs(ctx, f)
		must(t, err)
		for i := 1; i < len(got); i++ {
			if got[i].Cursor <= got[i-1].Cursor {
				t.Fatalf("cursors not increasing: %+v", got)
			}
		}
		return got
	}
	texts := func(ls []v1.LogLine) string {
		out := ""
		for _, l := range ls {
			out += l.Text + "|"
		}
		return out
	}

	all := read(store.LogFilter{RunID: "r"})
	if got := texts(all); got != "a0 1|a0 2|a0 3|a1 1|a1 2|b0 1|again 4|" {
		t.Fatalf("ReadLogs(run) = %s", got)
	}
	first := all[0]
	same(t, "first line", first, v1.LogLine{Attempt: "a0", Step: "a", Index: 0, Stream: "stdout", Time: stored(at(1)),
		Seq: 1, Text: "a0 1", Cursor: first.Cursor})
	utc(t, "log time", &first.Time)
	if all[5].Stream != "stderr" || all[5].Step != "b" || all[3].Index != 1 {
		t.Fatalf("lines = %+v", all)
	}

	if got := texts(read(store.LogFilter{RunID: "r", Step: "b"})); got != "b0 1|" {
		t.Fatalf("ReadLogs(step b) = %s", got)
	}
	if got := texts(read(store.LogFilter{RunID: "r", Step: "a", Index: ptr(1)})); got != "a1 1|a1 2|" {
		t.Fatalf("ReadLogs(a/1) = %s", got)
	}
	if got := texts(read(store.LogFilter{RunID: "r", Index: ptr(0)})); got != "a0 1|a0 2|a0 3|b0 1|again 4|" {
		t.Fatalf("ReadLogs(index 0) = %s", got)
	}
	if got := texts(read(store.LogFilter{RunID: "r", AttemptID: "a0"})); got != "a0 1|a0 2|a0 3|again 4|" {
		t.Fatalf("ReadLogs(attempt a0) = %s", got)
	}
	if got := texts(read(store.LogFilter{RunID: "r", Step: "a", Index: ptr(0), AttemptID: "a0", AfterCursor: all[1].Cursor})); got != "a0 3|again 4|" {
		t.Fatalf("ReadLogs(a/0, attempt a0, after the 2nd) = %s", got)
	}
	for _, f := range []store.LogFilter{
		{RunID: "r", Step: "b", AttemptID: "a0"},
		{RunID: "r", Index: ptr(1), AttemptID: "a0"},
		{RunID: "other", AttemptID: "a0"},
		{RunID: "r", AttemptID: "nope"},
	} {
		if got := read(f); len(got) != 0 {
			t.Fatalf("ReadLogs(%+v) = %s, want nothing", f, texts(got))
		}
	}
	if got := texts(read(store.LogFilter{RunID: "r", AfterCursor: all[4].Cursor})); got != "b0 1|again 4|" {
		t.Fatalf("ReadLogs(after the 5th) = %s", got)
	}
	if got := texts(read(store.LogFilter{RunID: "r", Limit: 2})); got != "a0 1|a0 2|" {
		t.Fatalf("ReadLogs(limit 2) = %s", got)
	}
	if got := read(store.LogFilter{RunID: "other"}); len(got) != 0 {
		t.Fatalf("ReadLogs of another run = %+v", got)
	}
}

func testLogPaging(t *testing.T, s store.Store) {
	createRun(t, s, "r", "p", "a")
	ts := insertTasks(t, s, "r", "a", 1)
	a := newAttempt("x", ts[0], 1)
	must(t, s.InsertAttempt(ctx, a))
	const n = 2500 // more than the default page, in batches larger than a chunk
	for i := 1; i <= n; i += 700 {
		must(t, s.AppendLogs(ctx, a, lines(i, min(i+699, n), "l")))
	}
	var got []v1.LogLine
	f := store.LogFilter{RunID: "r"}
	for {
		page, err := s.ReadLogs(ctx, f)
		must(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 1000 {
			t.Fatalf("a page of %d lines, want at most the default 1000", len(page))
		}
		got = append(got, page...)
		f.AfterCursor = page[len(page)-1].Cursor
	}
	if len(got) != n {
		t.Fatalf("paged %d lines, want %d", len(got), n)
	}
	for i, l := range got {
		if l.Seq != int64(i+1) {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
}
