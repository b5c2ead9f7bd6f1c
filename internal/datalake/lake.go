package datalake

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
)

// SessionTTL is how long an upload session lives without a chunk.
const SessionTTL = 24 * time.Hour

// Lake is the datalake service: files' rows in the store, their content
// in the object store.
type Lake struct {
	store   store.Store
	objects *objects.Store
	clock   func() time.Time
	ttl     time.Duration
	// maxParts bounds the chunks of an upload session (MaxParts).
	maxParts int
	// partBytes is the part size of an upload session (PartSize).
	partBytes int64

	mu      sync.Mutex
	writing map[string]bool // upload sessions with a chunk being written
}

// New returns the datalake over st and objs; clock nil is time.Now.
func New(st store.Store, objs *objects.Store, clock func() time.Time) *Lake {
	if clock == nil {
		clock = time.Now
	}
	return &Lake{store: st, objects: objs, clock: clock, ttl: SessionTTL, maxParts: MaxParts, partBytes: PartSize, writing: map[string]bool{}}
}

// SetSessionTTL changes how long sessions live (tests).
func (l *Lake) SetSessionTTL(d time.Duration) { l.ttl = d }

// SetPartSize changes the part size of upload sessions (PartSize).
func (l *Lake) SetPartSize(n int64) { l.partBytes = n }

// Upload describes a file being stored.
type Upload struct {
	Project, Channel, Path string
	ContentType            string
	Meta                   json.RawMessage // nil: {}
	// CRC32C, if set, is the CRC-32C (8 hex digits) the client computed
	// of what it sent: a content whose own differs is not stored.
	// Neither is kept with an upload session (its CRC comes at the end).
	CRC32C string `json:"-"`
	// CRC32CAfter, if set, gives CRC32C once the content has been read
	// (an HTTP trailer), when it was not known before.
	CRC32CAfter func() string `json:"-"`
}

// CheckCRC32C validates a CRC-32C a client sent ("" is none) and
// returns it in lower case.
func CheckCRC32C(crc string) (string, error) {
	if crc == "" {
		return "", nil
	}
	if len(crc) != 8 || strings.Trim(strings.ToLower(crc), "0123456789abcdef") != "" {
		return "", errs.At(errs.Invalid, "crc32c", "%.20q is not a CRC-32C (8 hex digits)", crc)
	}
	return strings.ToLower(crc), nil
}

// crcMismatch is the error of content whose CRC-32C is not the client's.
func crcMismatch(path, got, want string) error {
	return errs.At(errs.Invalid, "crc32c", "the bytes received for %s have CRC-32C %s, not %s as the client computed: they changed on the way; send the file again", path, got, want)
}

// check validates u's names and metadata, normalising the metadata and
// the content type.
func (u *Upload) check() error {
	crc, err := CheckCRC32C(u.CRC32C)
	if err != nil {
		return err
	}
	u.CRC32C = crc
	if err := ValidateChannel(u.Channel); err != nil {
		return err
	}
	if err := ValidatePath(u.Path); err != nil {
		return err
	}
	if len(u.ContentType) > 255 || strings.ContainsAny(u.ContentType, "\r\n\x00") {
		return errs.At(errs.Invalid, "contentType", "content type %.40q is not valid", u.ContentType)
	}
	if u.ContentType == "" {
		u.ContentType = "application/octet-stream"
	}
	if len(u.Meta) == 0 {
		u.Meta = json.RawMessage("{}")
	}
	meta, err := ValidateMeta(u.Meta)
	if err != nil {
		return err
	}
	u.Meta = meta
	return nil
}

// Put stores r as the file u names, replacing any previous content and
// metadata, and returns the stored file and the replaced one (nil for a
// new file). The row is written only once the content is stored; if it
// cannot be, the content is deleted. A read error of r is returned as is.
func (l *Lake) Put(ctx context.Context, u Upload, r io.Reader) (store.File, *store.File, error) {
	if err := u.check(); err != nil {
		return store.File{}, nil, err
	}
	if _, err := l.store.GetChannel(ctx, u.Project, u.Channel); err != nil {
		return store.File{}, nil, channelErr(err, u.Project, u.Channel)
	}
	obj, err := l.objects.PutData(ctx, u.Project, r)
	if err != nil {
		return store.File{}, nil, err
	}
	want := u.CRC32C
	if want == "" && u.CRC32CAfter != nil {
		want, err = CheckCRC32C(u.CRC32CAfter())
	}
	if err == nil && want != "" && obj.CRC32C != want {
		err = crcMismatch(u.Path, obj.CRC32C, want)
	}
	if err != nil {
		_ = l.objects.DeleteData(context.WithoutCancel(ctx), u.Project, obj.Ref)
		return store.File{}, nil, err
	}
	return l.commit(ctx, u, obj)
}

