package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// sortCol is one column of a listing's order (a metadata sort key takes
// three: kind, number and string of its first value, -1/0/” when the
// file lacks it, so that every file has a comparable value).
type sortCol struct {
	expr string
	desc bool
	typ  byte // 's' string, 'i' integer, 'f' float, 't' time
}

func (q *querier) FindFiles(ctx context.Context, fq store.FileQuery) (page store.FilePage, err error) {
	err = q.searching(ctx, false, func(q *querier) error {
		page, err = q.findFiles(ctx, fq)
		return err
	})
	return page, err
}

// searching runs fn, the statements of a search. On PostgreSQL they run
// in one transaction whose settings suit them: no JIT (compiling costs
// more than it saves on these); for a count, custom plans always (a
// cached generic plan ignores how many rows a key's value holds) and
// memory for its hash joins (a listing does better without: more
// work_mem tempts the planner into hashing whole index ranges).
func (q *querier) searching(ctx context.Context, count bool, fn func(q *querier) error) error {
	if q.s.d.SerialWrites { // SQLite
		return fn(q)
	}
	set := `SELECT set_config('jit', 'off', true)`
	if count {
		set = `SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true), set_config('work_mem', '64MB', true)`
	}
	return q.atomic(ctx, func(q *querier) error {
		if _, err := q.exec(ctx, set); err != nil {
			return q.s.wrap(err, "search settings")
		}
		return fn(q)
	})
}

func (q *querier) findFiles(ctx context.Context, fq store.FileQuery) (store.FilePage, error) {
	limit := fq.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	cids, err := q.channelIDs(ctx, fq.Project, fq.Channel)
	if err != nil || len(cids) == 0 {
		return store.FilePage{}, err
	}
	keys, err := q.keyDict(ctx, cids, queryKeys(fq.Where, fq.Sort))
	if err != nil {
		return store.FilePage{}, err
	}
	w := &whereCompiler{d: q.s.d, cids: cids, keys: keys, where: fq.Where}
	sorts := fq.Sort
	var cols []sortCol
	var joins sqlBuf
	for i, s := range sorts {
		if s.Field.Builtin {
			col, ok := builtinCols[s.Field.Name]
			if !ok {
				return store.FilePage{}, errs.E(errs.Invalid, "cannot sort by %s", s.Field.Name)
			}
			typ := byte('s')
			switch s.Field.Name {
			case "size":
				typ = 'i'
			case "created", "updated":
				typ = 't'
			}
			cols = append(cols, sortCol{col, s.Desc, typ})
			continue
		}
		a := "s" + string(rune('0'+i%10)) + strings.Repeat("x", i/10)
		joins.WriteString(" LEFT JOIN file_meta " + a + " ON " + a + ".fid = f.fid AND ")
		kidCond(&joins, a+".kid", keys.kids(s.Field.Name, false))
		joins.WriteString(" AND " + a + ".pos = 0")
		cols = append(cols,
			sortCol{"COALESCE(" + a + ".kind, -1)", s.Desc, 'i'},
			sortCol{"COALESCE(" + a + ".num, 0)", s.Desc, 'f'},
			sortCol{"COALESCE(" + a + ".str, '')", s.Desc, 's'})
	}
	var after []any
	var afterFid int64
	if fq.After != "" {
		if after, afterFid, err = decodeCursor(fq.After, cols); err != nil {
			return store.FilePage{}, err
		}
	}
	// In the default order (fid's, creation order), the metadata bitmaps
	// give the candidates, chunk by chunk in that order, when they can
	// narrow the condition; otherwise (and for other orders) one statement
	// reads the files, driven by the index range of the predicate with
	// the fewest rows, or in order probing each predicate.
	var bits *bitNode
	var exact bool
	if fq.Where != nil && len(cols) == 0 {
		bits, exact = w.bitPlan(fq.Where)
	}
	if fq.Where != nil && bits == nil {
		files, err := q.channelFiles(ctx, w)
		if err != nil {
			return store.FilePage{}, err
		}
		if err = w.pickDriver(fq.Where, files, limit, q.estimate(ctx, w)); err != nil {
			return store.FilePage{}, err
		}
	}
	where := fq.Where
	build := func(n int) (*sqlBuf, error) {
		var b sqlBuf
		b.WriteString(`SELECT ` + fileCols)
		for _, c := range cols {
			b.WriteString(", " + c.expr)
		}
		b.WriteString(" FROM files f")
		b.add(joins.String(), joins.args...)
		b.WriteString(" WHERE ")
		if len(cols) == 0 && w.driver == nil {
			// Read in fid order, not by a (cid, ...) index (SQLite: a unary
			// + keeps a column from choosing an index).
			w.cidCond(&b, "+f.cid")
		} else {
			w.cidCond(&b, "f.cid")
		}
		if where != nil {
			b.WriteString(" AND ")
			if err := w.expr(&b, where); err != nil {
				return nil, err
			}
		}
		if fq.After != "" {
			b.WriteString(" AND ")
			keyset(&b, q.s.d, cols, after, afterFid)
		}
		b.WriteString(" ORDER BY ")
		for _, c := range cols {
			b.WriteString(c.expr)
			if c.desc {
				b.WriteString(" DESC")
			}
			b.WriteString(", ")
		}
		b.add("f.fid LIMIT ?", n)
		return &b, nil
	}
	var found []foundFile
	if bits != nil {
		found, err = q.findByBits(ctx, bits, exact, limit, afterFid, func(n int, cands []int64, found []foundFile) ([]foundFile, error) {
			return q.checkCandidates(ctx, w, cands, fq.Where, n, found)
		})
		if err != nil {
			return store.FilePage{}, err
		}
	} else {
		b, err := build(limit + 1)
		if err != nil {
			return store.FilePage{}, err
		}
		if found, err = q.findRows(ctx, b, len(cols), nil); err != nil {
			return store.FilePage{}, err
		}
	}
	var page store.FilePage
	for i, r := range found {
		if i == limit {
			last := found[i-1]
			page.Next = encodeCursor(last.vals, last.fid, cols)
			break
		}
		page.Files = append(page.Files, r.f)
	}
	return page, nil
}

