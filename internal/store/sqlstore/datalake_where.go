package sqlstore

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

// sqlBuf accumulates a statement and its arguments.
type sqlBuf struct {
	strings.Builder
	args []any
}

func (b *sqlBuf) add(sql string, args ...any) {
	b.WriteString(sql)
	b.args = append(b.args, args...)
}

// whereCompiler turns a query into a condition on files f, with the
// semantics of query.Match. Metadata keys are read through the key
// dictionary (keys: a key's ids in the query's channels). A metadata
// predicate becomes f.fid IN (SELECT fid FROM file_meta WHERE kid = ?
// AND <value>): one range of a composite index (kid, value, fid), which
// the planner can drive from or probe.
//
// Only one predicate, the driver, is compiled so: the others become
// correlated probes, EXISTS (SELECT 1 FROM file_meta WHERE fid = f.fid
// AND kid = ? ...) on the primary key (fid, kid, pos). SQLite would
// otherwise materialise every IN set in full, however unselective, before
// reading a file (PostgreSQL plans both forms alike). (A listing in the
// default order reads its candidates from the bitmaps instead, when they
// can narrow the condition: datalake_bits_search.go.)
type whereCompiler struct {
	d      *Dialect
	cids   []int64
	keys   keyDict
	driver *query.Compare // compiled as IN; nil: none
	where  query.Expr     // the condition compiled (candidates reads its conjuncts)
}

// anyOf is metaCond of c, or of each value of an in, or'ed.
func (w *whereCompiler) anyOf(b *sqlBuf, c *query.Compare) error {
	if c.Op != query.In {
		return w.metaCond(b, c)
	}
	if len(c.Value.List) == 0 {
		b.WriteString("1 = 0")
	}
	for i, v := range c.Value.List {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(")
		if err := w.metaCond(b, &query.Compare{Field: c.Field, Op: query.Eq, Value: v}); err != nil {
			return err
		}
		b.WriteString(")")
	}
	return nil
}

// keyDict maps a key's text to its ids (one per channel holding it) and
// the maintained number of files holding it, from meta_keys.
type keyDict map[string][]keyID

type keyID struct{ kid, files int64 }

// noKey is the id of a key no channel holds: conditions on it match no row.
const noKey = -1

// kids is the ids of key name, or of it and the keys nested under it
// (for exists).
func (k keyDict) kids(name string, nested bool) []int64 {
	var out []int64
	for _, id := range k[name] {
		out = append(out, id.kid)
	}
	if nested {
		for key, ids := range k {
			if strings.HasPrefix(key, name+".") {
				for _, id := range ids {
					out = append(out, id.kid)
				}
			}
		}
	}
	if len(out) == 0 {
		out = []int64{noKey}
	}
	return out
}

// files is the maintained number of files holding key name (for exists,
// the sum over the nested keys too: an upper bound).
func (k keyDict) files(name string, nested bool) int64 {
	var n int64
	for key, ids := range k {
		if key == name || (nested && strings.HasPrefix(key, name+".")) {
			for _, id := range ids {
				n += id.files
			}
		}
	}
	return n
}

// kidCond is "col = ?" or "col IN (...)" for a key's ids.
func kidCond(b *sqlBuf, col string, kids []int64) {
	if len(kids) == 1 {
		b.add(col+" = ?", kids[0])
		return
	}
	b.WriteString(col + " IN (")
	for i, k := range kids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.add("?", k)
	}
	b.WriteString(")")
}

// queryKeys is the metadata keys an expression and a sort name.
func queryKeys(e query.Expr, sorts []query.Sort, more ...string) []string {
	keys := more
	var walk func(e query.Expr)
	walk = func(e query.Expr) {
		switch e := e.(type) {
		case *query.And:
			walk(e.L)
			walk(e.R)
		case *query.Or:
			walk(e.L)
			walk(e.R)
		case *query.Not:
			walk(e.X)
		case *query.Compare:
			if !e.Field.Builtin {
				keys = append(keys, e.Field.Name)
			}
		}
	}
	if e != nil {
		walk(e)
	}
	for _, s := range sorts {
		if !s.Field.Builtin {
			keys = append(keys, s.Field.Name)
		}
	}
	return keys
}

// driverCap bounds the index entries counted to estimate a predicate.
const driverCap = 10000

// rangeSelectivity is the share of files a predicate whose count is not
// known is assumed to keep.
const rangeSelectivity = 0.3

// indexable: a metadata predicate that reads one index range.
func indexable(c *query.Compare) bool {
	if c.Field.Builtin {
		return false
	}
	switch c.Op {
	case query.Eq, query.In, query.Lt, query.Le, query.Gt, query.Ge, query.Prefix, query.Exists:
		return true
	}
	return false
}

