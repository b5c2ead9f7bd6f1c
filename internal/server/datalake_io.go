package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake"
	"github.com/koya-dev/koya/internal/pipecopy"
	"github.com/koya-dev/koya/internal/store"
)

// upload is the file a PUT or a new session names.
func upload(r *http.Request, channel, path, contentType string, meta json.RawMessage) datalake.Upload {
	return datalake.Upload{Project: r.PathValue("project"), Channel: channel, Path: path, ContentType: contentType, Meta: meta}
}

// metaOf is the metadata sent with an upload: the Koya-Meta header or ?meta=.
func metaOf(r *http.Request) (json.RawMessage, error) {
	m := r.Header.Get(client.MetaHeader)
	where := client.MetaHeader
	if m == "" {
		m, where = r.URL.Query().Get("meta"), "meta"
	}
	if m == "" {
		return nil, nil
	}
	if !json.Valid([]byte(m)) {
		return nil, errs.At(errs.Invalid, where, "the metadata is not valid JSON")
	}
	return json.RawMessage(m), nil
}

// crcOf is the CRC-32C a client computed of what it sends: the
// Koya-Crc32c header or ?crc32c= ("" if neither; a PUT may also bring
// it as a trailer, read once the body is).
func crcOf(r *http.Request) string {
	if c := r.Header.Get(client.CRC32CHeader); c != "" {
		return c
	}
	return r.URL.Query().Get("crc32c")
}

// bodyLimit is how many bytes an upload may bring, given already bytes
// in the same file not yet counted: the per-upload cap or the room the
// project's storage quota leaves.
func (d *dataAPI) bodyLimit(ctx context.Context, project string, already int64) (limit, room, most int64, err error) {
	limit, room, err = d.s.storageRoom(ctx, project)
	if err != nil {
		return 0, 0, 0, err
	}
	return limit, room, min(d.s.cfg.MaxArtifactBytes, room) - already, nil
}

// uploadErr gives a failed upload its code: the quota when the body hit
// the room the quota left, 413 when it hit the cap, the client's fault
// when its body broke.
func (d *dataAPI) uploadErr(ctx context.Context, project string, err error, limit, room int64, what string) error {
	if isTooLarge(err) && room < d.s.cfg.MaxArtifactBytes {
		return d.s.storageFull(ctx, project, limit)
	}
	if isTooLarge(err) {
		return errs.Wrap(errs.TooLarge, err, "%s is larger than the limit of %d bytes", what, d.s.cfg.MaxArtifactBytes)
	}
	if _, ok := errors.AsType[*errs.Error](err); !ok {
		return errs.Wrap(errs.Invalid, err, "upload of %s was cut: %v", what, err)
	}
	return err
}

// account adds a file's change in size to the project's storage use.
func (d *dataAPI) account(ctx context.Context, f store.File, prev *store.File) error {
	delta := f.Size
	if prev != nil {
		delta -= prev.Size
	}
	if delta == 0 {
		return nil
	}
	_, err := d.s.store.AddStorage(context.WithoutCancel(ctx), f.Project, delta)
	return err
}

func (d *dataAPI) putFile(w http.ResponseWriter, r *http.Request) error {
	ctx, project := r.Context(), r.PathValue("project")
	meta, err := metaOf(r)
	if err != nil {
		return err
	}
	u := upload(r, r.PathValue("channel"), r.PathValue("path"), r.Header.Get("Content-Type"), meta)
	u.CRC32C = crcOf(r)
	u.CRC32CAfter = func() string { return r.Trailer.Get(client.CRC32CHeader) }
	limit, room, most, err := d.bodyLimit(ctx, project, 0)
	if err != nil {
		return err
	}
	f, prev, err := d.lake.Put(ctx, u, newIdleBody(w, http.MaxBytesReader(w, r.Body, most), d.s.cfg.UploadIdle))
	if err != nil {
		return d.uploadErr(ctx, project, err, limit, room, u.Path)
	}
	d.s.dataChanged() // wake the triggers
	if err := d.account(ctx, f, prev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fileOut(f))
	return nil
}

func (d *dataAPI) getFile(w http.ResponseWriter, r *http.Request) error {
	ctx, project, channel, path := r.Context(), r.PathValue("project"), r.PathValue("channel"), r.PathValue("path")
	f, err := d.lake.Get(ctx, project, channel, path)
	if err != nil {
		return err
	}
	h := w.Header()
	etag := `"` + f.Digest + `"`
	h.Set("ETag", etag)
	h.Set("X-Koya-Digest", f.Digest)
	if f.CRC32C != "" {
		h.Set(client.CRC32CHeader, f.CRC32C)
	}
	h.Set("Content-Type", f.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox") // user content never runs as the API's page
	h.Set("Accept-Ranges", "bytes")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	start, n, partial := byteRange(r.Header.Get("Range"), f.Size)
	if partial && r.Header.Get("If-Range") != "" && r.Header.Get("If-Range") != etag {
		start, n, partial = 0, f.Size, false
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, f.Size))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	rd, err := d.s.objects.OpenData(ctx, project, f.Ref)
	if err != nil {
		return err
	}
	defer rd.Close()
	if start > 0 {
		if _, err := io.CopyN(io.Discard, rd, start); err != nil {
			return err
		}
	}
	w.WriteHeader(status)
	// Reading and decrypting the next block overlaps with sending this
	// one, and the connection sees writes of a block (up to 2 MiB).
	if _, err := pipecopy.Copy(w, io.LimitReader(rd, n), nil); err != nil {
		d.s.log.WarnContext(ctx, "datalake download cut", "project", project, "channel", channel, "path", path, "err", err)
	}
	return nil
}

