package agent

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"
)

// MaxLine is the longest log line; longer ones are split.
const MaxLine = 64 << 10

// splitLines calls emit for every line read from r (without its newline
// or carriage return), splitting lines longer than MaxLine on a UTF-8
// boundary, until r ends.
func splitLines(r io.Reader, emit func(string)) {
	br := bufio.NewReaderSize(r, MaxLine)
	var carry []byte // the start of a character cut by a split
	for {
		chunk, err := br.ReadSlice('\n')
		line := chunk
		if len(carry) > 0 {
			line = append(carry, chunk...)
			carry = nil
		}
		switch err {
		case nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			emit(string(line))
		case bufio.ErrBufferFull:
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
			if len(line) > 0 {
				emit(string(line))
			}
			return
		}
	}
}
