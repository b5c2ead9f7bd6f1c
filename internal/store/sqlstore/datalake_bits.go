package sqlstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/koya-dev/koya/internal/datalake/query"
)

// Bitmap postings of metadata values (table meta_bits).
//
// For each metadata key (kid) and term — a string, a boolean, null, "the
// file holds the key", or a bucket of numbers or of times — meta_bits
// holds the set of fids holding it, one row per chunk of 65,536 fids. A
// conjunction is then a few AND and OR passes over 8 KiB bitsets per
// chunk, whatever its predicates' selectivities: a search reads a
// handful of rows per predicate and chunk, where the side table's
// indexes read an entry per value (a query whose predicates are each
// unselective but together rare took hundreds of thousands of probes).
//
// Numbers and times are bucketed at three levels, each 16 times coarser
// than the one below: a range is covered by at most 2x15 runs of whole
// buckets at the two finer levels, one run at the coarsest (a single
// range of terms however long: a level above it would only add a dense
// bitmap to every write) and the partial buckets at its two ends. What
// the bitmaps give for a range is so a superset of its matches, which
// query.Match then checks on a page's worth of candidates.

const (
	chunkShift = 16
	chunkSize  = 1 << chunkShift
	chunkWords = chunkSize / 64
	chunkBytes = chunkSize / 8
	// arrayMax is the most offsets a chunk stores as a sorted array (2
	// bytes each); a fuller chunk is stored as its 8 KiB bitset.
	arrayMax = chunkBytes/2 - 1
)

// bitset is one chunk's fids, bit i for the chunk's i-th fid.
type bitset []uint64

func newBitset() bitset { return make(bitset, chunkWords) }

func (b bitset) set(off uint16)      { b[off>>6] |= 1 << (off & 63) }
func (b bitset) clear(off uint16)    { b[off>>6] &^= 1 << (off & 63) }
func (b bitset) has(off uint16) bool { return b[off>>6]&(1<<(off&63)) != 0 }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

// each calls fn with the offsets set, in order, until fn returns false.
func (b bitset) each(fn func(off uint16) bool) {
	for i, w := range b {
		for w != 0 {
			if !fn(uint16(i*64 + bits.TrailingZeros64(w))) {
				return
			}
			w &= w - 1
		}
	}
}

// encodeChunk is b as stored: its offsets as sorted 2-byte little-endian
// integers when there are at most arrayMax, else the bitset's 8 KiB.
func encodeChunk(b bitset) []byte {
	n := b.count()
	if n > arrayMax {
		out := make([]byte, chunkBytes)
		for i, w := range b {
			binary.LittleEndian.PutUint64(out[8*i:], w)
		}
		return out
	}
	out := make([]byte, 0, 2*n)
	b.each(func(off uint16) bool {
		out = binary.LittleEndian.AppendUint16(out, off)
		return true
	})
	return out
}

// orChunk ORs a stored chunk into b.
func (b bitset) orChunk(raw []byte) error {
	if len(raw) == chunkBytes {
		for i := range b {
			b[i] |= binary.LittleEndian.Uint64(raw[8*i:])
		}
		return nil
	}
	if len(raw)%2 != 0 || len(raw) > 2*arrayMax {
		return fmt.Errorf("a metadata bitmap chunk of %d bytes", len(raw))
	}
	for i := 0; i < len(raw); i += 2 {
		b.set(binary.LittleEndian.Uint16(raw[i:]))
	}
	return nil
}

