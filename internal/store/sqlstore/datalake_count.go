package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// CountFiles counts matching files, grouped by a built-in's column or by
// a metadata key's values read off the (cid, key, value) index. The files
// without the key are the matching files minus those holding it: with no
// condition, both come from maintained counts (channels, meta_keys).
func (q *querier) CountFiles(ctx context.Context, fq store.FileQuery, by string) (groups []store.GroupCount, err error) {
	err = q.searching(ctx, true, func(q *querier) error {
		groups, err = q.countFiles(ctx, fq, by)
		return err
	})
	return groups, err
}

func (q *querier) countFiles(ctx context.Context, fq store.FileQuery, by string) ([]store.GroupCount, error) {
	cids, err := q.channelIDs(ctx, fq.Project, fq.Channel)
	if err != nil {
		return nil, err
	}
	var field query.Field
	if by != "" {
		if field, err = query.ParseField(by); err != nil {
			return nil, err
		}
	}
	if len(cids) == 0 {
		if by == "" {
			return []store.GroupCount{{}}, nil
		}
		return nil, nil
	}
	var byKeys []string
	if by != "" && !field.Builtin {
		byKeys = append(byKeys, field.Name)
	}
	keys, err := q.keyDict(ctx, cids, queryKeys(fq.Where, nil, byKeys...))
	if err != nil {
		return nil, err
	}
	w := &whereCompiler{d: q.s.d, cids: cids, keys: keys, where: fq.Where}
	if groups, ok, err := q.countByBits(ctx, w, fq.Where, field, by); err != nil || ok {
		sortGroups(groups)
		return groups, err
	}
	if fq.Where != nil {
		if err := w.pickDriver(fq.Where, 0, 0, q.estimate(ctx, w)); err != nil {
			return nil, err
		}
	}
	// mf is the statement of the matching fids: from file_meta alone
	// when the condition is a conjunction of metadata comparisons.
	var mf sqlBuf
	if fq.Where != nil && w.driver != nil && residual(fq.Where) == nil {
		if err := w.candidates(&mf); err != nil {
			return nil, err
		}
	}
	// matching is "f.cid ... [AND where]": the files counted.
	var matching sqlBuf
	w.cidCond(&matching, "f.cid")
	if fq.Where != nil {
		matching.WriteString(" AND ")
		if err := w.expr(&matching, fq.Where); err != nil {
			return nil, err
		}
	}
	total := func() (int64, error) {
		var b sqlBuf
		if fq.Where == nil {
			b.WriteString(`SELECT COALESCE(SUM(files), 0) FROM channels f WHERE `)
		} else {
			b.WriteString(`SELECT COUNT(*) FROM files f WHERE `)
		}
		b.add(matching.String(), matching.args...)
		return q.count(ctx, &b)
	}
	if by == "" {
		n, err := total()
		return []store.GroupCount{{Count: n}}, err
	}
	var groups []store.GroupCount
	if field.Builtin {
		col := builtinCols[field.Name]
		var b sqlBuf
		b.add(`SELECT `+col+`, COUNT(*) FROM files f WHERE `+matching.String()+` GROUP BY `+col, matching.args...)
		rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
		if err != nil {
			return nil, q.s.wrap(err, "count files")
		}
		defer rows.Close()
		for rows.Next() {
			var v any
			var g store.GroupCount
			if err := rows.Scan(&v, &g.Count); err != nil {
				return nil, q.s.wrap(err, "count files")
			}
			switch field.Name {
			case "created", "updated":
				t, _, err := scanTime(v)
				if err != nil {
					return nil, q.s.wrap(err, "count files")
				}
				v = t
			case "size":
				v = toFloat(v)
			default:
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
			}
			g.Value = v
			groups = append(groups, g)
		}
		if err := rows.Err(); err != nil {
			return nil, q.s.wrap(err, "count files")
		}
	} else {
		if mf.Len() == 0 {
			mf.add(`SELECT f.fid FROM files f WHERE `+matching.String(), matching.args...)
		}
		if groups, err = q.countByKey(ctx, w, &mf, fq.Where != nil, field.Name, total); err != nil {
			return nil, err
		}
	}
	sortGroups(groups)
	return groups, nil
}

// sortGroups orders groups largest first, ties by value.
func sortGroups(groups []store.GroupCount) {
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Count != groups[j].Count {
			return groups[i].Count > groups[j].Count
		}
		return groupLess(groups[i].Value, groups[j].Value)
	})
}

