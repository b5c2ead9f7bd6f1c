// Package datalake is koya's store of raw data: files in channels of a
// project, each with free JSON metadata, searched and counted by it.
//
// A file's row (package store) holds what search needs; its content is an
// encrypted object of the project (package objects), named by a random key
// so that it is encrypted in one pass while its SHA-256 is computed. Lake
// ties the two together: a row is written only once its object is
// complete, and an object whose row could not be written is deleted, so an
// interrupted upload leaves neither a visible file nor an orphan object.
//
// Large files go up in chunks through an upload session (resumable: a
// chunk is stored as its own encrypted part, the running SHA-256 state is
// kept between chunks, and completing writes a manifest naming the parts;
// see objects.PutDataManifest). Sessions expire after SessionTTL and are
// swept when a new one starts in the project.
package datalake

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
)

// Limits of a file's path.
const (
	MaxPathBytes    = 1024
	MaxSegmentBytes = 255
)

// ValidatePath checks that p names a file inside a channel: a relative,
// slash-separated path of non-empty segments, none "." or "..", without
// backslashes, NUL or other control characters, in valid UTF-8, at most
// MaxPathBytes long with segments of at most MaxSegmentBytes. Such a path
// is its own path.Clean, and it cannot escape a directory it is joined to.
func ValidatePath(p string) error {
	bad := func(format string, args ...any) error {
		return errs.At(errs.Invalid, "path", "file path %q: "+format, append([]any{p}, args...)...)
	}
	switch {
	case p == "":
		return errs.At(errs.Invalid, "path", "a file path is required")
	case len(p) > MaxPathBytes:
		return errs.At(errs.Invalid, "path", "file path %.40q...: longer than %d bytes (%d)", p, MaxPathBytes, len(p))
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("absolute; paths are relative to the channel")
	case strings.Contains(p, `\`):
		return bad("contains a backslash; separate directories with /")
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) {
			return bad("contains the control character %U", r)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return bad("has an empty segment (// or a trailing /)")
		case seg == "." || seg == "..":
			return bad("has a %q segment; paths may not go up or stay in place", seg)
		case len(seg) > MaxSegmentBytes:
			return bad("segment %.40q... is longer than %d bytes", seg, MaxSegmentBytes)
		}
	}
	return nil
}

// ValidateChannel checks a channel name: lower-case letters, digits, '-',
// '_' and '.', starting with a letter or digit, at most 63 bytes.
func ValidateChannel(name string) error {
	ok := name != "" && len(name) <= 63
	for i, r := range name {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && (i == 0 || (r != '-' && r != '_' && r != '.')) {
			ok = false
			break
		}
	}
	if !ok {
		return errs.At(errs.Invalid, "channel", "%q is not a channel name: use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63", name)
	}
	return nil
}
