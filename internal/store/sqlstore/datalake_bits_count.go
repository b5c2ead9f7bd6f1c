package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// countByBits counts with the metadata bitmaps when they give the
// condition's matches exactly (or there is no condition): by "" the
// number of matching files; by a metadata key whose values are strings,
// booleans and nulls, a group per value (the popcount of its bitmap and
// the matches', chunk by chunk). ok is false when they cannot (a
// condition they only narrow, a built-in field, a key holding numbers,
// which the bitmaps hold by bucket): the caller counts with SQL.
func (q *querier) countByBits(ctx context.Context, w *whereCompiler, where query.Expr, field query.Field, by string) (groups []store.GroupCount, ok bool, err error) {
	var node *bitNode
	if where != nil {
		var exact bool
		if node, exact = w.bitPlan(where); node == nil || !exact {
			return nil, false, nil
		}
	}
	if (by == "" && node == nil) || (by != "" && field.Builtin) {
		return nil, false, nil
	}
	top, err := q.topChunk(ctx)
	if err != nil {
		return nil, false, err
	}
	var matches map[int64]bitset
	var all int64
	if node != nil {
		if matches, err = q.bitEval(ctx, node, 0, top); err != nil {
			return nil, false, err
		}
		for _, bs := range matches {
			all += int64(bs.count())
		}
	} else if all, err = q.channelFiles(ctx, w); err != nil {
		return nil, false, err
	}
	if by == "" {
		return []store.GroupCount{{Count: all}}, true, nil
	}
	kids := w.keys.kids(field.Name, false)
	if 3*len(kids) > bitBranches {
		return nil, false, nil // keys of very many channels: SQL
	}
	var b sqlBuf
	for i, kid := range kids {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.add(`SELECT 1 FROM meta_bits WHERE kid = ? AND term >= ? AND term < ?`, kid, []byte{termNumber}, []byte{termNumber + 1})
	}
	b.WriteString(" LIMIT 1")
	var one int64
	switch err := q.x.QueryRowContext(ctx, q.s.d.rebind(b.String()), b.args...).Scan(&one); {
	case err == nil:
		return nil, false, nil // numbers: grouped by value in SQL
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, q.s.wrap(err, "count files")
	}
	b = sqlBuf{}
	i := 0
	for _, kid := range kids {
		for _, r := range [][2]byte{{termBool, termNumber}, {termString, termString + 1}, {termNull, termNull + 1}} {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			i++
			b.add(`SELECT term, chunk, bits FROM meta_bits WHERE kid = ? AND term >= ? AND term < ?`, kid, []byte{r[0]}, []byte{r[1]})
		}
	}
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
	if err != nil {
		return nil, false, q.s.wrap(err, "count files")
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var term, raw []byte
		var c int64
		if err := rows.Scan(&term, &c, &raw); err != nil {
			return nil, false, q.s.wrap(err, "count files")
		}
		n := chunkCount(raw)
		if node != nil {
			if n, err = matches[c].andCountOrZero(raw); err != nil {
				return nil, false, errs.Wrap(errs.Internal, err, "count files: chunk %d: %v", c, err)
			}
		}
		counts[string(term)] += int64(n)
	}
	if err := rows.Err(); err != nil {
		return nil, false, q.s.wrap(err, "count files")
	}
	var holding, nulls int64
	for term, n := range counts {
		if n == 0 {
			continue
		}
		switch {
		case term == string(termExists):
			holding = n
		case term == string(termNull):
			nulls = n
		case term == "b0" || term == "b1":
			groups = append(groups, store.GroupCount{Value: term == "b1", Count: n})
		case term[0] == termString:
			groups = append(groups, store.GroupCount{Value: term[1:], Count: n})
		}
	}
	if nulls += all - holding; nulls > 0 {
		groups = append(groups, store.GroupCount{Count: nulls})
	}
	return groups, true, nil
}

// andCountOrZero is andCount, 0 for a chunk without matches.
func (b bitset) andCountOrZero(raw []byte) (int, error) {
	if b == nil {
		return 0, nil
	}
	return b.andCount(raw)
}
