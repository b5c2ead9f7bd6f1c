package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

func (q *querier) FindFiles(ctx context.Context, fq store.FileQuery) (store.FilePage, error) {
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
	w := &whereCompiler{d: q.s.d, cids: cids}
	if fq.Where != nil {
		files, err := q.channelFiles(ctx, w)
		if err != nil {
			return store.FilePage{}, err
		}
		if err := w.pickDriver(fq.Where, files, limit, q.estimate(ctx, w)); err != nil {
			return store.FilePage{}, err
		}
	}
	sorts := fq.Sort
	if len(sorts) == 0 {
		sorts = []query.Sort{{Field: query.Field{Name: "path", Builtin: true}}}
	}
	var b sqlBuf
	b.WriteString(`SELECT ` + fileCols)
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
		joins.add(" LEFT JOIN file_meta "+a+" ON "+a+".fid = f.fid AND "+a+".key = ? AND "+a+".pos = 0", s.Field.Name)
		cols = append(cols,
			sortCol{"COALESCE(" + a + ".kind, -1)", s.Desc, 'i'},
			sortCol{"COALESCE(" + a + ".num, 0)", s.Desc, 'f'},
			sortCol{"COALESCE(" + a + ".str, '')", s.Desc, 's'})
	}
	for _, c := range cols {
		b.WriteString(", " + c.expr)
	}
	b.WriteString(" FROM files f")
	b.add(joins.String(), joins.args...)
	b.WriteString(" WHERE ")
	w.cidCond(&b, "f.cid")
	if fq.Where != nil {
		b.WriteString(" AND ")
		if err := w.expr(&b, fq.Where); err != nil {
			return store.FilePage{}, err
		}
	}
	if fq.After != "" {
		vals, fid, err := decodeCursor(fq.After, cols)
		if err != nil {
			return store.FilePage{}, err
		}
		b.WriteString(" AND ")
		keyset(&b, q.s.d, cols, vals, fid)
	}
	b.WriteString(" ORDER BY ")
	for _, c := range cols {
		b.WriteString(c.expr)
		if c.desc {
			b.WriteString(" DESC")
		}
		b.WriteString(", ")
	}
	b.add("f.fid LIMIT ?", limit+1)

	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return store.FilePage{}, q.s.wrap(err, "find files")
	}
	defer rows.Close()
	var page store.FilePage
	var last []any
	var lastFid int64
	for rows.Next() {
		var f store.File
		var fid int64
		vals := make([]any, len(cols))
		dst := []any{&fid, &f.ID, &f.Project, &f.Channel, &f.Path, &f.ContentType, &f.Size, &f.Digest, &f.Ref,
			jsonCol{&f.Meta}, &f.Version, timeCol{&f.CreatedAt}, timeCol{&f.UpdatedAt}}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return store.FilePage{}, q.s.wrap(err, "find files")
		}
		if len(page.Files) == limit {
			page.Next = encodeCursor(last, lastFid, cols)
			break
		}
		page.Files = append(page.Files, f)
		last, lastFid = vals, fid
	}
	return page, q.s.wrap(rows.Err(), "find files")
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

// estimate counts, up to driverCap, the index entries a metadata
// equality (or each value of an in) matches: one bounded index range.
func (q *querier) estimate(ctx context.Context, w *whereCompiler) func(c *query.Compare) (int64, error) {
	return func(c *query.Compare) (int64, error) {
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
			b.WriteString(`SELECT COUNT(*) FROM (SELECT 1 FROM file_meta m WHERE `)
			w.cidCond(&b, "m.cid")
			if err := w.metaCond(&b, eq); err != nil {
				return 0, err
			}
			b.add(` LIMIT ?) x`, driverCap)
			n, err := q.count(ctx, &b)
			if err != nil {
				return 0, err
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