// checkCandidates appends to found, in fid order, up to n of the files
// among the candidate fids cands that query.Match accepts (the semantics
// the SQL compiler is tested against): the bitmaps give a superset of the
// matches, and even when they give them exactly, a file may have changed
// since they were read. Reading the candidates by fid and matching here
// also keeps PostgreSQL from planning the condition's probes as joins
// over whole index ranges.
func (q *querier) checkCandidates(ctx context.Context, w *whereCompiler, cands []int64, where query.Expr, n int, found []foundFile) ([]foundFile, error) {
	var b sqlBuf
	b.WriteString(`SELECT ` + fileCols + ` FROM files f WHERE `)
	w.cidCond(&b, "f.cid")
	b.WriteString(" AND ")
	fidList(&b, q.s.d, cands)
	b.WriteString(" ORDER BY f.fid")
	rows, err := q.findRows(ctx, &b, 0, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if n == 0 {
			break
		}
		f := r.f
		meta, err := decodeMeta(f.Meta)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "find files: metadata of %q: %v", f.Path, err)
		}
		if !query.Match(where, query.Fields{Path: f.Path, Size: f.Size, ContentType: f.ContentType, Digest: f.Digest,
			Created: f.CreatedAt, Updated: f.UpdatedAt, Meta: meta}) {
			continue
		}
		found = append(found, r)
		n--
	}
	return found, nil
}

// candCap bounds the candidates a search checks at once.
const candCap = 2000

// candidates is "SELECT DISTINCT fid ...": the fids in the driver's
// index range that satisfy the other metadata comparisons of the
// top-level conjunction too, probed on the primary key (fid, kid, pos).
// What is left to check is residual(w.where).
func (w *whereCompiler) candidates(b *sqlBuf) error {
	b.WriteString(`SELECT DISTINCT fid FROM (SELECT m.fid FROM file_meta m WHERE (`)
	err := w.anyOf(b, w.driver)
	b.WriteString(`)) x WHERE 1 = 1`)
	for _, c := range conjuncts(w.where) {
		if c.Field.Builtin || c.Op == query.Ne || c == w.driver { // as residual's
			continue
		}
		b.WriteString(` AND EXISTS (SELECT 1 FROM file_meta m WHERE m.fid = x.fid AND (`)
		if err == nil {
			err = w.anyOf(b, c)
		}
		b.WriteString(`))`)
	}
	return err
}

