package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
)

// updateBits moves file fid from the bitmaps of its values before a
// write to those of its values after it (kids: the ids of both's keys,
// from countKeys), in the write's transaction. Every bitmap touched is
// in fid's chunk: one read of those rows, one upsert, one delete.
func (q *querier) updateBits(ctx context.Context, fid int64, kids map[string]int64, before, after []query.KV) error {
	old, neu := fileTerms(kids, before), fileTerms(kids, after)
	var changed []bitKey
	for k := range old {
		if !neu[k] {
			changed = append(changed, k)
		}
	}
	for k := range neu {
		if !old[k] {
			changed = append(changed, k)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// A fixed order, so that writers lock rows in the same order.
	slices.SortFunc(changed, func(a, b bitKey) int {
		if a.less(b) {
			return -1
		}
		return 1
	})
	chunk, off := fid>>chunkShift, uint16(fid&(chunkSize-1))
	if q.s.d.SerialWrites {
		return q.updateBitsOneByOne(ctx, chunk, off, changed, neu)
	}
	sets := map[bitKey]bitset{}
	for _, part := range slices.Collect(slices.Chunk(changed, q.chunkRows(2)-1)) {
		var b sqlBuf
		b.add(`SELECT kid, term, bits FROM meta_bits WHERE chunk = ? AND (`, chunk)
		for i, k := range part {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.add("(kid = ? AND term = ?)", k.kid, []byte(k.term))
		}
		b.WriteString(")")
		rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), b.args...)
		if err != nil {
			return q.s.wrap(err, "metadata bitmaps")
		}
		for rows.Next() {
			var k bitKey
			var term, raw []byte
			if err := rows.Scan(&k.kid, &term, &raw); err != nil {
				rows.Close()
				return q.s.wrap(err, "metadata bitmaps")
			}
			k.term = string(term)
			bs := newBitset()
			if err := bs.orChunk(raw); err != nil {
				rows.Close()
				return errs.Wrap(errs.Internal, err, "metadata bitmap %d/%q/%d: %v", k.kid, k.term, chunk, err)
			}
			sets[k] = bs
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return q.s.wrap(err, "metadata bitmaps")
		}
	}
	var put, gone []bitKey
	for _, k := range changed {
		bs := sets[k]
		if bs == nil {
			bs = newBitset()
			sets[k] = bs
		}
		if neu[k] {
			bs.set(off)
			put = append(put, k)
			continue
		}
		bs.clear(off)
		if bs.count() == 0 {
			gone = append(gone, k)
		} else {
			put = append(put, k)
		}
	}
	if err := q.putBits(ctx, chunk, put, sets); err != nil {
		return err
	}
	for _, part := range slices.Collect(slices.Chunk(gone, q.chunkRows(2)-1)) {
		var b sqlBuf
		b.add(`DELETE FROM meta_bits WHERE chunk = ? AND (`, chunk)
		for i, k := range part {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.add("(kid = ? AND term = ?)", k.kid, []byte(k.term))
		}
		b.WriteString(")")
		if _, err := q.execOnce(ctx, b.String(), b.args...); err != nil {
			return q.s.wrap(err, "metadata bitmaps")
		}
	}
	return nil
}

// putBits writes the bitmaps keys of one chunk, as sets holds them,
// over what is stored.
func (q *querier) putBits(ctx context.Context, chunk int64, keys []bitKey, sets map[bitKey]bitset) error {
	for _, part := range slices.Collect(slices.Chunk(keys, q.chunkRows(4))) {
		var b sqlBuf
		b.WriteString(`INSERT INTO meta_bits (kid, term, chunk, bits) VALUES `)
		for i, k := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.add(placeholders(4), k.kid, []byte(k.term), chunk, encodeChunk(sets[k]))
		}
		b.WriteString(` ON CONFLICT (kid, term, chunk) DO UPDATE SET bits = excluded.bits`)
		if _, err := q.execOnce(ctx, b.String(), b.args...); err != nil {
			return q.s.wrap(err, "metadata bitmaps")
		}
	}
	return nil
}