// commit writes the row of a stored object, deleting the object if the
// row cannot be written and the replaced content once it is.
func (l *Lake) commit(ctx context.Context, u Upload, obj objects.DataObject) (store.File, *store.File, error) {
	f, prev, err := l.store.PutFile(ctx, store.File{
		Project: u.Project, Channel: u.Channel, Path: u.Path, ContentType: u.ContentType,
		Size: obj.Size, Digest: obj.Digest, CRC32C: obj.CRC32C, Ref: obj.Ref, Meta: u.Meta,
	})
	if err != nil {
		_ = l.objects.DeleteData(context.WithoutCancel(ctx), u.Project, obj.Ref)
		return store.File{}, nil, channelErr(err, u.Project, u.Channel)
	}
	if prev != nil && prev.Ref != "" && prev.Ref != f.Ref {
		_ = l.objects.DeleteData(context.WithoutCancel(ctx), u.Project, prev.Ref)
	}
	return f, prev, nil
}

// channelErr names the channel in a not-found error from the store.
func channelErr(err error, project, channel string) error {
	if errs.Is(err, errs.NotFound) {
		return errs.Wrap(errs.NotFound, err, "project %s has no channel %q (create it with 'koya data channel create %s')", project, channel, channel)
	}
	return err
}

// Get returns a file's row.
func (l *Lake) Get(ctx context.Context, project, channel, p string) (store.File, error) {
	if err := ValidatePath(p); err != nil {
		return store.File{}, err
	}
	f, err := l.store.GetFile(ctx, project, channel, p)
	if errs.Is(err, errs.NotFound) {
		return f, errs.Wrap(errs.NotFound, err, "no file %s in channel %s", p, channel)
	}
	return f, err
}

// Open returns a file and a reader of its content.
func (l *Lake) Open(ctx context.Context, project, channel, p string) (store.File, *objects.DataReader, error) {
	f, err := l.Get(ctx, project, channel, p)
	if err != nil {
		return f, nil, err
	}
	rd, err := l.objects.OpenData(ctx, project, f.Ref)
	return f, rd, err
}

// Delete deletes a file's row, then its content.
func (l *Lake) Delete(ctx context.Context, project, channel, p string) (store.File, error) {
	if err := ValidatePath(p); err != nil {
		return store.File{}, err
	}
	f, err := l.store.DeleteFile(ctx, project, channel, p)
	if errs.Is(err, errs.NotFound) {
		return f, errs.Wrap(errs.NotFound, err, "no file %s in channel %s", p, channel)
	}
	if err != nil {
		return f, err
	}
	if err := l.objects.DeleteData(context.WithoutCancel(ctx), project, f.Ref); err != nil {
		return f, err
	}
	return f, nil
}

// SetMeta replaces a file's metadata; with expectVersion > 0 only if the
// file is still at that version (errs.Conflict otherwise).
func (l *Lake) SetMeta(ctx context.Context, project, channel, p string, meta json.RawMessage, expectVersion int64) (store.File, error) {
	if err := ValidatePath(p); err != nil {
		return store.File{}, err
	}
	meta, err := ValidateMeta(meta)
	if err != nil {
		return store.File{}, err
	}
	f, err := l.store.SetFileMeta(ctx, project, channel, p, meta, expectVersion)
	if errs.Is(err, errs.NotFound) {
		return f, errs.Wrap(errs.NotFound, err, "no file %s in channel %s", p, channel)
	}
	return f, err
}

// PatchMeta applies a JSON merge patch (RFC 7396) to a file's metadata.
// A concurrent change between reading and writing is retried, so that
// no update is lost; with expectVersion > 0 the file must be at that
// version (no retry: the caller asked for that one).
func (l *Lake) PatchMeta(ctx context.Context, project, channel, p string, patch json.RawMessage, expectVersion int64) (store.File, error) {
	var pv any
	if err := json.Unmarshal(patch, &pv); err != nil {
		return store.File{}, errs.At(errs.Invalid, "body", "a merge patch must be JSON: %v", err)
	}
	if _, ok := pv.(map[string]any); !ok {
		return store.File{}, errs.At(errs.Invalid, "body", "a metadata merge patch must be a JSON object")
	}
	for try := 0; ; try++ {
		f, err := l.Get(ctx, project, channel, p)
		if err != nil {
			return f, err
		}
		if expectVersion > 0 && f.Version != expectVersion {
			return f, errs.E(errs.Conflict, "file %s is at version %d, not %d", p, f.Version, expectVersion)
		}
		var cur any
		if err := json.Unmarshal(f.Meta, &cur); err != nil {
			return f, errs.Wrap(errs.Internal, err, "stored metadata of %s", p)
		}
		merged, err := json.Marshal(MergePatch(cur, pv))
		if err != nil {
			return f, errs.Wrap(errs.Internal, err, "encode metadata")
		}
		out, err := l.SetMeta(ctx, project, channel, p, merged, f.Version)
		if errs.Is(err, errs.Conflict) && expectVersion == 0 && try < 10 {
			continue
		}
		return out, err
	}
}

// MergePatch applies the JSON merge patch patch to target (RFC 7396);
// both are values as encoding/json decodes them into any.
func MergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	out := make(map[string]any, len(tm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = MergePatch(out[k], v)
	}
	return out
}
