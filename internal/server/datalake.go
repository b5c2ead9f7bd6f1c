package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
)

// The datalake's API: channels of files with free JSON metadata, streamed
// in and out encrypted (package datalake does the work; these handlers
// parse, check quotas and answer).

const (
	pChannel = pProject + "/channels/{channel}"
	pUpload  = pProject + "/uploads/{id}"
)

// dataAPI serves the datalake routes.
type dataAPI struct {
	s    *Server
	lake *datalake.Lake
}

func (s *Server) dataRoutes() []route {
	d := &dataAPI{s: s, lake: datalake.New(s.store, s.objects, s.clock)}
	if s.cfg.UploadPartBytes > 0 {
		d.lake.SetPartSize(s.cfg.UploadPartBytes)
	}
	fileQuery := []param{{"query", "string", "only files matching this query (see the datalake query language)"},
		{"channel", "string", "only this channel's files"}}
	return []route{
		{method: "GET", path: pProject + "/channels", id: "listChannels", summary: "A project's datalake channels.", access: project,
			resp: []client.Channel{}, handler: d.listChannels},
		{method: "PUT", path: pChannel, id: "putChannel", summary: "Create a channel, or change its description.", access: project,
			body: client.ChannelRequest{}, resp: client.Channel{}, handler: d.putChannel},
		{method: "GET", path: pChannel, id: "getChannel", summary: "One channel, with its file count and bytes.", access: project,
			resp: client.Channel{}, handler: d.getChannel},
		{method: "DELETE", path: pChannel, id: "deleteChannel", summary: "Delete an empty channel.", access: project,
			status: http.StatusNoContent, handler: d.deleteChannel},

		{method: "PUT", path: pChannel + "/files/{path...}", id: "putFile", access: project,
			summary: "Store the body as the file (replacing it); metadata from the Koya-Meta header or ?meta=, content type from Content-Type.",
			query: []param{{"meta", "string", "the file's metadata, a JSON object (or the Koya-Meta header)"},
				{"crc32c", "string", "the CRC-32C of the body as the client computed it, 8 hex digits (or the Koya-Crc32c header): other bytes are not stored"}},
			body: "", bodyType: "application/octet-stream", resp: client.DataFile{}, handler: d.putFile},
		{method: "GET", path: pChannel + "/files/{path...}", id: "getFile", summary: "The file's content (ETag: its digest; one byte range supported).", access: project,
			respType: "application/octet-stream", handler: d.getFile},
		{method: "DELETE", path: pChannel + "/files/{path...}", id: "deleteFile", summary: "Delete a file.", access: project,
			status: http.StatusNoContent, handler: d.deleteFile},
		{method: "GET", path: pChannel + "/meta/{path...}", id: "getFileMeta", summary: "A file's description and metadata.", access: project,
			resp: client.DataFile{}, handler: d.getFileMeta},
		{method: "PUT", path: pChannel + "/meta/{path...}", id: "setFileMeta", summary: "Replace a file's metadata (?version= to refuse if it changed).", access: project,
			query: []param{{"version", "integer", "fail with 409 unless the file is at this version"}},
			body:  map[string]any{}, resp: client.DataFile{}, handler: d.setFileMeta},
		{method: "PATCH", path: pChannel + "/meta/{path...}", id: "patchFileMeta", summary: "Merge a JSON merge patch (RFC 7396) into a file's metadata.", access: project,
			query: []param{{"version", "integer", "fail with 409 unless the file is at this version"}},
			body:  map[string]any{}, bodyType: "application/merge-patch+json", resp: client.DataFile{}, handler: d.patchFileMeta},

		{method: "GET", path: pProject + "/files", id: "findFiles", summary: "Search files by metadata, a page at a time.", access: project,
			query: append(fileQuery, param{"sort", "string", `sort keys, e.g. "created desc, label" (default: upload order)`},
				param{"after", "string", "the next cursor of the previous page"}, param{"limit", "integer", "at most this many (default 100, at most 1000)"}),
			resp: client.DataFilePage{}, handler: d.findFiles},
		{method: "GET", path: pProject + "/count", id: "countFiles", summary: "Count files matching a query, or group them by a field.", access: project,
			query: append(fileQuery, param{"by", "string", "group by this field (a metadata key or built-in)"}),
			resp:  []client.DataCount{}, handler: d.countFiles},

		{method: "POST", path: pProject + "/uploads", id: "createUpload", summary: "Start a resumable upload of one file.", access: project,
			body: client.UploadRequest{}, status: http.StatusCreated, resp: client.UploadSession{}, handler: d.createUpload},
		{method: "GET", path: pUpload, id: "getUpload", summary: "An upload session: the offset to send from.", access: project, role: v1.RoleEditor,
			resp: client.UploadSession{}, handler: d.getUpload},
		{method: "PATCH", path: pUpload, id: "writeChunk", summary: "Append the body at Upload-Offset (409 with the session's offset if it differs).", access: project,
			query: []param{{"offset", "integer", "the chunk's offset (or the Upload-Offset header)"}},
			body:  "", bodyType: "application/offset+octet-stream", resp: client.UploadSession{}, handler: d.writeChunk},
		{method: "POST", path: pUpload + "/complete", id: "completeUpload", summary: "Make the uploaded chunks the file.", access: project,
			query: []param{{"crc32c", "string", "the CRC-32C of the whole file as the client computed it (or the Koya-Crc32c header): if the chunks' differs, the upload is dropped"}},
			resp:  client.DataFile{}, handler: d.completeUpload},
		{method: "DELETE", path: pUpload, id: "abortUpload", summary: "Abandon an upload and its chunks.", access: project,
			status: http.StatusNoContent, handler: d.abortUpload},
	}
}