// andCount is the number of fids both a stored chunk and b hold.
func (b bitset) andCount(raw []byte) (int, error) {
	if len(raw) == chunkBytes {
		n := 0
		for i, w := range b {
			n += bits.OnesCount64(w & binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return n, nil
	}
	if len(raw)%2 != 0 || len(raw) > 2*arrayMax {
		return 0, fmt.Errorf("a metadata bitmap chunk of %d bytes", len(raw))
	}
	n := 0
	for i := 0; i < len(raw); i += 2 {
		if b.has(binary.LittleEndian.Uint16(raw[i:])) {
			n++
		}
	}
	return n, nil
}

// chunkCount is the number of fids of a stored chunk.
func chunkCount(raw []byte) int {
	if len(raw) == chunkBytes {
		n := 0
		for i := 0; i < len(raw); i += 8 {
			n += bits.OnesCount64(binary.LittleEndian.Uint64(raw[i:]))
		}
		return n
	}
	return len(raw) / 2
}

// Term kinds: a term's first byte. Their order groups a key's rows
// (booleans, holding, numbers, strings, times, nulls).
const (
	termBool   = 'b'
	termExists = 'e'
	termNumber = 'n'
	termString = 's'
	termTime   = 't'
	termNull   = 'z'
)

// The levels of number and time buckets: a value's key (an order-
// preserving uint64) shifted right by these. Number buckets are 1/256,
// 1/16 and 1 power of two wide; time buckets about 72 minutes, 19 hours
// and 13 days.
var (
	numberShifts = []uint{44, 48, 52}
	timeShifts   = []uint{32, 36, 40}
)

// numberKey orders float64s as uint64s (the sign bit flipped for
// positives, every bit for negatives); -0 is 0.
func numberKey(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	u := math.Float64bits(f)
	if u>>63 == 1 {
		return ^u
	}
	return u | 1<<63
}

// timeKey orders microseconds since the epoch as uint64s.
func timeKey(us int64) uint64 { return uint64(us) ^ 1<<63 }

// bucketTerm is the term of bucket b of a level of numbers or times.
func bucketTerm(kind byte, level int, b uint64) string {
	t := make([]byte, 10)
	t[0], t[1] = kind, byte(level)
	binary.BigEndian.PutUint64(t[2:], b)
	return string(t)
}

// bucketRun is the buckets lo..hi (inclusive) of one level.
type bucketRun struct {
	level  int
	lo, hi uint64
}

// cover is the bucket runs whose union holds every key in [lo, hi]: whole
// buckets at the coarsest level they fit, and at the finest level the
// partial buckets at the ends. Each level's shift is 4 more than the
// previous one's.
func cover(lo, hi uint64, shifts []uint) []bucketRun {
	var out []bucketRun
	a, b := lo>>shifts[0], hi>>shifts[0]
	for level := 0; level < len(shifts)-1; level++ {
		pa, pb := (a+15)>>4, (b+1)>>4 // parents wholly inside: [pa, pb)
		if pa >= pb {
			return append(out, bucketRun{level, a, b})
		}
		if a < pa<<4 {
			out = append(out, bucketRun{level, a, pa<<4 - 1})
		}
		if b >= pb<<4 {
			out = append(out, bucketRun{level, pb << 4, b})
		}
		a, b = pa, pb-1
	}
	return append(out, bucketRun{len(shifts) - 1, a, b})
}

// valueTerms appends the terms of one value of a key.
func valueTerms(dst []string, kv query.KV) []string {
	switch kv.Kind {
	case query.Null:
		return append(dst, string(termNull))
	case query.Bool:
		if kv.Bool {
			return append(dst, "b1")
		}
		return append(dst, "b0")
	case query.Number:
		k := numberKey(kv.Num)
		for l, s := range numberShifts {
			dst = append(dst, bucketTerm(termNumber, l, k>>s))
		}
		return dst
	}
	dst = append(dst, string(termString)+kv.Str)
	if kv.HasTime {
		k := timeKey(kv.Time.UnixMicro())
		for l, s := range timeShifts {
			dst = append(dst, bucketTerm(termTime, l, k>>s))
		}
	}
	return dst
}

// bitKey names one bitmap: a key's id and a term.
type bitKey struct {
	kid  int64
	term string
}

func (k bitKey) less(o bitKey) bool {
	if k.kid != o.kid {
		return k.kid < o.kid
	}
	return strings.Compare(k.term, o.term) < 0
}

// fileTerms is the bitmaps a file with these values is in (kids: the
// ids of their keys).
func fileTerms(kids map[string]int64, kvs []query.KV) map[bitKey]bool {
	out := map[bitKey]bool{}
	var terms []string
	for _, kv := range kvs {
		kid, ok := kids[kv.Key]
		if !ok {
			continue
		}
		out[bitKey{kid, string(termExists)}] = true
		terms = valueTerms(terms[:0], kv)
		for _, t := range terms {
			out[bitKey{kid, t}] = true
		}
	}
	return out
}
