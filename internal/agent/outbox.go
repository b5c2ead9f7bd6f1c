package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

// outbox holds what the agent reports, on disk before it is sent: events
// (fsync'ed, so an acknowledged start or exit is never reported twice
// differently) and log lines (flushed before each delivery). acked.json
// remembers what the control plane acknowledged; it may lag, which only
// causes harmless resends.
//
// The outbox makes as few files as it can: each costs an inode, and on
// ext4 without a journal (the benchmark VM's root) every new inode skips
// the ones deleted in the last one to six minutes, a buffer lookup each
// (a file creation took ~0.25 ms of CPU there instead of ~0.01; see
// local's trash). acked.json is rewritten in place, the delivered mark is
// a link.
type outbox struct {
	dir    string
	events *journal
	logs   *journal
	clock  func() time.Time

	ackedLen int  // acked.json's length, once written or read
	fresh    bool // made by this agent: nothing in it yet

	mu      sync.Mutex
	started bool
	exited  int64 // seq of the exited event, 0 before
	outputs map[string]bool
}

type ackedFile struct {
	Events cursorJSON `json:"events"`
	Logs   cursorJSON `json:"logs"`
}

type cursorJSON struct {
	Seq    int64 `json:"seq"`
	Offset int64 `json:"offset"`
}

// Files inside OutboxDir.
const (
	eventsFile    = "events.jsonl"
	logsFile      = "logs.jsonl"
	ackedFileName = "acked.json"
	deliveredFile = "delivered" // everything acknowledged, exited included
)

func openOutbox(dir string, clock func() time.Time, durable bool) (*outbox, error) {
	o := &outbox{dir: dir, clock: clock, outputs: map[string]bool{}}
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		// A new attempt: nothing to read back, files made when needed.
		o.fresh = true
		o.events = newJournal(filepath.Join(dir, eventsFile), durable)
		o.logs = newJournal(filepath.Join(dir, logsFile), false)
		return o, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	var ack ackedFile
	if err := readJSON(filepath.Join(dir, ackedFileName), &ack); err != nil && !errors.Is(err, os.ErrNotExist) {
		ack = ackedFile{} // unreadable: resend everything
	}
	// Events are scanned from the start: the agent's progress (started,
	// outputs, exited) is read back from them after a restart.
	o.events, err = openJournal(filepath.Join(dir, eventsFile), durable, ack.Events.Seq, ack.Events.Offset, 0,
		func(seq int64, raw []byte) {
			var ev v1.AgentEvent
			if json.Unmarshal(raw, &ev) == nil {
				o.note(ev, seq)
			}
		})
	if err != nil {
		return nil, err
	}
	o.logs, err = openJournal(filepath.Join(dir, logsFile), false, ack.Logs.Seq, ack.Logs.Offset, ack.Logs.Offset, nil)
	if err != nil {
		o.events.close()
		return nil, err
	}
	return o, nil
}

var errFinal = errors.New("the exited event was already reported")

// event appends ev with the next seq; nothing follows an exited event.
func (o *outbox) event(ev v1.AgentEvent) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exited > 0 {
		return errFinal
	}
	ev.Time = o.clock().UTC()
	seq, err := o.events.add(func(seq int64) any { ev.Seq = seq; return ev })
	if err != nil {
		return err
	}
	o.note(ev, seq)
	return nil
}

// note remembers what an event (written now, or read back after a
// restart) says about the attempt's progress.
func (o *outbox) note(ev v1.AgentEvent, seq int64) {
	switch ev.Type {
	case v1.EventStarted:
		o.started = true
	case v1.EventOutput:
		o.outputs[ev.Name] = true
	case v1.EventExited:
		o.exited = seq
	}
}

func (o *outbox) logLine(stream, text string) error {
	line := v1.AgentLogLine{Stream: stream, Time: o.clock().UTC(), Text: text}
	_, err := o.logs.add(func(seq int64) any { line.Seq = seq; return line })
	return err
}

func (o *outbox) hasStarted() bool { o.mu.Lock(); defer o.mu.Unlock(); return o.started }
func (o *outbox) hasExited() bool  { o.mu.Lock(); defer o.mu.Unlock(); return o.exited > 0 }
func (o *outbox) hasOutput(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.outputs[name]
}

// saveAcked records the cursors; not fsync'ed (losing it means
// resending). It overwrites the file in place, padded with spaces to its
// length so far (JSON allows them): one small write, no new inode. A
// write torn by a crash leaves JSON that does not parse, and a reopened
// outbox then resends everything, which the control plane deduplicates.
// Only the deliverer calls it.
func (o *outbox) saveAcked() error {
	if o.done() {
		return nil // the delivered mark says more, and comes next
	}
	var a ackedFile
	a.Events.Seq, a.Events.Offset = o.events.cursor()
	a.Logs.Seq, a.Logs.Offset = o.logs.cursor()
	b, _ := json.Marshal(a)
	f, err := os.OpenFile(filepath.Join(o.dir, ackedFileName), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if o.ackedLen == 0 {
		if st, err := f.Stat(); err == nil {
			o.ackedLen = int(st.Size()) // a restarted agent's file, if any
		}
	}
	for len(b) < o.ackedLen {
		b = append(b, ' ')
	}
	o.ackedLen = len(b)
	_, err = f.WriteAt(b, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// done reports whether the exited event and every log line were acknowledged.
func (o *outbox) done() bool {
	o.mu.Lock()
	exited := o.exited
	o.mu.Unlock()
	if exited == 0 {
		return false
	}
	es, _ := o.events.cursor()
	ls, _ := o.logs.cursor()
	return es >= exited && ls >= o.logs.last()
}

// markDelivered marks the outbox delivered: a hard link to the attempt's
// result.json (no new inode), or an empty file where there is none. Its
// time is the delivery's: the agent host's sweep counts retention from it.
func (o *outbox) markDelivered() {
	p := filepath.Join(o.dir, deliveredFile)
	err := os.Link(filepath.Join(filepath.Dir(o.dir), ResultFile), p)
	if err != nil && !errors.Is(err, os.ErrExist) {
		// Never truncate: an existing mark may be result.json itself.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return
		}
		f.Close()
	}
	now := o.clock()
	_ = os.Chtimes(p, now, now)
}

// Delivered reports whether an attempt directory's agent delivered its
// final event (drivers use it to decide whether a dead agent needs a
// restart to finish delivering).
func Delivered(attemptDir string) bool {
	return exists(filepath.Join(attemptDir, OutboxDir, deliveredFile))
}

func (o *outbox) close() {
	o.events.close()
	o.logs.close()
}