// byteRange reads one "bytes=a-b", "bytes=a-" or "bytes=-n" range of a
// content of size bytes; anything else (several ranges, a range outside
// the content) is ignored: the whole content is sent.
func byteRange(h string, size int64) (start, n int64, partial bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false
	}
	if a == "" { // the last b bytes
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last <= 0 || size == 0 {
			return 0, size, false
		}
		last = min(last, size)
		return size - last, last, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 || first >= size {
		return 0, size, false
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < first {
			return 0, size, false
		}
		end = min(end, size-1)
	}
	return first, end - first + 1, true
}

func (d *dataAPI) deleteFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := d.lake.Delete(ctx, r.PathValue("project"), r.PathValue("channel"), r.PathValue("path"))
	if err != nil {
		return err
	}
	d.s.dataChanged() // wake the triggers
	if _, err := d.s.store.AddStorage(context.WithoutCancel(ctx), f.Project, -f.Size); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func sessionOut(s datalake.Session) client.UploadSession {
	return client.UploadSession{ID: s.ID, Channel: s.Channel, Path: s.Path, Offset: s.Offset, Total: s.Total, Expires: s.Expires}
}

func (d *dataAPI) createUpload(w http.ResponseWriter, r *http.Request) error {
	var req client.UploadRequest
	if err := decodeJSON(w, r, d.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	total := int64(-1)
	if req.Total != nil {
		total = *req.Total
	}
	ctx, project := r.Context(), r.PathValue("project")
	if total > 0 {
		limit, room, most, err := d.bodyLimit(ctx, project, 0)
		if err != nil {
			return err
		}
		if total > most {
			return d.uploadErr(ctx, project, &http.MaxBytesError{Limit: most}, limit, room, req.Path)
		}
	}
	s, err := d.lake.CreateUpload(ctx, upload(r, req.Channel, req.Path, req.ContentType, req.Meta), total)
	if err != nil {
		return err
	}
	w.Header().Set(client.OffsetHeader, "0")
	writeJSON(w, http.StatusCreated, sessionOut(s))
	return nil
}

func (d *dataAPI) getUpload(w http.ResponseWriter, r *http.Request) error {
	s, err := d.lake.GetUpload(r.Context(), r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set(client.OffsetHeader, strconv.FormatInt(s.Offset, 10))
	writeJSON(w, http.StatusOK, sessionOut(s))
	return nil
}

func (d *dataAPI) writeChunk(w http.ResponseWriter, r *http.Request) error {
	ctx, project, id := r.Context(), r.PathValue("project"), r.PathValue("id")
	h := r.Header.Get(client.OffsetHeader)
	if h == "" {
		h = r.URL.Query().Get("offset")
	}
	offset, err := strconv.ParseInt(h, 10, 64)
	if err != nil || offset < 0 {
		return errs.At(errs.Invalid, client.OffsetHeader, "%q: a chunk needs its offset in the file (%s: 0, ...)", h, client.OffsetHeader)
	}
	// The bytes before the chunk count against the limit: offset is the
	// session's, or WriteChunk refuses the chunk before reading it.
	limit, room, most, err := d.bodyLimit(ctx, project, offset)
	if err != nil {
		return err
	}
	body := newIdleBody(w, http.MaxBytesReader(w, r.Body, max(most, 0)), d.s.cfg.UploadIdle)
	s, err := d.lake.WriteChunk(ctx, project, id, offset, body)
	if s.ID != "" {
		w.Header().Set(client.OffsetHeader, strconv.FormatInt(s.Offset, 10))
	}
	if err != nil {
		return d.uploadErr(ctx, project, err, limit, room, s.Path)
	}
	writeJSON(w, http.StatusOK, sessionOut(s))
	return nil
}

func (d *dataAPI) completeUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, prev, err := d.lake.CompleteUpload(ctx, r.PathValue("project"), r.PathValue("id"), crcOf(r))
	if err != nil {
		return err
	}
	d.s.dataChanged() // wake the triggers
	if err := d.account(ctx, f, prev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fileOut(f))
	return nil
}

func (d *dataAPI) abortUpload(w http.ResponseWriter, r *http.Request) error {
	if err := d.lake.AbortUpload(r.Context(), r.PathValue("project"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