// residual is e without the metadata comparisons of its top-level
// conjunction that candidates checks (nil: nothing left).
func residual(e query.Expr) query.Expr {
	switch x := e.(type) {
	case *query.And:
		l, r := residual(x.L), residual(x.R)
		if l == nil {
			return r
		}
		if r == nil {
			return l
		}
		return &query.And{L: l, R: r, At: x.At}
	case *query.Compare:
		if !x.Field.Builtin && x.Op != query.Ne {
			return nil
		}
	}
	return e
}

// conjuncts is the comparisons of e's top-level conjunction.
func conjuncts(e query.Expr) []*query.Compare {
	switch e := e.(type) {
	case *query.And:
		return append(conjuncts(e.L), conjuncts(e.R)...)
	case *query.Compare:
		return []*query.Compare{e}
	}
	return nil
}

// fidList is "f.fid in fids".
func fidList(b *sqlBuf, d *Dialect, fids []int64) {
	var s strings.Builder
	for i, f := range fids {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(strconv.FormatInt(f, 10))
	}
	if d.SerialWrites { // SQLite: a literal list (integers), which it reads as rowid lookups
		b.WriteString("f.fid IN (" + s.String() + ")")
		return
	}
	b.add("f.fid = ANY(CAST(? AS BIGINT[]))", "{"+s.String()+"}")
}

// foundFile is a row of FindFiles: the file, its fid and sort values.
type foundFile struct {
	f    store.File
	fid  int64
	vals []any
}