// updateBitsOneByOne is updateBits's reads and writes one bitmap at a
// time, for SQLite: in-process, a prepared single-row statement costs
// less than parsing a statement of many rows (whose statement journal
// also copies every page it touches).
func (q *querier) updateBitsOneByOne(ctx context.Context, chunk int64, off uint16, changed []bitKey, neu map[bitKey]bool) error {
	for _, k := range changed {
		var raw []byte
		err := q.queryRow(ctx, `SELECT bits FROM meta_bits WHERE kid = ? AND term = ? AND chunk = ?`, k.kid, []byte(k.term), chunk).Scan(&raw)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return q.s.wrap(err, "metadata bitmaps")
		}
		bs := newBitset()
		if err := bs.orChunk(raw); err != nil {
			return errs.Wrap(errs.Internal, err, "metadata bitmap %d/%q/%d: %v", k.kid, k.term, chunk, err)
		}
		if neu[k] {
			bs.set(off)
		} else {
			bs.clear(off)
		}
		if bs.count() == 0 {
			_, err = q.exec(ctx, `DELETE FROM meta_bits WHERE kid = ? AND term = ? AND chunk = ?`, k.kid, []byte(k.term), chunk)
		} else {
			_, err = q.exec(ctx, `INSERT INTO meta_bits (kid, term, chunk, bits) VALUES (?, ?, ?, ?)
ON CONFLICT (kid, term, chunk) DO UPDATE SET bits = excluded.bits`, k.kid, []byte(k.term), chunk, encodeChunk(bs))
		}
		if err != nil {
			return q.s.wrap(err, "metadata bitmaps")
		}
	}
	return nil
}

// chunkBits is the bitmaps of one chunk as file_meta says they should
// be: what RebuildMetaBits writes and VerifyMetaBits compares with.
func (q *querier) chunkBits(ctx context.Context, chunk int64) (map[bitKey]bitset, error) {
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(`SELECT fid, kid, kind, num, str, tm FROM file_meta WHERE fid >= ? AND fid < ?`),
		chunk<<chunkShift, (chunk+1)<<chunkShift)
	if err != nil {
		return nil, q.s.wrap(err, "metadata bitmaps")
	}
	defer rows.Close()
	out := map[bitKey]bitset{}
	add := func(k bitKey, off uint16) {
		bs := out[k]
		if bs == nil {
			bs = newBitset()
			out[k] = bs
		}
		bs.set(off)
	}
	var terms []string
	for rows.Next() {
		var fid, kid, kind int64
		var num *float64
		var str *string
		var tm any
		if err := rows.Scan(&fid, &kid, &kind, &num, &str, &tm); err != nil {
			return nil, q.s.wrap(err, "metadata bitmaps")
		}
		kv := query.KV{}
		switch kind {
		case kindNull:
			kv.Kind = query.Null
		case kindBool:
			kv.Kind, kv.Bool = query.Bool, num != nil && *num != 0
		case kindNumber:
			kv.Kind = query.Number
			if num != nil {
				kv.Num = *num
			}
		default:
			kv.Kind = query.String
			if str != nil {
				kv.Str = *str
			}
			t, ok, err := scanTime(tm)
			if err != nil {
				return nil, q.s.wrap(err, "metadata bitmaps")
			}
			kv.Time, kv.HasTime = t, ok
		}
		off := uint16(fid & (chunkSize - 1))
		add(bitKey{kid, string(termExists)}, off)
		terms = valueTerms(terms[:0], kv)
		for _, t := range terms {
			add(bitKey{kid, t}, off)
		}
	}
	return out, q.s.wrap(rows.Err(), "metadata bitmaps")
}

// storedBits is the rows of meta_bits of one chunk.
func (q *querier) storedBits(ctx context.Context, chunk int64) (map[bitKey][]byte, error) {
	rows, err := q.x.QueryContext(ctx, q.s.d.rebind(`SELECT kid, term, bits FROM meta_bits WHERE chunk = ?`), chunk)
	if err != nil {
		return nil, q.s.wrap(err, "metadata bitmaps")
	}
	defer rows.Close()
	out := map[bitKey][]byte{}
	for rows.Next() {
		var k bitKey
		var term, raw []byte
		if err := rows.Scan(&k.kid, &term, &raw); err != nil {
			return nil, q.s.wrap(err, "metadata bitmaps")
		}
		k.term = string(term)
		out[k] = raw
	}
	return out, q.s.wrap(rows.Err(), "metadata bitmaps")
}

