package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

func fileNotFound(project, channel, path string) error {
	return errs.E(errs.NotFound, "file %q not found in channel %q of project %q", path, channel, project)
}

// fileCols are a file's columns, read by scanFile (prefixed f.).
const fileCols = `f.fid, f.id, f.project, f.channel, f.path, f.content_type, f.size, f.digest, f.crc32c, f.ref, f.meta, f.version, f.created_at, f.updated_at`

func scanFile(sc interface{ Scan(...any) error }, fid *int64, f *store.File) error {
	return sc.Scan(fileDest(fid, f)...)
}

// fileDest are the Scan destinations of fileCols.
func fileDest(fid *int64, f *store.File) []any {
	return []any{fid, &f.ID, &f.Project, &f.Channel, &f.Path, &f.ContentType, &f.Size, &f.Digest, &f.CRC32C, &f.Ref,
		jsonCol{&f.Meta}, &f.Version, timeCol{&f.CreatedAt}, timeCol{&f.UpdatedAt}}
}

// newFileID is a file's public id: random, so that it says nothing of
// the channel's size or order.
func newFileID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "f-" + string(b)
}

func (q *querier) PutFile(ctx context.Context, f store.File) (store.File, *store.File, error) {
	if f.Project == "" || f.Channel == "" || f.Path == "" {
		return store.File{}, nil, errs.E(errs.Invalid, "a file needs a project, a channel and a path")
	}
	if len(f.Meta) == 0 {
		f.Meta = json.RawMessage(`{}`)
	}
	kvs, err := flattenRaw(f.Meta)
	if err != nil {
		return store.File{}, nil, err
	}
	now := q.s.now()
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now
	}
	f.UpdatedAt = now
	var prev *store.File
	err = q.atomic(ctx, func(q *querier) error {
		cid, err := q.lockChannel(ctx, f.Project, f.Channel)
		if err != nil {
			return err
		}
		old, oldFid, err := q.fileByPath(ctx, cid, f.Project, f.Channel, f.Path)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		d := q.s.d
		var fid int64
		typ := store.FileCreated
		if err == nil { // replace: keep the id and the creation time
			prev = &old
			fid = oldFid
			typ = store.FileUpdated
			f.ID, f.CreatedAt, f.Version = old.ID, old.CreatedAt, old.Version+1
			_, err = q.exec(ctx, `UPDATE files SET content_type = ?, size = ?, digest = ?, crc32c = ?, ref = ?, meta = ?, version = ?, updated_at = ?
WHERE fid = ?`, f.ContentType, f.Size, f.Digest, f.CRC32C, f.Ref, string(f.Meta), f.Version, d.timeArg(f.UpdatedAt), fid)
			if err != nil {
				return q.s.wrap(err, "file %q of channel %q", f.Path, f.Channel)
			}
			if err := q.deleteMeta(ctx, fid); err != nil {
				return err
			}
		} else {
			if f.ID == "" {
				f.ID = newFileID()
			}
			f.Version = 1
			err = q.queryRow(ctx, `INSERT INTO files (id, cid, project, channel, path, content_type, size, digest, crc32c, ref, meta, version, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING fid`,
				f.ID, cid, f.Project, f.Channel, f.Path, f.ContentType, f.Size, f.Digest, f.CRC32C, f.Ref, string(f.Meta), f.Version,
				d.timeArg(f.CreatedAt), d.timeArg(f.UpdatedAt)).Scan(&fid)
			if err != nil {
				return q.s.wrap(err, "file %q of channel %q", f.Path, f.Channel)
			}
		}
		before := prevKVs(prev)
		kids, err := q.countKeys(ctx, cid, before, kvs)
		if err != nil {
			return err
		}
		if err := q.insertMeta(ctx, fid, kids, kvs); err != nil {
			return err
		}
		if err := q.updateBits(ctx, fid, kids, before, kvs); err != nil {
			return err
		}
		files, bytes := int64(1), f.Size
		if prev != nil {
			files, bytes = 0, f.Size-prev.Size
		}
		if err := q.countChannel(ctx, cid, files, bytes); err != nil {
			return err
		}
		return q.addDataEvent(ctx, typ, f)
	})
	if err != nil {
		return store.File{}, nil, err
	}
	f.CreatedAt, f.UpdatedAt = stamp(f.CreatedAt), stamp(f.UpdatedAt)
	return f, prev, nil
}

func (q *querier) GetFile(ctx context.Context, project, channel, path string) (store.File, error) {
	var f store.File
	var fid int64
	err := scanFile(q.queryRow(ctx, `SELECT `+fileCols+` FROM files f JOIN channels c ON c.cid = f.cid
WHERE c.project = ? AND c.name = ? AND f.path = ?`, project, channel, path), &fid, &f)
	if errors.Is(err, sql.ErrNoRows) {
		return store.File{}, fileNotFound(project, channel, path)
	}
	return f, q.s.wrap(err, "file %q of channel %q", path, channel)
}

