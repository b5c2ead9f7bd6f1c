package keys

import (
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/streamingaead/aesgcmhkdf"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"

	"github.com/koya-dev/koya/errs"
)

// Ciphertext segment sizes of streaming keys. A key keeps the size it was
// created with, and a stream does not record it: a stream is read with
// the segment size of the key its header names.
const (
	// Segment1MiB is that of the keys created now (tink's
	// AES256_GCM_HKDF_1MB): a GCM call and a tag per MiB, and reads and
	// writes of a MiB, rather than per 4 KiB.
	Segment1MiB = 1 << 20
	// Segment4KiB is that of the keys koya created until 2026-11 (tink's
	// AES256_GCM_HKDF_4KB); their streams still decrypt.
	Segment4KiB = 4 << 10
)

// streamTemplate is the tink template of streaming keys of segment bytes
// (0: Segment1MiB).
func streamTemplate(segment int) (*tinkpb.KeyTemplate, error) {
	switch segment {
	case 0, Segment1MiB:
		return streamingaead.AES256GCMHKDF1MBKeyTemplate(), nil
	case Segment4KiB:
		return streamingaead.AES256GCMHKDF4KBKeyTemplate(), nil
	}
	return nil, errs.E(errs.Invalid, "keys: a streaming key has segments of %d or %d bytes, not %d", Segment1MiB, Segment4KiB, segment)
}

// smallSegment: below this, a segment read or written straight from or to
// a file or a socket would be a system call per few KiB.
const smallSegment = 64 << 10

// layoutOf reads the sizes of a streaming key's streams from its
// parameters: its segment size is not the same for every key.
func layoutOf(e *keyset.Entry) (streamLayout, error) {
	k, ok := e.Key().(*aesgcmhkdf.Key)
	var p *aesgcmhkdf.Parameters
	if ok {
		p, ok = k.Parameters().(*aesgcmhkdf.Parameters)
	}
	if !ok {
		return streamLayout{}, errs.E(errs.Internal, "keys: streaming key %d is a %T, not AES-GCM-HKDF", e.KeyID(), e.Key())
	}
	return streamLayout{segment: int64(p.SegmentSizeInBytes()), header: int64(1 + p.DerivedKeySizeInBytes() + aesGCMHKDFNoncePrefix)}, nil
}

// aesGCMHKDFNoncePrefix is the length of the nonce prefix in tink's
// AES-GCM-HKDF stream header (after its length byte and the salt).
const aesGCMHKDFNoncePrefix = 7

// streamLayout is the shape of the streams of one key: after koya's
// prefix, tink's header (1 + salt + nonce prefix: 40 bytes), then
// segments of segment bytes each ending in a 16-byte tag, the first one
// shortened by the header. A stream never ends with an empty segment,
// except an empty one.
type streamLayout struct {
	segment int64 // ciphertext bytes of a segment
	header  int64 // tink's header
}

const streamTag = 16

// plaintextSize is the length of the plaintext of a stream of n bytes of
// this layout, koya's prefix included.
func (l streamLayout) plaintextSize(n int64) (int64, error) {
	m := n - prefixLen - l.header
	first := l.segment - l.header // ciphertext of the first segment
	bad := errs.E(errs.Forbidden, "%d bytes is not the length of an encrypted stream", n)
	switch {
	case l.segment <= l.header+streamTag || m < streamTag:
		return 0, bad
	case m <= first:
		return m - streamTag, nil
	}
	rest := m - first
	full, part := rest/l.segment, rest%l.segment
	size := first - streamTag + full*(l.segment-streamTag)
	if part > 0 {
		if part <= streamTag {
			return 0, bad
		}
		size += part - streamTag
	}
	return size, nil
}
