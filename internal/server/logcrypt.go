package server

import (
	"context"
	"encoding/base64"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
)

// Log lines are encrypted one by one with the project's AEAD key before
// they reach the store, and decrypted after they are read: the database
// holds base64 ciphertext in the text column. One line per ciphertext keeps
// the store's paging and cursors as they are.

// kindLog is the kind log lines are encrypted as.
const kindLog = "log"

// logID is the object id a line's ciphertext is bound to: its attempt and
// sequence number, so that a row moved to another attempt, run or project,
// or renumbered, does not decrypt.
func logID(attempt string, seq int64) string {
	return attempt + "/" + strconv.FormatInt(seq, 10)
}

// sealLogs returns copies of attempt's lines with their text encrypted.
func (s *Server) sealLogs(ctx context.Context, project, attempt string, lines []v1.AgentLogLine) ([]v1.AgentLogLine, error) {
	out := make([]v1.AgentLogLine, len(lines))
	for i, l := range lines {
		ct, err := s.keys.Encrypt(ctx, project, kindLog, logID(attempt, l.Seq), []byte(l.Text))
		if err != nil {
			return nil, err
		}
		l.Text = base64.StdEncoding.EncodeToString(ct)
		out[i] = l
	}
	return out, nil
}

// openLogs decrypts lines read from the store, in place. A line that does
// not decrypt fails the whole read, loudly: it is not the attempt's line,
// or its key is disabled (counted by the keyring).
func (s *Server) openLogs(ctx context.Context, project string, lines []v1.LogLine) error {
	for i := range lines {
		l := &lines[i]
		ct, err := base64.StdEncoding.DecodeString(l.Text)
		if err != nil {
			return errs.E(errs.Forbidden, "log line %d of attempt %s is not encrypted (stored before koya encrypted logs at rest?) and is not served", l.Seq, l.Attempt)
		}
		pt, err := s.keys.Decrypt(ctx, project, kindLog, logID(l.Attempt, l.Seq), ct)
		if err != nil {
			return err
		}
		l.Text = string(pt)
	}
	return nil
}

// logPrefixLen is how many characters of a stored line name its key: 7
// base64 characters hold 42 bits, the 40 of the ciphertext's format byte
// and key id, and 2 of its nonce. The store groups lines by them to count
// lines per key without reading them.
const logPrefixLen = 7

// logKeyOf returns the id of the key of a stored line from the first
// logPrefixLen characters of its text; false if it is not a ciphertext.
func logKeyOf(text string) (uint32, bool) {
	if len(text) < logPrefixLen {
		return 0, false
	}
	// A full group of 8 characters decodes to 6 bytes; the padding
	// character only fills the nonce's bits.
	b, err := base64.StdEncoding.DecodeString(text[:logPrefixLen] + "A")
	if err != nil {
		return 0, false
	}
	id, err := keys.KeyIDOf(b[:5])
	return id, err == nil
}