func channelOut(c store.Channel) client.Channel {
	return client.Channel{Project: c.Project, Name: c.Name, Description: c.Description, Files: c.Files, Bytes: c.Bytes, CreatedAt: c.CreatedAt}
}

func fileOut(f store.File) client.DataFile {
	return client.DataFile{ID: f.ID, Project: f.Project, Channel: f.Channel, Path: f.Path, ContentType: f.ContentType,
		Size: f.Size, Digest: f.Digest, Meta: f.Meta, Version: f.Version, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

func (d *dataAPI) listChannels(w http.ResponseWriter, r *http.Request) error {
	cs, err := d.s.store.ListChannels(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	out := []client.Channel{}
	for _, c := range cs {
		out = append(out, channelOut(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *dataAPI) putChannel(w http.ResponseWriter, r *http.Request) error {
	ctx, project, name := r.Context(), r.PathValue("project"), r.PathValue("channel")
	if err := datalake.ValidateChannel(name); err != nil {
		return err
	}
	var req client.ChannelRequest
	if err := decodeJSON(w, r, d.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if len(req.Description) > 1024 {
		return errs.At(errs.Invalid, "description", "at most 1024 bytes")
	}
	c, err := d.s.store.PutChannel(ctx, store.Channel{Project: project, Name: name, Description: req.Description})
	if err != nil {
		return err
	}
	d.s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "channel.put", Object: "channel/" + name})
	writeJSON(w, http.StatusOK, channelOut(c))
	return nil
}

func (d *dataAPI) getChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := d.s.store.GetChannel(r.Context(), r.PathValue("project"), r.PathValue("channel"))
	if errs.Is(err, errs.NotFound) {
		return errs.Wrap(errs.NotFound, err, "project %s has no channel %q", r.PathValue("project"), r.PathValue("channel"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, channelOut(c))
	return nil
}

func (d *dataAPI) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	ctx, project, name := r.Context(), r.PathValue("project"), r.PathValue("channel")
	if err := d.s.store.DeleteChannel(ctx, project, name); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.Wrap(errs.NotFound, err, "project %s has no channel %q", project, name)
		}
		return err
	}
	d.s.audit(ctx, store.AuditEntry{Actor: callerOf(ctx).name(), Project: project, Action: "channel.delete", Object: "channel/" + name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *dataAPI) getFileMeta(w http.ResponseWriter, r *http.Request) error {
	f, err := d.lake.Get(r.Context(), r.PathValue("project"), r.PathValue("channel"), r.PathValue("path"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fileOut(f))
	return nil
}

// versionParam is ?version= (0 when absent).
func versionParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("version")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, errs.At(errs.Invalid, "version", "%q is not a file version (1, 2, ...)", v)
	}
	return n, nil
}

func (d *dataAPI) setFileMeta(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	var meta json.RawMessage
	if err := decodeJSON(w, r, d.s.cfg.MaxBodyBytes, &meta); err != nil {
		return err
	}
	f, err := d.lake.SetMeta(r.Context(), r.PathValue("project"), r.PathValue("channel"), r.PathValue("path"), meta, version)
	if err != nil {
		return err
	}
	d.s.dataChanged() // wake the triggers
	writeJSON(w, http.StatusOK, fileOut(f))
	return nil
}

func (d *dataAPI) patchFileMeta(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	var patch json.RawMessage
	if err := decodeJSON(w, r, d.s.cfg.MaxBodyBytes, &patch); err != nil {
		return err
	}
	f, err := d.lake.PatchMeta(r.Context(), r.PathValue("project"), r.PathValue("channel"), r.PathValue("path"), patch, version)
	if err != nil {
		return err
	}
	d.s.dataChanged() // wake the triggers
	writeJSON(w, http.StatusOK, fileOut(f))
	return nil
}

// fileQuery reads ?query= and ?channel=.
func fileQuery(r *http.Request) (store.FileQuery, error) {
	q := store.FileQuery{Project: r.PathValue("project"), Channel: r.URL.Query().Get("channel")}
	if src := r.URL.Query().Get("query"); src != "" {
		e, err := query.Parse(src)
		if err != nil {
			return q, err
		}
		q.Where = e
	}
	return q, nil
}

func (d *dataAPI) findFiles(w http.ResponseWriter, r *http.Request) error {
	q, err := fileQuery(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	if src := v.Get("sort"); src != "" {
		if q.Sort, err = query.ParseSort(src); err != nil {
			return err
		}
	}
	q.After = v.Get("after")
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000 {
			return errs.At(errs.Invalid, "limit", "%q: want a number from 1 to 1000", l)
		}
	}
	page, err := d.s.store.FindFiles(r.Context(), q)
	if err != nil {
		return err
	}
	out := client.DataFilePage{Files: []client.DataFile{}, Next: page.Next}
	for _, f := range page.Files {
		out.Files = append(out.Files, fileOut(f))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *dataAPI) countFiles(w http.ResponseWriter, r *http.Request) error {
	q, err := fileQuery(r)
	if err != nil {
		return err
	}
	groups, err := d.s.store.CountFiles(r.Context(), q, r.URL.Query().Get("by"))
	if err != nil {
		return err
	}
	out := []client.DataCount{}
	for _, g := range groups {
		out = append(out, client.DataCount{Value: g.Value, Count: g.Count})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
