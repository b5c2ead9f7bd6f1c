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
// semantics of query.Match. A metadata predicate becomes
// f.fid IN (SELECT fid FROM file_meta WHERE cid ... AND key = ? AND ...):
// one range of a composite index (cid, key, value, fid), which the
// planner can drive from or probe.
//
// Only one predicate, the driver, is compiled so: the others become
// correlated probes, EXISTS (SELECT 1 FROM file_meta WHERE fid = f.fid
// AND key = ? ...) on the primary key (fid, key, pos). SQLite would
// otherwise materialise every IN set in full, however unselective, before
// reading a file (PostgreSQL plans both forms alike).
type whereCompiler struct {
	d      *Dialect
	cids   []int64
	driver *query.Compare // compiled as IN; nil: none
}

// driverCap bounds the index entries counted to estimate an equality.
const driverCap = 20000

// rangeSelectivity is the share of files a predicate other than an
// equality is assumed to keep (no statistics are kept on ranges).
const rangeSelectivity = 0.3

// pickDriver chooses how a query reads files. Collecting the files of
// its most selective metadata equality (or in), counted up to driverCap
// by est, costs about that count; reading files in the listing's order
// and probing every predicate costs about limit / (the share of files
// that match), the share estimated from the equalities' counts (assumed
// independent) and rangeSelectivity for the rest. A listing (limit > 0)
// takes the cheaper; a count always collects, as it reads every match.
func (w *whereCompiler) pickDriver(e query.Expr, files int64, limit int, est func(c *query.Compare) (int64, error)) error {
	var best int64 = -1
	share := 1.0
	var walk func(e query.Expr) error
	walk = func(e query.Expr) error {
		switch e := e.(type) {
		case *query.And:
			if err := walk(e.L); err != nil {
				return err
			}
			return walk(e.R)
		case *query.Compare:
			if e.Field.Builtin || (e.Op != query.Eq && e.Op != query.In) {
				share *= rangeSelectivity
				return nil
			}
			n, err := est(e)
			if err != nil {
				return err
			}
			share *= float64(n) / float64(max(files, 1))
			if best < 0 || n < best {
				best, w.driver = n, e
			}
		default:
			share *= rangeSelectivity
		}
		return nil
	}
	if err := walk(e); err != nil {
		return err
	}
	if limit > 0 && w.driver != nil && float64(limit) < share*float64(best) {
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
			if c == w.driver {
				w.driver = eq
			}
			if err := w.compare(b, eq); err != nil {
				return err
			}
			if w.driver == eq {
				w.driver = c
			}
		}
		b.WriteString(")")
		return nil
	}
	if c.Field.Builtin {
		return w.builtin(b, c)
	}
	if c == w.driver {
		b.WriteString("f.fid IN (SELECT m.fid FROM file_meta m WHERE ")
		w.cidCond(b, "m.cid")
	} else {
		b.WriteString("EXISTS (SELECT 1 FROM file_meta m WHERE m.fid = f.fid")
	}
	if err := w.metaCond(b, c); err != nil {
		return err
	}
	b.WriteString(")")
	return nil
}

// metaCond is " AND <key and value conditions on file_meta m>" for a
// metadata predicate other than in.
func (w *whereCompiler) metaCond(b *sqlBuf, c *query.Compare) error {
	if c.Op == query.Exists {
		// The key itself, or keys nested under it ("a." <= key < "a/").
		k := c.Field.Name
		b.add(" AND (m.key = ? OR (m.key > ? AND m.key < ?))", k, k+".", k+"/")
		return nil
	}
	b.add(" AND m.key = ? AND ", c.Field.Name)
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
