package agent

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"unicode/utf8"
)

// MaxLine is the longest log line; longer ones are split.
const MaxLine = 64 << 10

// lineReaders keep splitLines' buffers between commands: two of MaxLine
// per command were most of what the agent host allocated, and collected,
// for a short one. Nothing read into one outlives the call (emit gets
// copies).
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, MaxLine) }}

// splitLines calls emit for every line read from r (without its newline
// or carriage return), splitting lines longer than MaxLine on a UTF-8
// boundary, until r ends. With a redactor, lines are masked before emit
// sees them, and a split never cuts through a secret (see redactor.pieces).
func splitLines(r io.Reader, red *redactor, emit func(string)) {
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); lineReaders.Put(br) }()
	var carry []byte // what a split kept for the next piece
	for {
		chunk, err := br.ReadSlice('\n')
		line := chunk
		if len(carry) > 0 {
			line = append(carry, chunk...)
			carry = nil
		}
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			if red != nil && len(line) > 0 {
				red.pieces(line, true, emit)
				continue
			}
			emit(string(line))
		case err == bufio.ErrBufferFull && red != nil:
			carry = append([]byte(nil), red.pieces(line, false, emit)...)
		case err == bufio.ErrBufferFull:
			cut := len(line)
			for i := len(line) - 1; i >= 0 && i >= len(line)-utf8.UTFMax; i-- {
				if utf8.RuneStart(line[i]) {
					if !utf8.FullRune(line[i:]) {
						cut = i
					}
					break
				}
			}
			carry = append([]byte(nil), line[cut:]...)
			emit(string(line[:cut]))
		default:
			if len(line) > 0 && red != nil {
				red.pieces(line, true, emit)
			} else if len(line) > 0 {
				emit(string(line))
			}
			return
		}
	}
}

// pieces emits line masked, in pieces of at most about MaxLine bytes cut on
// character boundaries (as far as the bytes are UTF-8) and never inside a
// secret, and returns what it kept back. Unless the line is final (its
// end was read), it keeps the last maxLen-1 bytes at least: an occurrence
// starting there is then seen whole with what follows, and one that
// starts before is wholly in line, so every occurrence is masked whole in
// one piece.
func (r *redactor) pieces(line []byte, final bool, emit func(string)) (rest []byte) {
	s := string(line)
	spans := r.spans(s)
	end := len(s)
	if !final {
		end -= r.maxLen - 1
	}
	start, next := 0, 0
	for start < end {
		cut := min(start+MaxLine, end)
		for i := 0; i < utf8.UTFMax-1 && cut > start && cut < len(s) && !utf8.RuneStart(s[cut]); i++ {
			cut--
		}
		first := next
		for next < len(spans) && spans[next].start < cut {
			cut = max(cut, spans[next].end)
			next++
		}
		if cut <= start {
			break
		}
		emit(mask(s[start:cut], spans[first:next], start))
		start = cut
	}
	return line[start:]
}
