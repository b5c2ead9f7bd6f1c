package client

import (
	"encoding/json"
	"time"
)

// The datalake's request and response bodies (the server uses these same
// types).

// Channel is a collection of data files in a project.
type Channel struct {
	Project     string    `json:"project"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Files       int64     `json:"files"`
	Bytes       int64     `json:"bytes"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ChannelRequest is the body of PUT .../channels/{channel}.
type ChannelRequest struct {
	Description string `json:"description,omitempty"`
}

// DataFile is one datalake file (without its content).
type DataFile struct {
	ID          string          `json:"id"`
	Project     string          `json:"project"`
	Channel     string          `json:"channel"`
	Path        string          `json:"path"`
	ContentType string          `json:"contentType"`
	Size        int64           `json:"size"`
	Digest      string          `json:"digest"` // sha256:<hex> of the content
	Meta        json.RawMessage `json:"meta"`
	Version     int64           `json:"version"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// DataFilePage is one page of a search; Next is the cursor of the next
// page (empty on the last).
type DataFilePage struct {
	Files []DataFile `json:"files"`
	Next  string     `json:"next,omitempty"`
}

// DataCount is the number of files with one value of the counted field
// (Value null: files without it, or every file when not grouped).
type DataCount struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// UploadRequest is the body of POST .../uploads: it starts a resumable
// upload of one file.
type UploadRequest struct {
	Channel     string          `json:"channel"`
	Path        string          `json:"path"`
	ContentType string          `json:"contentType,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	// Total is the file's size if known; -1 or absent: unknown.
	Total *int64 `json:"total,omitempty"`
}

// UploadSession is the state of a resumable upload: the next chunk
// starts at Offset.
type UploadSession struct {
	ID      string    `json:"id"`
	Channel string    `json:"channel"`
	Path    string    `json:"path"`
	Offset  int64     `json:"offset"`
	Total   int64     `json:"total"` // -1: unknown
	Expires time.Time `json:"expires"`
}

// MetaHeader carries a file's metadata (JSON) with its upload.
const MetaHeader = "Koya-Meta"

// CRC32CHeader carries, with a file's content, the CRC-32C of the whole
// content (8 hex digits) when the server has it: what a download is
// checked with (DataDownload.Check).
const CRC32CHeader = "Koya-Crc32c"

// OffsetHeader is the offset of an upload chunk (PATCH), and of the
// session after it (in answers, including 409 on a wrong offset).
const OffsetHeader = "Upload-Offset"
