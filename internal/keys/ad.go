package keys

import (
	"encoding/binary"

	"github.com/koya-dev/koya/errs"
)

// Domain labels keep associated data of one use from ever equalling that of
// another (a keyset wrap, an AEAD value, a stream).
const (
	labelKeyset = "koya/keyset/v1"
	labelData   = "koya/data/v1"
)

// frame encodes fields so that different field lists never share an
// encoding: each field is preceded by its length as a uvarint, so
// ("ab", "c") and ("a", "bc") differ.
func frame(fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// dataAD is the associated data of one object's ciphertext. purpose keeps an
// AEAD value from being accepted as a stream and back; extra carries a
// stream's header.
func dataAD(purpose, project, kind, objectID string, extra ...string) []byte {
	return frame(append([]string{labelData, purpose, project, kind, objectID}, extra...)...)
}

// maxNameLen bounds the names bound into associated data; they are ids, not
// payloads.
const maxNameLen = 1024

// checkNames refuses empty or oversized names: an empty object id would make
// every object of a kind interchangeable.
func checkNames(project, kind, objectID string) error {
	for _, f := range []struct{ name, v string }{{"project", project}, {"kind", kind}, {"object id", objectID}} {
		if f.v == "" {
			return errs.E(errs.Invalid, "keys: %s is empty", f.name)
		}
		if len(f.v) > maxNameLen {
			return errs.E(errs.Invalid, "keys: %s is longer than %d bytes", f.name, maxNameLen)
		}
	}
	return nil
}
