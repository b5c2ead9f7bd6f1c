package client

import (
	"context"
	sha "crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/koya-dev/koya/errs"
)

// filePath is .../channels/<channel>/<kind>/<path>. The path is escaped
// so that the server sees it as given: a clean path segment by segment,
// any other (with ".", ".." or empty segments) whole, its slashes and dots
// escaped too, so that no proxy or router cleans it into another file;
// the server then refuses it with a clear error.
func filePath(project, channel, kind, path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return projectPath(project, "channels", channel, kind) + "/" + strings.ReplaceAll(url.PathEscape(path), ".", "%2E")
		}
		segs[i] = url.PathEscape(s)
	}
	return projectPath(project, "channels", channel, kind) + "/" + strings.Join(segs, "/")
}

// Channels lists a project's datalake channels.
func (c *Client) Channels(ctx context.Context, project string) ([]Channel, error) {
	var out []Channel
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "channels"), nil, nil, &out)
}

// PutChannel creates a channel or changes its description.
func (c *Client) PutChannel(ctx context.Context, project, name, description string) (Channel, error) {
	var out Channel
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPut, projectPath(project, "channels", name), nil, ChannelRequest{Description: description}, &out)
}

// Channel returns one channel.
func (c *Client) Channel(ctx context.Context, project, name string) (Channel, error) {
	var out Channel
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "channels", name), nil, nil, &out)
}

// DeleteChannel deletes an empty channel.
func (c *Client) DeleteChannel(ctx context.Context, project, name string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, projectPath(project, "channels", name), nil, nil, nil)
}

// PutOptions describe a file being uploaded.
type PutOptions struct {
	ContentType string          // default application/octet-stream
	Meta        json.RawMessage // a JSON object; nil: {}
	// Progress, if set, is called with the number of bytes sent as they go.
	Progress func(n int64)
}

// PutFile streams r as the file path of channel (replacing it).
func (c *Client) PutFile(ctx context.Context, project, channel, path string, r io.Reader, o PutOptions) (DataFile, error) {
	var out DataFile
	if err := need(project); err != nil {
		return out, err
	}
	q := url.Values{}
	if len(o.Meta) > 0 {
		q.Set("meta", string(o.Meta))
	}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// The CRC-32C of what was sent goes in a trailer: the server stores
	// nothing whose own CRC differs (bytes changed on the way).
	trailer := http.Header{CRC32CHeader: nil}
	body := &crcReader{r: r, crc: newCRC32C(), done: func(sum string) { trailer.Set(CRC32CHeader, sum) }}
	resp, err := c.send(ctx, request{method: http.MethodPut, path: filePath(project, channel, "files", path), query: q,
		body: progressReader(body, o.Progress), contentType: ct, trailer: trailer})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newCRC32C is a CRC-32C hash, the checksum of uploads and downloads.
func newCRC32C() hash.Hash32 { return crc32.New(castagnoli) }

// crcHex is h's sum as the server keeps and sends it: 8 hex digits.
func crcHex(h hash.Hash32) string { return fmt.Sprintf("%08x", h.Sum32()) }

// crcReader computes the CRC-32C of what is read through it and gives it
// to done (8 hex digits) when r ends.
type crcReader struct {
	r    io.Reader
	crc  hash.Hash32
	done func(string)
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	if errors.Is(err, io.EOF) && c.done != nil {
		c.done(crcHex(c.crc))
		c.done = nil
	}
	return n, err
}

// progressReader reports the bytes read from r to fn (nil: none). It is
// also how an upload's body is sent: in writes of a MiB (the transport
// would copy it 32 KiB at a time), each a chunk of the request.
func progressReader(r io.Reader, fn func(int64)) io.Reader {
	return &progressR{r: r, fn: fn}
}

type progressR struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressR) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(int64(n))
	}
	return n, err
}

// uploadBuffer is the size of the writes of an upload's body.
const uploadBuffer = 1 << 20

// WriteTo sends the body in writes of uploadBuffer bytes.
func (p *progressR) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, uploadBuffer)
	var n int64
	for {
		// Not io.ReadFull: it turns an early io.EOF into the
		// io.ErrUnexpectedEOF a failing source may return itself, and a
		// cut upload would pass for a whole one.
		k := 0
		var err error
		for k < len(buf) && err == nil {
			var m int
			m, err = p.Read(buf[k:])
			k += m
		}
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// DataDownload is an open download: read it, then Close it. Only io.EOF
// proves it complete; Digest says what the bytes hash to, and CRC32C
// (when the server has it, "" otherwise) their CRC-32C.
type DataDownload struct {
	io.ReadCloser
	Size        int64
	Digest      string
	CRC32C      string
	ContentType string
}

// Checker returns what to write the downloaded bytes to as they are read,
// and check, which says whether they were the file's. It uses the
// CRC-32C when the server sent one, as gsutil does: it catches what goes
// wrong between the stored file and this process at a tenth of the CPU
// of the SHA-256, which the server computed as the file went in and which
// the store's authenticated encryption keeps. With sha256, or without a
// CRC, it recomputes the digest.
func (d *DataDownload) Checker(sha256 bool) (w io.Writer, check func() error) {
	if d.CRC32C != "" && !sha256 {
		crc := newCRC32C()
		return crc, func() error {
			if got := crcHex(crc); got != d.CRC32C {
				return errs.E(errs.Internal, "downloaded bytes have CRC-32C %s, not %s as the server said", got, d.CRC32C)
			}
			return nil
		}
	}
	h := sha.New()
	return h, func() error {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); d.Digest != "" && got != d.Digest {
			return errs.E(errs.Internal, "downloaded bytes have digest %s, not %s as the server said", got, d.Digest)
		}
		return nil
	}
}