// findRows appends the rows of a FindFiles statement to found.
func (q *querier) findRows(ctx context.Context, b *sqlBuf, ncols int, found []foundFile) ([]foundFile, error) {
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return nil, q.s.wrap(err, "find files")
	}
	defer rows.Close()
	for rows.Next() {
		var r foundFile
		r.vals = make([]any, ncols)
		dst := fileDest(&r.fid, &r.f)
		for i := range r.vals {
			dst = append(dst, &r.vals[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, q.s.wrap(err, "find files")
		}
		found = append(found, r)
	}
	return found, q.s.wrap(rows.Err(), "find files")
}

// keyset is the condition "after (vals, fid)" in the listing's order:
// (c1 > v1) OR (c1 = v1 AND c2 > v2) OR ... OR (all equal AND fid > fid0).
func keyset(b *sqlBuf, d *Dialect, cols []sortCol, vals []any, fid int64) {
	b.WriteString("(")
	for i := 0; i <= len(cols); i++ {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(")
		for j := 0; j < i; j++ {
			b.add(cols[j].expr+" = ? AND ", cursorArg(d, cols[j], vals[j]))
		}
		if i == len(cols) {
			b.add("f.fid > ?", fid)
		} else {
			op := " > ?"
			if cols[i].desc {
				op = " < ?"
			}
			b.add(cols[i].expr+op, cursorArg(d, cols[i], vals[i]))
		}
		b.WriteString(")")
	}
	b.WriteString(")")
}

func cursorArg(d *Dialect, c sortCol, v any) any {
	if c.typ == 't' {
		return d.timeArg(v.(time.Time))
	}
	return v
}

// A cursor is the last row's sort values and fid, as JSON in base64: opaque
// to callers, checked against the listing's columns when it comes back.
type cursor struct {
	V []any `json:"v"`
	F int64 `json:"f"`
}

func encodeCursor(vals []any, fid int64, cols []sortCol) string {
	c := cursor{F: fid}
	for i, v := range vals {
		c.V = append(c.V, normCursorVal(cols[i], v))
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// normCursorVal turns a scanned value into its JSON form (times in
// microseconds).
func normCursorVal(c sortCol, v any) any {
	switch c.typ {
	case 't':
		t, _, _ := scanTime(v)
		return t.UnixMicro()
	case 's':
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case 'f':
		switch n := v.(type) {
		case int64:
			return float64(n)
		}
	}
	return v
}

func decodeCursor(s string, cols []sortCol) ([]any, int64, error) {
	bad := errs.E(errs.Invalid, "the page cursor is not one of this listing's (after: %.20q)", s)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, 0, bad
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var c cursor
	if err := dec.Decode(&c); err != nil || len(c.V) != len(cols) {
		return nil, 0, bad
	}
	out := make([]any, len(cols))
	for i, col := range cols {
		switch v := c.V[i].(type) {
		case string:
			if col.typ != 's' {
				return nil, 0, bad
			}
			out[i] = v
		case json.Number:
			switch col.typ {
			case 'i', 't':
				n, err := v.Int64()
				if err != nil {
					return nil, 0, bad
				}
				out[i] = n
				if col.typ == 't' {
					out[i] = time.UnixMicro(n).UTC()
				}
			case 'f':
				f, err := v.Float64()
				if err != nil {
					return nil, 0, bad
				}
				out[i] = f
			default:
				return nil, 0, bad
			}
		default:
			return nil, 0, bad
		}
	}
	return out, c.F, nil
}

// estimate is the number of index entries a metadata predicate (each
// value of an in) reads, from one bounded index range: counted up to
// driverCap; past it, an equality's count is extrapolated from the fid of
// its driverCap-th entry (its range is in fid order: cap entries over the
// first fids up to that one), a range's stays at the cap. exists takes
// the maintained count of files holding the key.
func (q *querier) estimate(ctx context.Context, w *whereCompiler) func(c *query.Compare) (int64, error) {
	var top int64 = -1
	return func(c *query.Compare) (int64, error) {
		if c.Op == query.Exists {
			return w.keys.files(c.Field.Name, true), nil
		}
		eqs := []*query.Compare{c}
		if c.Op == query.In {
			eqs = eqs[:0]
			for _, v := range c.Value.List {
				eqs = append(eqs, &query.Compare{Field: c.Field, Op: query.Eq, Value: v})
			}
		}
		var total int64
		for _, eq := range eqs {
			var b sqlBuf
			ordered := eq.Op == query.Eq && len(w.keys.kids(eq.Field.Name, false)) == 1
			b.WriteString(`SELECT COUNT(*), COALESCE(MAX(fid), 0) FROM (SELECT m.fid FROM file_meta m WHERE `)
			if err := w.metaCond(&b, eq); err != nil {
				return 0, err
			}
			if ordered {
				b.WriteString(` ORDER BY m.fid`)
			}
			b.add(` LIMIT ?) x`, driverCap)
			var n, last int64
			if err := q.x.QueryRowContext(ctx, q.s.d.rebind(b.String()), b.args...).Scan(&n, &last); err != nil {
				return 0, q.s.wrap(err, "count files")
			}
			if ordered && n >= driverCap && last > 0 {
				if top < 0 {
					if err := q.queryRow(ctx, `SELECT COALESCE(MAX(fid), 0) FROM files`).Scan(&top); err != nil {
						return 0, q.s.wrap(err, "count files")
					}
				}
				n = int64(float64(n) * float64(max(top, last)) / float64(last))
			}
			total += n
		}
		return total, nil
	}
}

// channelFiles is the maintained number of files of the query's channels.
func (q *querier) channelFiles(ctx context.Context, w *whereCompiler) (int64, error) {
	var b sqlBuf
	b.WriteString(`SELECT COALESCE(SUM(files), 0) FROM channels c WHERE `)
	w.cidCond(&b, "c.cid")
	return q.count(ctx, &b)
}

// keyDict reads the ids of keys (and of the keys nested under them) in
// the channels cids.
func (q *querier) keyDict(ctx context.Context, cids []int64, keys []string) (keyDict, error) {
	d := keyDict{}
	if len(keys) == 0 {
		return d, nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var b sqlBuf
	b.WriteString(`SELECT kid, key, files FROM meta_keys m WHERE `)
	(&whereCompiler{cids: cids}).cidCond(&b, "m.cid")
	b.WriteString(" AND (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.add("m.key = ? OR (m.key > ? AND m.key < ?)", k, k+".", k+"/")
	}
	b.WriteString(")")
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return nil, q.s.wrap(err, "metadata keys")
	}
	defer rows.Close()
	for rows.Next() {
		var id keyID
		var k string
		if err := rows.Scan(&id.kid, &k, &id.files); err != nil {
			return nil, q.s.wrap(err, "metadata keys")
		}
		d[k] = append(d[k], id)
	}
	return d, q.s.wrap(rows.Err(), "metadata keys")
}
