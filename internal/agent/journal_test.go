package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

func TestOutboxReopen(t *testing.T) {
	dir := t.TempDir()
	ob, err := openOutbox(dir, time.Now, true)
	must(t, err)
	must(t, ob.event(v1.AgentEvent{Type: v1.EventStarted}))
	must(t, ob.event(v1.AgentEvent{Type: v1.EventHeartbeat}))
	must(t, ob.event(v1.AgentEvent{Type: v1.EventOutput, Name: "model", Output: &v1.Output{Ref: "r"}}))
	for _, s := range []string{"a", "b", "c"} {
		must(t, ob.logLine("stdout", s))
	}
	recs, err := ob.events.pending(10, 1<<20)
	must(t, err)
	if len(recs) != 3 || recs[0].Seq != 1 || recs[2].Seq != 3 {
		t.Fatalf("pending events %+v", recs)
	}
	ob.events.ack(recs[0])
	lrecs, err := ob.logs.pending(2, 1<<20)
	must(t, err)
	ob.logs.ack(lrecs[1])
	must(t, ob.saveAcked())
	ob.close()

	// A torn line, as after a crash mid-append.
	f, err := os.OpenFile(filepath.Join(dir, eventsFile), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, _ = f.WriteString(`{"seq":4,"type":"heartb`)
	f.Close()

	ob, err = openOutbox(dir, time.Now, true)
	must(t, err)
	defer ob.close()
	if !ob.hasStarted() || !ob.hasOutput("model") || ob.hasExited() {
		t.Errorf("progress not read back: started=%v output=%v exited=%v", ob.hasStarted(), ob.hasOutput("model"), ob.hasExited())
	}
	recs, err = ob.events.pending(10, 1<<20)
	must(t, err)
	if len(recs) != 2 || recs[0].Seq != 2 {
		t.Fatalf("pending after reopen %+v", recs)
	}
	must(t, ob.event(v1.AgentEvent{Type: v1.EventExited, Exit: &v1.Exit{}}))
	if err := ob.event(v1.AgentEvent{Type: v1.EventHeartbeat}); err != errFinal {
		t.Errorf("event after exited: %v", err)
	}
	recs, _ = ob.events.pending(10, 1<<20)
	if last := recs[len(recs)-1]; last.Seq != 4 {
		t.Errorf("exited got seq %d, want 4 (the torn line dropped)", last.Seq)
	}
	must(t, ob.logLine("stdout", "d"))
	lrecs, _ = ob.logs.pending(10, 1<<20)
	if len(lrecs) != 2 || lrecs[0].Seq != 3 || lrecs[1].Seq != 4 {
		t.Errorf("log lines after reopen %+v", lrecs)
	}
	// Rewind: the control plane lost what it had applied.
	for _, r := range recs {
		ob.events.ack(r)
	}
	must(t, ob.events.rewind(1))
	recs, _ = ob.events.pending(10, 1<<20)
	if len(recs) != 3 || recs[0].Seq != 2 {
		t.Errorf("after rewind %+v", recs)
	}
}

// TestAckedInPlace: acked.json is rewritten in place, padded to the
// length it had (a restarted agent's longer file included), and reads
// back as the cursors last saved.
func TestAckedInPlace(t *testing.T) {
	dir := t.TempDir()
	// What an earlier agent left: a longer file with other cursors.
	must(t, os.WriteFile(filepath.Join(dir, ackedFileName), []byte(`{"events":{"seq":0,"offset":0},"logs":{"seq":0,"offset":0}}                    `), 0o600))
	ob, err := openOutbox(filepath.Join(dir), time.Now, false)
	must(t, err)
	must(t, ob.event(v1.AgentEvent{Type: v1.EventStarted}))
	must(t, ob.logLine("stdout", "a"))
	recs, err := ob.events.pending(10, 1<<20)
	must(t, err)
	ob.events.ack(recs[0])
	must(t, ob.saveAcked())
	st1, err := os.Stat(filepath.Join(dir, ackedFileName))
	must(t, err)
	lrecs, err := ob.logs.pending(10, 1<<20)
	must(t, err)
	ob.logs.ack(lrecs[0])
	must(t, ob.saveAcked())
	st2, err := os.Stat(filepath.Join(dir, ackedFileName))
	must(t, err)
	if !os.SameFile(st1, st2) {
		t.Error("acked.json was replaced, not rewritten in place")
	}
	var a ackedFile
	must(t, readJSON(filepath.Join(dir, ackedFileName), &a))
	es, eo := ob.events.cursor()
	ls, lo := ob.logs.cursor()
	if a.Events.Seq != es || a.Events.Offset != eo || a.Logs.Seq != ls || a.Logs.Offset != lo || es != 1 || ls != 1 {
		t.Errorf("acked.json holds %+v, want events %d@%d logs %d@%d", a, es, eo, ls, lo)
	}
	ob.close()
}

// TestDeliveredMark: the mark is a link to result.json, dated at the
// delivery; marking again (a restarted agent) leaves result.json whole;
// without a result.json the mark is an empty file.
func TestDeliveredMark(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	dir := t.TempDir()
	result := []byte(`{"code":0}`)
	must(t, os.WriteFile(filepath.Join(dir, ResultFile), result, 0o600))
	ob, err := openOutbox(filepath.Join(dir, OutboxDir), clock, false)
	must(t, err)
	defer ob.close()
	ob.markDelivered()
	ob.markDelivered()
	if !Delivered(dir) {
		t.Fatal("not marked delivered")
	}
	mark, err := os.Stat(filepath.Join(dir, OutboxDir, deliveredFile))
	must(t, err)
	res, err := os.Stat(filepath.Join(dir, ResultFile))
	must(t, err)
	if !os.SameFile(mark, res) {
		t.Error("the mark is not a link to result.json")
	}
	if !mark.ModTime().Equal(at) {
		t.Errorf("mark dated %v, want the delivery's %v", mark.ModTime(), at)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, ResultFile)); string(got) != string(result) {
		t.Errorf("result.json now holds %q", got)
	}

	bare := t.TempDir()
	ob2, err := openOutbox(filepath.Join(bare, OutboxDir), clock, false)
	must(t, err)
	defer ob2.close()
	ob2.markDelivered()
	if !Delivered(bare) {
		t.Error("not marked delivered without a result.json")
	}
}