func (q *querier) countByKey(ctx context.Context, w *whereCompiler, mf *sqlBuf, filtered bool, key string,
	total func() (int64, error)) ([]store.GroupCount, error) {
	if filtered {
		return q.countByKeyWhere(ctx, w, mf, key)
	}
	// Two scans, each in the order of its partial index (strings by str,
	// the rest by kind and num), so grouping needs no sort.
	var groups []store.GroupCount
	var nulls int64
	for _, part := range []string{
		`SELECT 3, NULL, m.str, COUNT(DISTINCT m.fid) FROM file_meta m WHERE %s AND m.str IS NOT NULL GROUP BY m.str`,
		`SELECT m.kind, m.num, NULL, COUNT(DISTINCT m.fid) FROM file_meta m WHERE %s AND m.num IS NOT NULL GROUP BY m.kind, m.num`,
	} {
		var cond sqlBuf
		kidCond(&cond, "m.kid", w.keys.kids(key, false))
		var b sqlBuf
		b.add(fmt.Sprintf(part, cond.String()), cond.args...)
		g, n, err := q.groups(ctx, &b)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g...)
		nulls += n
	}
	// Files without the key: all files minus those holding it, both
	// maintained counts.
	all, err := total()
	if err != nil {
		return nil, err
	}
	if nulls += all - w.keys.files(key, false); nulls > 0 {
		groups = append(groups, store.GroupCount{Count: nulls})
	}
	return groups, nil
}

// countByKeyWhere counts the values of key among the matching files in
// one statement: the matching fids are collected once (mf), joined to the
// key's rows of either partial index (mf: a statement of the fids), and counted (a last row, kind -1,
// is the number of matching files; the fifth column counts the files
// holding the key, by their first value).
func (q *querier) countByKeyWhere(ctx context.Context, w *whereCompiler, mf *sqlBuf, key string) ([]store.GroupCount, error) {
	var b sqlBuf
	b.add(`WITH mf AS MATERIALIZED (`+mf.String()+`) `, mf.args...)
	for _, part := range []string{
		`SELECT 3, NULL, m.str, COUNT(DISTINCT m.fid), SUM(CASE WHEN m.pos = 0 THEN 1 ELSE 0 END) FROM mf JOIN file_meta m ON m.fid = mf.fid WHERE %s AND m.str IS NOT NULL GROUP BY m.str UNION ALL `,
		`SELECT m.kind, m.num, NULL, COUNT(DISTINCT m.fid), SUM(CASE WHEN m.pos = 0 THEN 1 ELSE 0 END) FROM mf JOIN file_meta m ON m.fid = mf.fid WHERE %s AND m.num IS NOT NULL GROUP BY m.kind, m.num UNION ALL `,
	} {
		var cond sqlBuf
		kidCond(&cond, "m.kid", w.keys.kids(key, false))
		b.add(fmt.Sprintf(part, cond.String()), cond.args...)
	}
	b.WriteString(`SELECT -1, NULL, NULL, COUNT(*), 0 FROM mf`)
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return nil, q.s.wrap(err, "count files")
	}
	defer rows.Close()
	var groups []store.GroupCount
	var nulls, all, holding int64
	for rows.Next() {
		var kind int64
		var num, str any
		var n, h int64
		if err := rows.Scan(&kind, &num, &str, &n, &h); err != nil {
			return nil, q.s.wrap(err, "count files")
		}
		holding += h
		g := store.GroupCount{Count: n}
		switch kind {
		case -1:
			all = n
			continue
		case kindNull:
			nulls += n
			continue
		}
		g.Value = groupValue(kind, num, str)
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, q.s.wrap(err, "count files")
	}
	if nulls += all - holding; nulls > 0 {
		groups = append(groups, store.GroupCount{Count: nulls})
	}
	return groups, nil
}

// groupValue is a group's value from its row's kind and columns.
func groupValue(kind int64, num, str any) any {
	switch kind {
	case kindBool:
		return toFloat(num) != 0
	case kindNumber:
		return toFloat(num)
	}
	if b, ok := str.([]byte); ok {
		return string(b)
	}
	return str
}

// groups reads (kind, num, str, count) rows; nulls is the count of null
// values.
func (q *querier) groups(ctx context.Context, b *sqlBuf) (groups []store.GroupCount, nulls int64, err error) {
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return nil, 0, q.s.wrap(err, "count files")
	}
	defer rows.Close()
	for rows.Next() {
		var kind int64
		var num, str any
		var n int64
		if err := rows.Scan(&kind, &num, &str, &n); err != nil {
			return nil, 0, q.s.wrap(err, "count files")
		}
		g := store.GroupCount{Count: n}
		switch kind {
		case kindNull:
			nulls += n
			continue
		}
		g.Value = groupValue(kind, num, str)
		groups = append(groups, g)
	}
	return groups, nulls, q.s.wrap(rows.Err(), "count files")
}

func (q *querier) count(ctx context.Context, b *sqlBuf) (int64, error) {
	var n int64
	err := q.x.QueryRowContext(ctx, q.s.d.rebind(b.String()), b.args...).Scan(&n)
	return n, q.s.wrap(err, "count files")
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return 0
}

// groupLess orders groups of equal counts: nil, booleans, numbers,
// strings, times.
func groupLess(a, b any) bool {
	ra, rb := groupRank(a), groupRank(b)
	if ra != rb {
		return ra < rb
	}
	switch a := a.(type) {
	case bool:
		return !a && b.(bool)
	case float64:
		return a < b.(float64)
	case string:
		return strings.Compare(a, b.(string)) < 0
	}
	return false
}

func groupRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case float64:
		return 2
	case string:
		return 3
	}
	return 4
}