// topChunk is the chunk of the highest fid in files or file_meta (-1:
// none).
func (q *querier) topChunk(ctx context.Context) (int64, error) {
	var top int64
	err := q.queryRow(ctx, `SELECT COALESCE(MAX(fid), -1) FROM (SELECT MAX(fid) AS fid FROM files UNION ALL SELECT MAX(fid) FROM file_meta) x`).Scan(&top)
	if err != nil {
		return 0, q.s.wrap(err, "metadata bitmaps")
	}
	if top < 0 {
		return -1, nil
	}
	return top >> chunkShift, nil
}

// RebuildMetaBits writes meta_bits again from file_meta, in one
// transaction: after a bulk load straight into the tables (the
// benchmark's), and once for a database that held files before the
// bitmaps existed (Open does that through the migration's mark).
func (s *Store) RebuildMetaBits(ctx context.Context) error {
	return s.tx(ctx, func(q *querier) error { return q.rebuildBits(ctx) })
}

func (q *querier) rebuildBits(ctx context.Context) error {
	if _, err := q.exec(ctx, `DELETE FROM meta_bits`); err != nil {
		return q.s.wrap(err, "metadata bitmaps")
	}
	top, err := q.topChunk(ctx)
	if err != nil {
		return err
	}
	for c := int64(0); c <= top; c++ {
		sets, err := q.chunkBits(ctx, c)
		if err != nil {
			return err
		}
		keys := make([]bitKey, 0, len(sets))
		for k := range sets {
			keys = append(keys, k)
		}
		if err := q.putBits(ctx, c, keys, sets); err != nil {
			return err
		}
		if top > 15 {
			slog.Info("rebuilding the datalake's metadata bitmaps", "chunk", c+1, "of", top+1)
		}
	}
	return nil
}

// VerifyMetaBits compares every row of meta_bits with what file_meta
// says it should hold and reports the first difference: the bitmaps
// are derived data, and a search trusts them to hold every match.
func (s *Store) VerifyMetaBits(ctx context.Context) error {
	q := &s.querier
	top, err := q.topChunk(ctx)
	if err != nil {
		return err
	}
	for c := int64(0); c <= top; c++ {
		want, err := q.chunkBits(ctx, c)
		if err != nil {
			return err
		}
		got, err := q.storedBits(ctx, c)
		if err != nil {
			return err
		}
		for k, bs := range want {
			raw, ok := got[k]
			if !ok {
				return errs.E(errs.Internal, "metadata bitmap of key %d, term %q, chunk %d: missing", k.kid, k.term, c)
			}
			if !bytes.Equal(raw, encodeChunk(bs)) {
				return errs.E(errs.Internal, "metadata bitmap of key %d, term %q, chunk %d: %d files, want %d", k.kid, k.term, c, chunkCount(raw), bs.count())
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				return errs.E(errs.Internal, "metadata bitmap of key %d, term %q, chunk %d: stored, but no file holds it", k.kid, k.term, c)
			}
		}
	}
	return nil
}

// backfillMetaBits rebuilds the bitmaps once if migration 0009 found
// files written before they existed (its mark in meta_bits_pending).
func (q *querier) backfillMetaBits(ctx context.Context) error {
	var n int64
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM meta_bits_pending`).Scan(&n); err != nil {
		return q.s.wrap(err, "metadata bitmaps")
	}
	if n == 0 {
		return nil
	}
	if err := q.rebuildBits(ctx); err != nil {
		return err
	}
	_, err := q.exec(ctx, `DELETE FROM meta_bits_pending`)
	return q.s.wrap(err, "metadata bitmaps")
}

// BackfillMetaBits is backfillMetaBits in a transaction (taking lock
// first, e.g. the migrations' advisory lock, when not empty).
func (s *Store) BackfillMetaBits(ctx context.Context, lock string, args ...any) error {
	return s.tx(ctx, func(q *querier) error {
		if strings.TrimSpace(lock) != "" {
			if _, err := q.x.ExecContext(ctx, lock, args...); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		return q.backfillMetaBits(ctx)
	})
}