func (q *querier) GetFileByID(ctx context.Context, project, id string) (store.File, error) {
	var f store.File
	var fid int64
	err := scanFile(q.queryRow(ctx, `SELECT `+fileCols+` FROM files f WHERE f.project = ? AND f.id = ?`, project, id), &fid, &f)
	if errors.Is(err, sql.ErrNoRows) {
		return store.File{}, errs.E(errs.NotFound, "file %q not found in project %q", id, project)
	}
	return f, q.s.wrap(err, "file %q", id)
}

// fileByPath reads a file of a locked channel.
func (q *querier) fileByPath(ctx context.Context, cid int64, project, channel, path string) (store.File, int64, error) {
	var f store.File
	var fid int64
	err := scanFile(q.queryRow(ctx, `SELECT `+fileCols+` FROM files f WHERE f.cid = ? AND f.path = ?`, cid, path), &fid, &f)
	if errors.Is(err, sql.ErrNoRows) {
		return store.File{}, 0, fileNotFound(project, channel, path)
	}
	return f, fid, q.s.wrap(err, "file %q of channel %q", path, channel)
}

func (q *querier) SetFileMeta(ctx context.Context, project, channel, path string, meta json.RawMessage, expectVersion int64) (store.File, error) {
	if len(meta) == 0 {
		meta = json.RawMessage(`{}`)
	}
	kvs, err := flattenRaw(meta)
	if err != nil {
		return store.File{}, err
	}
	var f store.File
	err = q.atomic(ctx, func(q *querier) error {
		cid, err := q.lockChannel(ctx, project, channel)
		if err != nil {
			return err
		}
		old, fid, err := q.fileByPath(ctx, cid, project, channel, path)
		if err != nil {
			return err
		}
		if expectVersion > 0 && old.Version != expectVersion {
			return errs.E(errs.Conflict, "file %q of channel %q is at version %d, not %d: read it again", path, channel, old.Version, expectVersion)
		}
		f = old
		f.Meta = append(json.RawMessage(nil), meta...)
		f.Version++
		f.UpdatedAt = q.s.now()
		if _, err := q.exec(ctx, `UPDATE files SET meta = ?, version = ?, updated_at = ? WHERE fid = ?`,
			string(f.Meta), f.Version, q.s.d.timeArg(f.UpdatedAt), fid); err != nil {
			return q.s.wrap(err, "file %q of channel %q", path, channel)
		}
		if err := q.deleteMeta(ctx, fid); err != nil {
			return err
		}
		before := prevKVs(&old)
		kids, err := q.countKeys(ctx, cid, before, kvs)
		if err != nil {
			return err
		}
		if err := q.insertMeta(ctx, fid, kids, kvs); err != nil {
			return err
		}
		if err := q.updateBits(ctx, fid, kids, before, kvs); err != nil {
			return err
		}
		return q.addDataEvent(ctx, store.FileMeta, f)
	})
	if err != nil {
		return store.File{}, err
	}
	f.UpdatedAt = stamp(f.UpdatedAt)
	return f, nil
}

func (q *querier) DeleteFile(ctx context.Context, project, channel, path string) (store.File, error) {
	var f store.File
	err := q.atomic(ctx, func(q *querier) error {
		cid, err := q.lockChannel(ctx, project, channel)
		if err != nil {
			return err
		}
		var fid int64
		f, fid, err = q.fileByPath(ctx, cid, project, channel, path)
		if err != nil {
			return err
		}
		if err := q.deleteMeta(ctx, fid); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `DELETE FROM files WHERE fid = ?`, fid); err != nil {
			return q.s.wrap(err, "file %q of channel %q", path, channel)
		}
		before := prevKVs(&f)
		kids, err := q.countKeys(ctx, cid, before, nil)
		if err != nil {
			return err
		}
		if err := q.updateBits(ctx, fid, kids, before, nil); err != nil {
			return err
		}
		if err := q.countChannel(ctx, cid, -1, -f.Size); err != nil {
			return err
		}
		return q.addDataEvent(ctx, store.FileDeleted, f)
	})
	if err != nil {
		return store.File{}, err
	}
	return f, nil
}

func (q *querier) countChannel(ctx context.Context, cid, files, bytes int64) error {
	_, err := q.exec(ctx, `UPDATE channels SET files = files + ?, bytes = bytes + ? WHERE cid = ?`, files, bytes, cid)
	return q.s.wrap(err, "channel counts")
}

// stamp is t as the store gives it back: UTC, whole microseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