// GetFile opens a file's content.
func (c *Client) GetFile(ctx context.Context, project, channel, path string) (*DataDownload, error) {
	if err := need(project); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: filePath(project, channel, "files", path), accept: "*/*"})
	if err != nil {
		return nil, err
	}
	return &DataDownload{ReadCloser: resp.Body, Size: resp.ContentLength, Digest: resp.Header.Get("X-Koya-Digest"),
		CRC32C: resp.Header.Get(CRC32CHeader), ContentType: resp.Header.Get("Content-Type")}, nil
}

// DeleteFile deletes a file.
func (c *Client) DeleteFile(ctx context.Context, project, channel, path string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, filePath(project, channel, "files", path), nil, nil, nil)
}

// FileMeta returns a file's description and metadata.
func (c *Client) FileMeta(ctx context.Context, project, channel, path string) (DataFile, error) {
	var out DataFile
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, filePath(project, channel, "meta", path), nil, nil, &out)
}

func versionQuery(version int64) url.Values {
	if version <= 0 {
		return nil
	}
	return url.Values{"version": {strconv.FormatInt(version, 10)}}
}

// SetFileMeta replaces a file's metadata; with version > 0, only if the
// file is still at that version (errs.Conflict otherwise).
func (c *Client) SetFileMeta(ctx context.Context, project, channel, path string, meta json.RawMessage, version int64) (DataFile, error) {
	var out DataFile
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPut, filePath(project, channel, "meta", path), versionQuery(version), meta, &out)
}

// PatchFileMeta merges a JSON merge patch (RFC 7396) into a file's
// metadata: null deletes a key. The server retries concurrent changes.
func (c *Client) PatchFileMeta(ctx context.Context, project, channel, path string, patch json.RawMessage, version int64) (DataFile, error) {
	var out DataFile
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPatch, filePath(project, channel, "meta", path), versionQuery(version), patch, &out)
}

// FindOptions select files.
type FindOptions struct {
	Query   string // the datalake query language; empty: every file
	Sort    string // e.g. "created desc, label"
	Channel string // empty: every channel
	After   string // the Next of the previous page
	Limit   int
}

func (o FindOptions) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"query": o.Query, "sort": o.Sort, "channel": o.Channel, "after": o.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// FindFiles returns one page of the files matching o.
func (c *Client) FindFiles(ctx context.Context, project string, o FindOptions) (DataFilePage, error) {
	var out DataFilePage
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "files"), o.values(), nil, &out)
}

// CountFiles counts the files matching o.Query (and o.Channel), grouped
// by the field by if not empty.
func (c *Client) CountFiles(ctx context.Context, project string, o FindOptions, by string) ([]DataCount, error) {
	var out []DataCount
	if err := need(project); err != nil {
		return out, err
	}
	q := FindOptions{Query: o.Query, Channel: o.Channel}.values()
	if by != "" {
		q.Set("by", by)
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "count"), q, nil, &out)
}

// CreateUpload starts a resumable upload.
func (c *Client) CreateUpload(ctx context.Context, project string, req UploadRequest) (UploadSession, error) {
	var out UploadSession
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPost, projectPath(project, "uploads"), nil, req, &out)
}

// Upload returns an upload session: the offset to send from.
func (c *Client) Upload(ctx context.Context, project, id string) (UploadSession, error) {
	var out UploadSession
	if err := need(project); err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, projectPath(project, "uploads", id), nil, nil, &out)
}

// WriteChunk sends r as the chunk at offset. A wrong offset is
// errs.Conflict; Upload tells the right one.
func (c *Client) WriteChunk(ctx context.Context, project, id string, offset int64, r io.Reader) (UploadSession, error) {
	var out UploadSession
	if err := need(project); err != nil {
		return out, err
	}
	if _, ok := r.(*progressR); !ok {
		r = progressReader(r, nil) // sent a MiB at a time
	}
	return c.writeChunk(ctx, project, id, offset, r, 0)
}

// writeChunk sends the chunk at offset, of length bytes if > 0.
func (c *Client) writeChunk(ctx context.Context, project, id string, offset int64, r io.Reader, length int64) (UploadSession, error) {
	var out UploadSession
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	resp, err := c.send(ctx, request{method: http.MethodPatch, path: projectPath(project, "uploads", id), query: q,
		body: r, length: length, contentType: "application/offset+octet-stream"})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// CompleteUpload makes an upload's chunks the file. crc, if set, is the
// CRC-32C of the whole file as the client computed it (8 hex digits): if
// the chunks' differs, the server drops the upload.
func (c *Client) CompleteUpload(ctx context.Context, project, id, crc string) (DataFile, error) {
	var out DataFile
	if err := need(project); err != nil {
		return out, err
	}
	var q url.Values
	if crc != "" {
		q = url.Values{"crc32c": {crc}}
	}
	resp, err := c.send(ctx, request{method: http.MethodPost, path: projectPath(project, "uploads", id, "complete"), query: q})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeBody(resp, &out)
}

// AbortUpload abandons an upload and its chunks.
func (c *Client) AbortUpload(ctx context.Context, project, id string) error {
	if err := need(project); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, projectPath(project, "uploads", id), nil, nil, nil)
}
