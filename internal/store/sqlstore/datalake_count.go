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
func (q *querier) CountFiles(ctx context.Context, fq store.FileQuery, by string) ([]store.GroupCount, error) {
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
	w := &whereCompiler{d: q.s.d, cids: cids}
	if fq.Where != nil {
		if err := w.pickDriver(fq.Where, 0, 0, q.estimate(ctx, w)); err != nil {
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
		if groups, err = q.countByKey(ctx, w, &matching, fq.Where != nil, field.Name, total); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Count != groups[j].Count {
			return groups[i].Count > groups[j].Count
		}
		return groupLess(groups[i].Value, groups[j].Value)
	})
	return groups, nil
}

func (q *querier) countByKey(ctx context.Context, w *whereCompiler, matching *sqlBuf, filtered bool, key string,
	total func() (int64, error)) ([]store.GroupCount, error) {
	// Two scans, each in the order of its partial index (strings by str,
	// the rest by kind and num), so grouping needs no sort.
	var groups []store.GroupCount
	var nulls int64
	for _, part := range []string{
		`SELECT 3, NULL, m.str, COUNT(*) FROM file_meta m WHERE %s AND m.str IS NOT NULL%s GROUP BY m.str`,
		`SELECT m.kind, m.num, NULL, COUNT(*) FROM file_meta m WHERE %s AND m.num IS NOT NULL%s GROUP BY m.kind, m.num`,
	} {
		var cond, filter sqlBuf
		w.cidCond(&cond, "m.cid")
		cond.add(` AND m.key = ?`, key)
		if filtered {
			filter.add(` AND m.fid IN (SELECT f.fid FROM files f WHERE `+matching.String()+`)`, matching.args...)
		}
		var b sqlBuf
		b.add(fmt.Sprintf(part, cond.String(), filter.String()), append(cond.args, filter.args...)...)
		g, n, err := q.groups(ctx, &b)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g...)
		nulls += n
	}

	// Files without the key: matching files minus those holding it.
	all, err := total()
	if err != nil {
		return nil, err
	}
	var hb sqlBuf
	if filtered {
		hb.WriteString(`SELECT COUNT(*) FROM files f WHERE `)
		hb.add(matching.String(), matching.args...)
		hb.WriteString(` AND f.fid IN (SELECT m.fid FROM file_meta m WHERE `)
		w.cidCond(&hb, "m.cid")
		hb.add(` AND m.key = ? AND m.pos = 0)`, key)
	} else {
		hb.WriteString(`SELECT COALESCE(SUM(files), 0) FROM meta_keys m WHERE `)
		w.cidCond(&hb, "m.cid")
		hb.add(` AND m.key = ?`, key)
	}
	holding, err := q.count(ctx, &hb)
	if err != nil {
		return nil, err
	}
	if nulls += all - holding; nulls > 0 {
		groups = append(groups, store.GroupCount{Count: nulls})
	}
	return groups, nil
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
		case kindBool:
			g.Value = toFloat(num) != 0
		case kindNumber:
			g.Value = toFloat(num)
		default:
			if b, ok := str.([]byte); ok {
				str = string(b)
			}
			g.Value = str
		}
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