// pickDriver chooses how a query reads files: from the index range of
// its metadata predicate with the fewest rows (counted by est up to
// driverCap), or, for a listing (limit > 0), in the listing's order
// probing every predicate, when the estimated matches make a page
// cheaper to find so. The share of matching files is estimated from the
// counts (predicates assumed independent), rangeSelectivity for the
// others. It sets w.driver (nil: none).
func (w *whereCompiler) pickDriver(e query.Expr, files int64, limit int, est func(c *query.Compare) (int64, error)) error {
	// p: the driver's estimated rows, and the share of files the whole
	// conjunction is estimated to keep.
	p := struct {
		rows  int64
		share float64
	}{rows: -1, share: 1}
	files = max(files, 1)
	var bestScore int64
	var walk func(e query.Expr) error
	walk = func(e query.Expr) error {
		switch e := e.(type) {
		case *query.And:
			if err := walk(e.L); err != nil {
				return err
			}
			return walk(e.R)
		case *query.Compare:
			if !indexable(e) {
				p.share *= rangeSelectivity
				return nil
			}
			n, err := est(e)
			if err != nil {
				return err
			}
			if n >= driverCap && e.Op != query.Eq && e.Op != query.In && e.Op != query.Exists {
				// A range's count stops at the cap: its share is not known.
				p.share *= rangeSelectivity
			} else {
				p.share *= min(1, float64(n)/float64(files))
			}
			// An equality or in (rows in fid order) wins over a range of
			// up to twice as many rows.
			ordered := e.Op == query.Eq || e.Op == query.In
			score := n
			if !ordered {
				score *= 2
				if n >= driverCap && e.Op != query.Exists {
					score = math.MaxInt64 // a lower bound only
				}
			}
			if w.driver == nil || score < bestScore {
				p.rows, w.driver, bestScore = n, e, score
			}
		default:
			p.share *= rangeSelectivity
		}
		return nil
	}
	if err := walk(e); err != nil {
		return err
	}
	if limit > 0 && w.driver != nil && float64(limit) < p.share*float64(p.rows) {
		w.driver = nil // scanning in order finds a page before the set is read
	}
	return nil
}

// cidCond is "= ?" or "IN (...)" for the channels a query reads.
func (w *whereCompiler) cidCond(b *sqlBuf, col string) {
	if len(w.cids) == 1 {
		b.add(col+" = ?", w.cids[0])
		return
	}
	b.WriteString(col + " IN (")
	for i, c := range w.cids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.add("?", c)
	}
	b.WriteString(")")
}

func (w *whereCompiler) expr(b *sqlBuf, e query.Expr) error {
	switch e := e.(type) {
	case *query.And:
		return w.binary(b, e.L, e.R, " AND ")
	case *query.Or:
		return w.binary(b, e.L, e.R, " OR ")
	case *query.Not:
		b.WriteString("NOT (")
		if err := w.expr(b, e.X); err != nil {
			return err
		}
		b.WriteString(")")
		return nil
	case *query.Compare:
		if e.Op == query.Ne { // x != v is not (x = v), as in Match
			b.WriteString("NOT (")
			if err := w.compare(b, &query.Compare{Field: e.Field, Op: query.Eq, Value: e.Value}); err != nil {
				return err
			}
			b.WriteString(")")
			return nil
		}
		return w.compare(b, e)
	}
	return errs.E(errs.Invalid, "query: unexpected expression %T", e)
}

func (w *whereCompiler) binary(b *sqlBuf, l, r query.Expr, op string) error {
	b.WriteString("(")
	if err := w.expr(b, l); err != nil {
		return err
	}
	b.WriteString(op)
	if err := w.expr(b, r); err != nil {
		return err
	}
	b.WriteString(")")
	return nil
}

var builtinCols = map[string]string{
	"path": "f.path", "content_type": "f.content_type", "digest": "f.digest",
	"size": "f.size", "created": "f.created_at", "updated": "f.updated_at",
}

var sqlOps = map[query.Op]string{query.Eq: " = ", query.Lt: " < ", query.Le: " <= ", query.Gt: " > ", query.Ge: " >= "}

