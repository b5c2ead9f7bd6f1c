package sqlstore

import (
	"context"
	"math"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

// bitNode is a condition as the metadata bitmaps answer it: the fids of
// the bitmaps of a leaf's key ids and term ranges, or the AND or OR of
// its children. What it gives is a superset of the condition's matches
// (exactly them when bitPlan says exact).
type bitNode struct {
	op     byte // 'l' leaf, '&' and, '|' or
	kids   []int64
	ranges [][2][]byte // a leaf's term ranges [lo, hi)
	sub    []*bitNode
}

// bitPlan is e as bitmaps, and whether they give e's matches exactly;
// nil when they cannot narrow e (a built-in field, not, !=, contains, a
// comparison of strings by order): the caller reads files another way.
// A conjunction narrows by what its conjuncts can (the rest is checked
// on the candidates); a disjunction only if both sides can.
func (w *whereCompiler) bitPlan(e query.Expr) (*bitNode, bool) {
	switch e := e.(type) {
	case *query.And:
		l, le := w.bitPlan(e.L)
		r, re := w.bitPlan(e.R)
		switch {
		case l == nil && r == nil:
			return nil, false
		case l == nil:
			return r, false
		case r == nil:
			return l, false
		}
		return &bitNode{op: '&', sub: []*bitNode{l, r}}, le && re
	case *query.Or:
		l, le := w.bitPlan(e.L)
		r, re := w.bitPlan(e.R)
		if l == nil || r == nil {
			return nil, false
		}
		return &bitNode{op: '|', sub: []*bitNode{l, r}}, le && re
	case *query.Compare:
		return w.bitLeaf(e)
	}
	return nil, false
}

// bitLeaf is the bitmaps of one comparison of a metadata key, following
// metaCond's semantics.
func (w *whereCompiler) bitLeaf(c *query.Compare) (*bitNode, bool) {
	if c.Field.Builtin {
		return nil, false
	}
	n := &bitNode{op: 'l', kids: w.keys.kids(c.Field.Name, c.Op == query.Exists)}
	point := func(t string) { n.ranges = append(n.ranges, [2][]byte{[]byte(t), []byte(t + "\x00")}) }
	switch c.Op {
	case query.Exists:
		point(string(termExists))
		return n, true
	case query.In:
		exact := true
		for _, v := range c.Value.List {
			l, ok := w.bitLeaf(&query.Compare{Field: c.Field, Op: query.Eq, Value: v})
			if l == nil {
				return nil, false
			}
			n.ranges = append(n.ranges, l.ranges...)
			exact = exact && ok
		}
		return n, exact
	case query.Prefix:
		// Strings with the prefix are the terms from it up to it followed
		// by 0xff, a byte UTF-8 never holds.
		n.ranges = append(n.ranges, [2][]byte{[]byte(string(termString) + c.Value.Str), []byte(string(termString) + c.Value.Str + "\xff")})
		return n, true
	case query.Contains:
		if c.Value.Kind == query.String {
			return nil, false
		}
		return w.bitLeaf(&query.Compare{Field: c.Field, Op: query.Eq, Value: c.Value})
	case query.Eq, query.Lt, query.Le, query.Gt, query.Ge:
	default:
		return nil, false
	}
	v := c.Value
	switch v.Kind {
	case query.String:
		if c.Op != query.Eq {
			return nil, false // strings by order: terms are not in the database's collation
		}
		point(string(termString) + v.Str)
		return n, true
	case query.Bool:
		if c.Op != query.Eq {
			return nil, false
		}
		if v.Bool {
			point("b1")
		} else {
			point("b0")
		}
		return n, true
	case query.Null:
		if c.Op != query.Eq {
			return nil, false
		}
		point(string(termNull))
		return n, true
	case query.Number:
		n.ranges = bucketRanges(termNumber, numberShifts, numberKey(v.Num), c.Op)
		return n, false
	case query.Time:
		n.ranges = bucketRanges(termTime, timeShifts, timeKey(v.Time.UnixMicro()), c.Op)
		return n, false
	}
	return nil, false
}

// bucketRanges is the term ranges of the buckets covering the keys that
// compare to k by op (the bound's own bucket included: a superset).
func bucketRanges(kind byte, shifts []uint, k uint64, op query.Op) [][2][]byte {
	lo, hi := k, k
	switch op {
	case query.Lt, query.Le:
		lo = 0
	case query.Gt, query.Ge:
		hi = math.MaxUint64
	}
	var out [][2][]byte
	for _, r := range cover(lo, hi, shifts) {
		out = append(out, [2][]byte{[]byte(bucketTerm(kind, r.level, r.lo)), []byte(bucketTerm(kind, r.level, r.hi+1))})
	}
	return out
}

// bitEval is the fids n gives in chunks c0..c1, by chunk (a chunk
// without any is absent).
func (q *querier) bitEval(ctx context.Context, n *bitNode, c0, c1 int64) (map[int64]bitset, error) {
	if n.op == 'l' {
		return q.bitLeafSets(ctx, n, c0, c1)
	}
	out, err := q.bitEval(ctx, n.sub[0], c0, c1)
	if err != nil {
		return nil, err
	}
	for _, s := range n.sub[1:] {
		if n.op == '&' && len(out) == 0 {
			return out, nil
		}
		more, err := q.bitEval(ctx, s, c0, c1)
		if err != nil {
			return nil, err
		}
		if n.op == '|' {
			for c, bs := range more {
				if have := out[c]; have != nil {
					have.or(bs)
				} else {
					out[c] = bs
				}
			}
			continue
		}
		for c, bs := range out {
			if other := more[c]; other != nil {
				bs.and(other)
			} else {
				delete(out, c)
			}
		}
	}
	return out, nil
}

// bitLeafSets reads a leaf's bitmaps in chunks c0..c1 and ORs them by
// chunk: a primary-key range per key id and term range, a UNION ALL of at
// most bitBranches of them per statement (SQLite allows 500).
func (q *querier) bitLeafSets(ctx context.Context, n *bitNode, c0, c1 int64) (map[int64]bitset, error) {
	out := map[int64]bitset{}
	var b sqlBuf
	branches := 0
	flush := func() error {
		if branches == 0 {
			return nil
		}
		defer func() { b, branches = sqlBuf{}, 0 }()
		rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
		if err != nil {
			return q.s.wrap(err, "find files")
		}
		defer rows.Close()
		for rows.Next() {
			var c int64
			var raw []byte
			if err := rows.Scan(&c, &raw); err != nil {
				return q.s.wrap(err, "find files")
			}
			bs := out[c]
			if bs == nil {
				bs = newBitset()
				out[c] = bs
			}
			if err := bs.orChunk(raw); err != nil {
				return errs.Wrap(errs.Internal, err, "find files: chunk %d: %v", c, err)
			}
		}
		return q.s.wrap(rows.Err(), "find files")
	}
	for _, kid := range n.kids {
		if kid == noKey {
			continue
		}
		for _, r := range n.ranges {
			if branches > 0 {
				b.WriteString(" UNION ALL ")
			}
			branches++
			b.add(`SELECT chunk, bits FROM meta_bits WHERE kid = ? AND term >= ? AND term < ? AND chunk >= ? AND chunk <= ?`,
				kid, r[0], r[1], c0, c1)
			if branches == bitBranches {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// bitBranches bounds the SELECTs of one compound statement.
const bitBranches = 200

// findByBits is a page of files in fid order after afterFid, from the
// candidates the bitmaps give: chunk by chunk (1, then 4, 16, 64 chunks
// at a time, so that a common match stops early and a rare one takes
// few round trips), each batch of candidates checked against the whole
// condition by check (a page's worth when the bitmaps are exact, more
// when they only narrow it), until a page is found.
func (q *querier) findByBits(ctx context.Context, n *bitNode, exact bool, limit int, afterFid int64,
	check func(n int, cands []int64, found []foundFile) ([]foundFile, error)) ([]foundFile, error) {
	top, err := q.topChunk(ctx)
	if err != nil {
		return nil, err
	}
	need := limit + 1
	var found []foundFile
	var cands []int64
	flush := func() error {
		if len(cands) == 0 {
			return nil
		}
		var err error
		found, err = check(need-len(found), cands, found)
		cands = cands[:0]
		return err
	}
	batch := func() int {
		if exact {
			return need - len(found)
		}
		return min(4*(need-len(found))+64, candCap)
	}
	span := int64(1)
	for c := max(afterFid, 0) >> chunkShift; c <= top && len(found) < need; {
		c1 := min(c+span-1, top)
		sets, err := q.bitEval(ctx, n, c, c1)
		if err != nil {
			return nil, err
		}
		for ch := c; ch <= c1 && len(found) < need; ch++ {
			bs := sets[ch]
			if bs == nil {
				continue
			}
			bs.each(func(off uint16) bool {
				fid := ch<<chunkShift | int64(off)
				if fid <= afterFid {
					return true
				}
				cands = append(cands, fid)
				if len(cands) < batch() {
					return true
				}
				err = flush()
				return err == nil && len(found) < need
			})
			if err != nil {
				return nil, err
			}
		}
		if len(found) < need {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		c, span = c1+1, min(span*4, 64)
	}
	return found, nil
}
