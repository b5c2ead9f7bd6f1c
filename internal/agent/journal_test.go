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