func (w *whereCompiler) compare(b *sqlBuf, c *query.Compare) error {
	if c.Op == query.In {
		// One predicate per value: each uses its type's index.
		if len(c.Value.List) == 0 {
			b.WriteString("1 = 0")
			return nil
		}
		b.WriteString("(")
		for i, v := range c.Value.List {
			if i > 0 {
				b.WriteString(" OR ")
			}
			eq := &query.Compare{Field: c.Field, Op: query.Eq, Value: v}
			var err error
			if c.Field.Builtin {
				err = w.builtin(b, eq)
			} else {
				err = w.metaPredicate(b, eq, c == w.driver)
			}
			if err != nil {
				return err
			}
		}
		b.WriteString(")")
		return nil
	}
	if c.Field.Builtin {
		return w.builtin(b, c)
	}
	return w.metaPredicate(b, c, c == w.driver)
}

// metaPredicate is a metadata comparison other than in: "f.fid IN (...)"
// when it drives, else a probe, "EXISTS (...)".
func (w *whereCompiler) metaPredicate(b *sqlBuf, c *query.Compare, drive bool) error {
	if drive {
		b.WriteString("f.fid IN (SELECT m.fid FROM file_meta m WHERE ")
		if err := w.metaCond(b, c); err != nil {
			return err
		}
	} else {
		b.WriteString("EXISTS (SELECT 1 FROM file_meta m WHERE m.fid = f.fid AND ")
		if err := w.metaCond(b, c); err != nil {
			return err
		}
	}
	b.WriteString(")")
	return nil
}

// metaCond is "<key and value conditions on file_meta m>" for a
// metadata predicate other than in.
func (w *whereCompiler) metaCond(b *sqlBuf, c *query.Compare) error {
	if c.Op == query.Exists {
		// The key itself, or keys nested under it.
		kidCond(b, "m.kid", w.keys.kids(c.Field.Name, true))
		return nil
	}
	kidCond(b, "m.kid", w.keys.kids(c.Field.Name, false))
	b.WriteString(" AND ")
	v := c.Value
	op := c.Op
	if op == query.Contains && v.Kind != query.String {
		op = query.Eq
	}
	switch op {
	case query.Contains:
		w.substring(b, "m.str", v.Str)
	case query.Prefix:
		// The range lets the index narrow; substr decides.
		b.add("m.str >= ? AND substr(m.str, 1, ?) = ?", v.Str, utf8.RuneCountInString(v.Str), v.Str)
	default:
		so, ok := sqlOps[op]
		if !ok {
			return errs.E(errs.Invalid, "query: unexpected operator %s", op)
		}
		switch v.Kind {
		case query.String:
			b.add("m.str"+so+"?", v.Str)
		case query.Number:
			b.add("m.kind = 2 AND m.num"+so+"?", v.Num)
		case query.Time:
			b.add("m.tm"+so+"?", w.d.timeArg(v.Time))
		case query.Bool:
			n := 0.0
			if v.Bool {
				n = 1
			}
			b.add("m.kind = 1 AND m.num = ?", n)
		case query.Null:
			b.add("m.kind = 0 AND m.num = ?", 0.0)
		default:
			return errs.E(errs.Invalid, "query: unexpected value %s", v)
		}
	}
	return nil
}

// substring is "col contains s", case-sensitive on both databases (LIKE
// is not on SQLite).
func (w *whereCompiler) substring(b *sqlBuf, col, s string) {
	if w.d.SerialWrites { // SQLite
		b.add("instr("+col+", ?) > 0", s)
		return
	}
	b.add("strpos("+col+", ?) > 0", s)
}

func (w *whereCompiler) builtin(b *sqlBuf, c *query.Compare) error {
	col := builtinCols[c.Field.Name]
	v := c.Value
	switch c.Op {
	case query.Contains:
		w.substring(b, col, v.Str)
		return nil
	case query.Prefix:
		b.add(col+" >= ? AND substr("+col+", 1, ?) = ?", v.Str, utf8.RuneCountInString(v.Str), v.Str)
		return nil
	}
	so, ok := sqlOps[c.Op]
	if !ok {
		return errs.E(errs.Invalid, "query: %s cannot apply to %s", c.Op, c.Field.Name)
	}
	switch v.Kind {
	case query.String:
		b.add(col+so+"?", v.Str)
	case query.Time:
		b.add(col+so+"?", w.d.timeArg(v.Time))
	case query.Number:
		// An integer keeps size's index usable; a fraction compares as
		// floats (PostgreSQL would not bind 1.5 to a bigint).
		if v.Num == math.Trunc(v.Num) && math.Abs(v.Num) < 1<<62 {
			b.add(col+so+"?", int64(v.Num))
		} else {
			b.add("CAST("+col+" AS DOUBLE PRECISION)"+so+"CAST(? AS DOUBLE PRECISION)", v.Num)
		}
	default:
		return errs.E(errs.Invalid, "query: %s is not %s", c.Field.Name, v)
	}
	return nil
}
