package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// Metadata kinds in file_meta.kind; their order is the order a sort on a
// key holding values of several kinds gives.
const (
	kindNull   = 0
	kindBool   = 1
	kindNumber = 2
	kindString = 3
)

// flattenRaw decodes a metadata object into its indexed values. Limits
// are package datalake's business; the store only needs an object.
func flattenRaw(raw json.RawMessage) ([]query.KV, error) {
	m, err := decodeMeta(raw)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "meta: must be a JSON object")
	}
	return query.Flatten(m), nil
}

func decodeMeta(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errs.E(errs.Invalid, "meta: must be a JSON object, not null")
	}
	return m, nil
}

// prevKVs is the indexed values of a stored file (nil for none).
func prevKVs(f *store.File) []query.KV {
	if f == nil {
		return nil
	}
	m, err := decodeMeta(f.Meta)
	if err != nil {
		return nil
	}
	return query.Flatten(m)
}

// metaRow is the kind and value columns of kv.
func (q *querier) metaRow(kv query.KV) (kind int, num, str, tm any) {
	switch kv.Kind {
	case query.Null:
		return kindNull, 0.0, nil, nil
	case query.Bool:
		if kv.Bool {
			return kindBool, 1.0, nil, nil
		}
		return kindBool, 0.0, nil, nil
	case query.Number:
		return kindNumber, kv.Num, nil, nil
	}
	if kv.HasTime {
		tm = q.s.d.timeArg(kv.Time)
	}
	return kindString, nil, kv.Str, tm
}

// insertMeta writes the file_meta rows of a file; kids is the key
// dictionary of its channel (countKeys).
func (q *querier) insertMeta(ctx context.Context, fid int64, kids map[string]int64, kvs []query.KV) error {
	const cols = 7
	chunk := q.chunkRows(cols)
	for len(kvs) > 0 {
		n := min(len(kvs), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO file_meta (fid, kid, pos, kind, num, str, tm) VALUES `)
		args := make([]any, 0, n*cols)
		for i, kv := range kvs[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(placeholders(cols))
			kind, num, str, tm := q.metaRow(kv)
			args = append(args, fid, kids[kv.Key], kv.Pos, kind, num, str, tm)
		}
		if _, err := q.execOnce(ctx, b.String(), args...); err != nil {
			return q.s.wrap(err, "file metadata")
		}
		kvs = kvs[n:]
	}
	return nil
}

func (q *querier) deleteMeta(ctx context.Context, fid int64) error {
	_, err := q.exec(ctx, `DELETE FROM file_meta WHERE fid = ?`, fid)
	return q.s.wrap(err, "file metadata")
}

// countKeys moves the channel's per-key counts (meta_keys) from the values
// before a write to those after it, one upsert per key that changed or
// that the new values use, and returns the ids of the latter (the key
// dictionary insertMeta writes with): a new key gets its id here.
func (q *querier) countKeys(ctx context.Context, cid int64, before, after []query.KV) (map[string]int64, error) {
	type delta struct {
		files, vals int64
		used        bool
	}
	ds := map[string]*delta{}
	var keys []string
	add := func(kvs []query.KV, sign int64) {
		for _, kv := range kvs {
			dl := ds[kv.Key]
			if dl == nil {
				dl = &delta{}
				ds[kv.Key] = dl
				keys = append(keys, kv.Key)
			}
			if kv.Pos == 0 {
				dl.files += sign
			}
			dl.vals += sign
			dl.used = dl.used || sign > 0
		}
	}
	add(before, -1)
	add(after, 1)
	var changed []string
	for _, k := range keys {
		if d := ds[k]; d.used || d.files != 0 || d.vals != 0 {
			changed = append(changed, k)
		}
	}
	// Keys in a fixed order, so that concurrent writers lock the rows in
	// the same order (no deadlock).
	slices.Sort(changed)
	kids := make(map[string]int64, len(changed))
	const cols = 4
	chunk := q.chunkRows(cols)
	for len(changed) > 0 {
		n := min(len(changed), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO meta_keys (cid, key, files, vals) VALUES `)
		args := make([]any, 0, n*cols)
		for i, k := range changed[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(placeholders(cols))
			args = append(args, cid, k, ds[k].files, ds[k].vals)
		}
		b.WriteString(` ON CONFLICT (cid, key) DO UPDATE SET files = meta_keys.files + excluded.files, vals = meta_keys.vals + excluded.vals RETURNING kid, key`)
		rows, err := q.x.QueryContext(ctx, q.s.d.rebind(b.String()), args...)
		if err != nil {
			return nil, q.s.wrap(err, "metadata key counts")
		}
		for rows.Next() {
			var kid int64
			var k string
			if err := rows.Scan(&kid, &k); err != nil {
				rows.Close()
				return nil, q.s.wrap(err, "metadata key counts")
			}
			kids[k] = kid
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, q.s.wrap(err, "metadata key counts")
		}
		changed = changed[n:]
	}
	return kids, nil
}
