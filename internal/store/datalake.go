package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/koya-dev/koya/internal/datalake/query"
)

// DatalakeQuerier is the datalake's part of Querier: channels, files with
// free JSON metadata, search and counts, and the outbox of data events.
//
// Every write of a file (PutFile, SetFileMeta, DeleteFile) writes its
// DataEvent in the same statement batch, so an event exists if and only if
// the change committed (the outbox pattern): call them inside Tx to
// compose them with other writes.
type DatalakeQuerier interface {
	// PutChannel creates a channel or updates its description.
	PutChannel(ctx context.Context, c Channel) (Channel, error)
	GetChannel(ctx context.Context, project, name string) (Channel, error)
	ListChannels(ctx context.Context, project string) ([]Channel, error) // by name
	// DeleteChannel deletes an empty channel; errs.Conflict if it holds files.
	DeleteChannel(ctx context.Context, project, name string) error

	// PutFile creates the file (project, channel, path) or replaces its
	// content and metadata, and writes a file.created or file.updated
	// event. The channel must exist (errs.NotFound). With f.ID empty the
	// store assigns one to a new file; an existing file keeps its ID.
	// Version becomes 1, or the old version + 1. prev is the replaced
	// file (nil for a new one): its Ref may need deleting once committed.
	PutFile(ctx context.Context, f File) (stored File, prev *File, err error)
	GetFile(ctx context.Context, project, channel, path string) (File, error)
	GetFileByID(ctx context.Context, project, id string) (File, error)
	// SetFileMeta replaces a file's metadata (version + 1, a file.meta
	// event). With expectVersion > 0 it fails with errs.Conflict unless
	// the file is still at that version (read-modify-write by callers).
	SetFileMeta(ctx context.Context, project, channel, path string, meta json.RawMessage, expectVersion int64) (File, error)
	// DeleteFile deletes a file and writes a file.deleted event; it
	// returns the deleted file (whose Ref the caller deletes).
	DeleteFile(ctx context.Context, project, channel, path string) (File, error)

	// FindFiles lists the files matching q, one page at a time, with the
	// semantics of query.Match (storetest checks they agree). A named
	// channel that does not exist is errs.NotFound.
	FindFiles(ctx context.Context, q FileQuery) (FilePage, error)
	// CountFiles counts the files matching q (Sort, After and Limit are
	// ignored). With by empty it returns one group (Value nil); otherwise
	// one group per value of that field (by is a field as query.ParseField
	// reads it: "label", "camera.model", "content_type", "meta.size"),
	// largest count first (a file
	// counts once in the group of each value it holds, so an array's
	// elements put it in several groups and a repeated one counts once;
	// files without the key are counted in a group with Value nil).
	CountFiles(ctx context.Context, q FileQuery, by string) ([]GroupCount, error)

	// ClaimDataEvents returns up to limit undispatched events, oldest
	// first. Call it inside Tx with MarkDataEventsDispatched: on PostgreSQL
	// the rows are locked (FOR UPDATE SKIP LOCKED), so two dispatchers
	// never take the same event, and an event committed late (a lower seq
	// committed after a higher one) is still found.
	ClaimDataEvents(ctx context.Context, limit int) ([]DataEvent, error)
	MarkDataEventsDispatched(ctx context.Context, seqs []int64) error
	// ListDataEvents lists a project's events newest first (seq < before
	// when before > 0), for people to read.
	ListDataEvents(ctx context.Context, project, channel string, before int64, limit int) ([]DataEvent, error)
}

// Channel is a datalake collection of files in a project.
type Channel struct {
	Project     string
	Name        string
	Description string
	// Files and Bytes are maintained by the store on every file write.
	Files     int64
	Bytes     int64
	CreatedAt time.Time
}

// File is one datalake file. Its content lives in the object store under
// Ref, encrypted with the project's key; the row holds what search needs.
type File struct {
	ID          string
	Project     string
	Channel     string
	Path        string // slash-separated, relative, validated by package datalake
	ContentType string
	Size        int64
	Digest      string // "sha256:<hex>" of the plaintext
	// CRC32C is the CRC-32C (Castagnoli) of the plaintext, 8 hex digits,
	// that downloads are checked with; "" for a file stored before koya
	// kept it.
	CRC32C string
	Ref    string // object key of the encrypted content
	// Meta is the free metadata: a JSON object ({} when none), validated
	// by package datalake before it reaches the store.
	Meta      json.RawMessage
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FileQuery selects files.
type FileQuery struct {
	Project string
	Channel string     // empty: every channel of the project
	Where   query.Expr // nil: every file
	// Sort orders the page (default: creation order, the file's internal
	// id, which a search reads in step with its metadata indexes and so
	// stops after a page; "path" for path order). Ties break on the
	// internal id, so that pages never skip or repeat a file. A metadata
	// key sorts by its first value (an array's first element): files
	// without it first, then null < false < true < numbers < strings
	// (times spelled as strings sort as strings); desc reverses that.
	Sort  []query.Sort
	After string // the Next of the previous page ("" from the start)
	Limit int    // 0: 100; at most 1000
}

// FilePage is one page of FindFiles; Next is empty on the last page.
type FilePage struct {
	Files []File
	Next  string
}

// GroupCount is the number of files with one value of a field.
type GroupCount struct {
	Value any // string, float64, bool, time.Time or nil
	Count int64
}

// Data event types.
const (
	FileCreated = "file.created"
	FileUpdated = "file.updated" // new content
	FileMeta    = "file.meta"    // new metadata only
	FileDeleted = "file.deleted"
)

// DataEvent is one entry of the datalake's outbox: what a trigger sees.
type DataEvent struct {
	Seq         int64 // store-assigned, increasing in insertion order
	Type        string
	Project     string
	Channel     string
	FileID      string
	Path        string
	Version     int64
	Size        int64
	Digest      string
	ContentType string
	Meta        json.RawMessage // the metadata after the change (before it, for a delete)
	At          time.Time
	Dispatched  bool
}
