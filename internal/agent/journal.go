package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
)

// journal is an append-only file of JSON lines, each with a seq, and a
// delivery cursor (the first line not yet acknowledged). Lines are read
// back from the file for delivery, so a long outage costs disk, not memory.
type journal struct {
	mu      sync.Mutex
	path    string
	f       *os.File      // nil until the first append of a new journal
	w       *bufio.Writer // nil with f, and once closed
	durable bool          // fsync every append (events)
	closed  bool          // f is closed, w back in journalWriters
	size    int64         // bytes appended, buffered ones included
	next    int64         // seq of the next line

	ackSeq int64 // last acknowledged seq
	ackOff int64 // offset just past it
}

// record is one line read back for delivery.
type record struct {
	Seq int64
	End int64 // offset just past the line
	Raw json.RawMessage
}

// openJournal opens path for appending, drops a torn last line (a crash
// mid-write) and calls scan on every complete line from offset from.
func openJournal(path string, durable bool, ackSeq, ackOff, from int64, scan func(seq int64, raw []byte)) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	j := &journal{path: path, f: f, w: newJournalWriter(f), durable: durable, ackSeq: ackSeq, ackOff: ackOff, next: ackSeq + 1}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if j.ackOff > st.Size() || from > st.Size() {
		j.ackOff, from = 0, 0 // the cursor is from another file: resend all (safe)
		j.ackSeq, j.next = 0, 1
	}
	end := from
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, st.Size()-from), int(min(st.Size()-from+16, 256<<10)))
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break // io.EOF, with a torn line in line if any
		}
		end += int64(len(line))
		var h struct{ Seq int64 }
		if json.Unmarshal(line, &h) == nil {
			if h.Seq >= j.next {
				j.next = h.Seq + 1
			}
			if scan != nil {
				scan(h.Seq, line)
			}
		}
	}
	if end < st.Size() {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, err
		}
	}
	j.size = end
	return j, nil
}

// newJournal is the journal of a new attempt: its file is created by the
// first append (an attempt that prints nothing has no log file).
func newJournal(path string, durable bool) *journal {
	return &journal{path: path, durable: durable, next: 1}
}

// flush writes the buffer out; j.mu is held.
func (j *journal) flush() error {
	if j.w == nil {
		return nil
	}
	return j.w.Flush()
}

// add appends the value build returns for the next seq.
func (j *journal) add(build func(seq int64) any) (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, os.ErrClosed
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		j.f, j.w = f, newJournalWriter(f)
	}
	seq := j.next
	b, err := json.Marshal(build(seq))
	if err != nil {
		return 0, err
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return 0, err
	}
	if j.durable {
		if err := j.w.Flush(); err != nil {
			return 0, err
		}
		if err := j.f.Sync(); err != nil {
			return 0, err
		}
	}
	j.size += int64(len(b))
	j.next++
	return seq, nil
}

// pending reads up to max lines (and about maxBytes) after the cursor.
func (j *journal) pending(max int, maxBytes int) ([]record, error) {
	j.mu.Lock()
	err := j.flush()
	off, end := j.ackOff, j.size
	j.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if off >= end {
		return nil, nil
	}
	// Sized to what is pending (often one small event), not 64 KiB a call.
	r := bufio.NewReaderSize(io.NewSectionReader(j.f, off, end-off), int(min(end-off, 64<<10)))
	var recs []record
	total := 0
	for len(recs) < max && total < maxBytes {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		off += int64(len(line))
		total += len(line)
		var h struct{ Seq int64 }
		if err := json.Unmarshal(line, &h); err != nil {
			return nil, err
		}
		recs = append(recs, record{Seq: h.Seq, End: off, Raw: bytes.TrimSuffix(line, []byte("\n"))})
	}
	return recs, nil
}

// ack moves the cursor past rec.
func (j *journal) ack(rec record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if rec.Seq > j.ackSeq {
		j.ackSeq, j.ackOff = rec.Seq, rec.End
	}
}

// rewind moves the cursor back so that seq after is the next one sent
// (the control plane says it applied less than it had acknowledged).
func (j *journal) rewind(after int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.flush(); err != nil {
		return err
	}
	if j.f == nil {
		return errors.New("rewind: nothing was written")
	}
	r := bufio.NewReader(io.NewSectionReader(j.f, 0, j.size))
	var off int64
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return errors.New("rewind: seq not found")
		}
		var h struct{ Seq int64 }
		_ = json.Unmarshal(line, &h)
		if h.Seq == after+1 {
			j.ackSeq, j.ackOff = after, off
			return nil
		}
		off += int64(len(line))
	}
}

// cursor is the acknowledged position, for acked.json.
func (j *journal) cursor() (seq, off int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.ackSeq, j.ackOff
}

// last is the seq of the last appended line (0: none).
func (j *journal) last() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next - 1
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.f == nil {
		return nil
	}
	err := j.w.Flush()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.w.Reset(nil)
	journalWriters.Put(j.w)
	j.w = nil
	return err
}

// journalWriters keep journals' write buffers between attempts: an agent
// host runs thousands of attempts, and 32 KiB per journal made up much of
// what it allocated for a short one.
var journalWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

func newJournalWriter(f *os.File) *bufio.Writer {
	w := journalWriters.Get().(*bufio.Writer)
	w.Reset(f)
	return w
}
