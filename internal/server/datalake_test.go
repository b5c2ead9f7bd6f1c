package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

const pData = "/api/v1/projects/p"

// dataEnv is an env with files in a directory bucket and channel raw in p.
func dataEnv(t *testing.T) *env { return dataEnvConfig(t, nil) }

// dataEnvConfig is dataEnv with the server's config changed by change.
func dataEnvConfig(t *testing.T, change func(*Config)) *env {
	dir := t.TempDir()
	e := newEnvConfig(t, filepath.Join(dir, "koya.db"), "file://"+filepath.Join(dir, "objects"), change)
	decode[client.Channel](t, e.do("PUT", pData+"/channels/raw", e.tokP, body(client.ChannelRequest{Description: "camera"})), 200)
	return e
}

// objectsOf lists project p's datalake objects.
func (e *env) objectsOf(project string) []string {
	e.t.Helper()
	ls, err := e.srv.objects.ListData(context.Background(), project, "")
	if err != nil {
		e.t.Fatal(err)
	}
	var keys []string
	for _, o := range ls {
		keys = append(keys, o.Key)
	}
	return keys
}

func (e *env) putData(path, content, meta string) client.DataFile {
	e.t.Helper()
	h := []string{"Content-Type", "image/jpeg"}
	if meta != "" {
		h = append(h, client.MetaHeader, meta)
	}
	return decode[client.DataFile](e.t, e.do("PUT", pData+"/channels/raw/files/"+path, e.tokP, strings.NewReader(content), h...), 200)
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestDataFiles(t *testing.T) {
	e := dataEnv(t)
	f := e.putData("cam/img001.jpg", "jpeg bytes", `{"label":"cat","width":640}`)
	if f.Size != 10 || f.Digest != digestOf([]byte("jpeg bytes")) || f.Version != 1 || f.ContentType != "image/jpeg" || f.Channel != "raw" {
		t.Fatalf("put: %+v", f)
	}
	// Ciphertext only in the bucket, one object.
	if objs := e.objectsOf("p"); len(objs) != 1 {
		t.Fatalf("objects: %v", objs)
	}

	resp := e.do("GET", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "jpeg bytes" || resp.Header.Get("Content-Type") != "image/jpeg" ||
		resp.Header.Get("ETag") != `"`+f.Digest+`"` || resp.ContentLength != 10 {
		t.Fatalf("get: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if resp := e.do("GET", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil, "If-None-Match", `"`+f.Digest+`"`); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp = e.do("GET", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil, "Range", "bytes=5-")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 206 || string(b) != "bytes" || resp.Header.Get("Content-Range") != "bytes 5-9/10" {
		t.Errorf("range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if resp := e.do("HEAD", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil); resp.StatusCode != 200 || resp.ContentLength != 10 {
		t.Errorf("head: %d %d", resp.StatusCode, resp.ContentLength)
	}

	// Replace: version 2, the old object is gone.
	f2 := e.putData("cam/img001.jpg", "new jpeg", `{"label":"dog"}`)
	if f2.Version != 2 || f2.ID != f.ID {
		t.Fatalf("replace: %+v", f2)
	}
	if objs := e.objectsOf("p"); len(objs) != 1 {
		t.Fatalf("after replace, objects: %v", objs)
	}
	if used, _ := e.store.StorageUsed(context.Background(), "p"); used != 8 {
		t.Errorf("storage used %d, want 8", used)
	}

	// Metadata: get, merge patch (null deletes), put with a stale version.
	m := decode[client.DataFile](t, e.do("GET", pData+"/channels/raw/meta/cam/img001.jpg", e.tokP, nil), 200)
	if string(m.Meta) != `{"label":"dog"}` {
		t.Fatalf("meta: %s", m.Meta)
	}
	m = decode[client.DataFile](t, e.do("PATCH", pData+"/channels/raw/meta/cam/img001.jpg", e.tokP,
		strings.NewReader(`{"label":null,"tags":["night"],"camera":{"model":"x"}}`), "Content-Type", "application/merge-patch+json"), 200)
	var got map[string]any
	_ = json.Unmarshal(m.Meta, &got)
	if _, ok := got["label"]; ok || got["camera"].(map[string]any)["model"] != "x" || m.Version != 3 {
		t.Fatalf("patched: %s v%d", m.Meta, m.Version)
	}
	resp = e.do("PUT", pData+"/channels/raw/meta/cam/img001.jpg?version=2", e.tokP, strings.NewReader(`{"a":1}`))
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("stale version: %d", resp.StatusCode)
	}
	decode[client.DataFile](t, e.do("PUT", pData+"/channels/raw/meta/cam/img001.jpg?version=3", e.tokP, strings.NewReader(`{"a":1}`)), 200)

	// A channel with files cannot go; delete the file, then it can.
	if resp := e.do("DELETE", pData+"/channels/raw", e.tokP, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("delete a full channel: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if objs := e.objectsOf("p"); len(objs) != 0 {
		t.Fatalf("after delete, objects: %v", objs)
	}
	if resp := e.do("GET", pData+"/channels/raw/files/cam/img001.jpg", e.tokP, nil); resp.StatusCode != 404 {
		t.Errorf("get deleted: %d", resp.StatusCode)
	}
	if used, _ := e.store.StorageUsed(context.Background(), "p"); used != 0 {
		t.Errorf("storage used %d after delete", used)
	}
	if resp := e.do("DELETE", pData+"/channels/raw", e.tokP, nil); resp.StatusCode != 204 {
		t.Errorf("delete the empty channel: %d", resp.StatusCode)
	}
	// Upload to a missing channel: 404, nothing stored.
	resp = e.do("PUT", pData+"/channels/raw/files/x", e.tokP, strings.NewReader("x"))
	if resp.StatusCode != 404 || !strings.Contains(errorOf(t, resp).Message, "no channel") {
		t.Errorf("missing channel: %d", resp.StatusCode)
	}
}

func TestDataFindCount(t *testing.T) {
	e := dataEnv(t)
	for i, l := range []string{"cat", "dog", "cat", "cat", "bird"} {
		e.putData("img"+string(rune('a'+i))+".jpg", strings.Repeat("x", i+1), `{"label":"`+l+`","w":`+string(rune('0'+i))+`}`)
	}
	page := decode[client.DataFilePage](t, e.do("GET", pData+"/files?query=label+%3D+%22cat%22&limit=2&sort=path+desc", e.tokP, nil), 200)
	if len(page.Files) != 2 || page.Files[0].Path != "imgd.jpg" || page.Next == "" {
		t.Fatalf("page 1: %+v", page)
	}
	page = decode[client.DataFilePage](t, e.do("GET", pData+"/files?query=label+%3D+%22cat%22&limit=2&sort=path+desc&after="+page.Next, e.tokP, nil), 200)
	if len(page.Files) != 1 || page.Files[0].Path != "imga.jpg" || page.Next != "" {
		t.Fatalf("page 2: %+v", page)
	}
	counts := decode[[]client.DataCount](t, e.do("GET", pData+"/count?by=label", e.tokP, nil), 200)
	if len(counts) != 3 || counts[0].Value != "cat" || counts[0].Count != 3 {
		t.Fatalf("count by label: %+v", counts)
	}
	counts = decode[[]client.DataCount](t, e.do("GET", pData+"/count?query=w+%3E%3D+2", e.tokP, nil), 200)
	if len(counts) != 1 || counts[0].Count != 3 {
		t.Fatalf("count w >= 2: %+v", counts)
	}
	resp := e.do("GET", pData+"/files?query=label+%3D", e.tokP, nil)
	if er := errorOf(t, resp); resp.StatusCode != 400 || !strings.Contains(er.Error(), "query:1:") {
		t.Errorf("bad query: %d %v", resp.StatusCode, er)
	}
}

// TestDataTraversal: bad paths are refused with a clear error and nothing
// is stored: no row, no object.
func TestDataTraversal(t *testing.T) {
	e := dataEnv(t)
	// Paths as the Go client sends them (dots and slashes that are not
	// separators escaped), so that the handler sees them as given.
	for _, p := range []string{"%2E%2E/x", "%2Fetc%2Fpasswd", "a/%2E%2E/%2E%2E/b", "a%00b", `a%5Cb`, "a/%2E/b", "a/%2Fb", "a%0Ab",
		strings.Repeat("a", 300), strings.Repeat("abcdefg/", 140) + "x"} {
		resp := e.do("PUT", pData+"/channels/raw/files/"+p, e.tokP, strings.NewReader("secret"))
		if er := errorOf(t, resp); resp.StatusCode != 400 || er.Where != "path" {
			t.Errorf("%.40s: %d %v", p, resp.StatusCode, er)
		}
	}
	// Unescaped, the mux cleans the path first: the result stays in the
	// channel or misses the route.
	for _, p := range []string{"../x", "a/../../b", "../../../../q/channels/raw/files/y"} {
		if resp := e.do("PUT", pData+"/channels/raw/files/"+p, e.tokP, strings.NewReader("secret")); resp.StatusCode == 200 {
			t.Errorf("%s: stored", p)
		}
	}
	// Meta-data too big or malformed: 400 naming it.
	resp := e.do("PUT", pData+"/channels/raw/files/ok.txt", e.tokP, strings.NewReader("x"), client.MetaHeader, "{not json")
	if er := errorOf(t, resp); resp.StatusCode != 400 || er.Where != client.MetaHeader {
		t.Errorf("bad meta: %d %+v", resp.StatusCode, er)
	}
	resp = e.do("PUT", pData+"/channels/raw/files/ok.txt?meta="+`%5B1%5D`, e.tokP, strings.NewReader("x"))
	if resp.StatusCode != 400 {
		t.Errorf("meta not an object: %d", resp.StatusCode)
	}
	page, err := e.store.FindFiles(context.Background(), store.FileQuery{Project: "p"})
	if err != nil || len(page.Files) != 0 {
		t.Fatalf("files: %+v %v", page.Files, err)
	}
	if objs := e.objectsOf("p"); len(objs) != 0 {
		t.Fatalf("objects: %v", objs)
	}
}

// cutReader yields n bytes, then fails.
type cutReader struct{ n int }

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), c.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	c.n -= k
	return k, nil
}

// TestDataInterruptedUpload: a body that breaks mid-stream leaves no file
// and no object.
func TestDataInterruptedUpload(t *testing.T) {
	e := dataEnv(t)
	req, _ := http.NewRequest("PUT", e.http.URL+pData+"/channels/raw/files/big.bin", &cutReader{n: 3 << 20})
	req.Header.Set("Authorization", "Bearer "+e.tokP)
	if resp, err := e.http.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the cut upload answered %d", resp.StatusCode)
	}
	// The handler notices the cut body asynchronously.
	deadlineCheck(t, func() bool { return len(e.objectsOf("p")) == 0 }, "objects left")
	if _, err := e.store.GetFile(context.Background(), "p", "raw", "big.bin"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("file: %v", err)
	}
}

// TestDataUploadSession: chunks at the wrong offset get 409 with the right
// one; a cut chunk stores nothing and is resent; completing gives one
// stream whose digest is the whole file's.
func TestDataUploadSession(t *testing.T) {
	e := dataEnv(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB
	total := int64(len(content))
	s := decode[client.UploadSession](t, e.do("POST", pData+"/uploads", e.tokP,
		body(client.UploadRequest{Channel: "raw", Path: "big/file.bin", Meta: json.RawMessage(`{"k":1}`), Total: &total})), 201)
	chunk := func(off, n int64) *http.Response {
		return e.do("PATCH", pData+"/uploads/"+s.ID, e.tokP, bytes.NewReader(content[off:off+n]), client.OffsetHeader, itoa(off))
	}
	decode[client.UploadSession](t, chunk(0, 500_000), 200)
	// Wrong offset: 409 and the offset to use.
	resp := chunk(100, 1000)
	if resp.StatusCode != 409 || resp.Header.Get(client.OffsetHeader) != "500000" {
		t.Fatalf("wrong offset: %d %s", resp.StatusCode, resp.Header.Get(client.OffsetHeader))
	}
	// A cut chunk.
	req, _ := http.NewRequest("PATCH", e.http.URL+pData+"/uploads/"+s.ID+"?offset=500000", &cutReader{n: 300_000})
	req.Header.Set("Authorization", "Bearer "+e.tokP)
	if resp, err := e.http.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	// The cut chunk stored nothing: once its request is over (until then
	// the next chunk is refused as concurrent, and a client retries), the
	// chunk at 500,000 is accepted, and two parts are stored.
	deadlineCheck(t, func() bool {
		resp := chunk(500_000, 700_000)
		if resp.StatusCode == 409 && strings.Contains(errorOf(t, resp).Message, "another request is writing") {
			return false
		}
		decode[client.UploadSession](t, resp, 200)
		return true
	}, "the cut chunk's request never ended")
	if objs := e.objectsOf("p"); len(objs) != 3 {
		t.Fatalf("objects %v, want the state and two parts", objs)
	}
	// Completing early is refused.
	if resp := e.do("POST", pData+"/uploads/"+s.ID+"/complete", e.tokP, nil); resp.StatusCode != 409 {
		t.Fatalf("early complete: %d", resp.StatusCode)
	}
	decode[client.UploadSession](t, chunk(1_200_000, total-1_200_000), 200)
	f := decode[client.DataFile](t, e.do("POST", pData+"/uploads/"+s.ID+"/complete", e.tokP, nil), 200)
	if f.Size != total || f.Digest != digestOf(content) || string(f.Meta) != `{"k":1}` {
		t.Fatalf("completed: %+v", f)
	}
	resp = e.do("GET", pData+"/channels/raw/files/big/file.bin", e.tokP, nil)
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(b, content) || resp.ContentLength != total {
		t.Fatalf("download: %d bytes, length %d", len(b), resp.ContentLength)
	}
	// The CRC-32C of the whole file, kept across chunks.
	if got, want := resp.Header.Get(client.CRC32CHeader), fmt.Sprintf("%08x", crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli))); got != want {
		t.Fatalf("download's CRC-32C %q, want %q", got, want)
	}
	if resp := e.do("GET", pData+"/uploads/"+s.ID, e.tokP, nil); resp.StatusCode != 404 {
		t.Errorf("session after complete: %d", resp.StatusCode)
	}
	// Deleting the file deletes every part.
	if resp := e.do("DELETE", pData+"/channels/raw/files/big/file.bin", e.tokP, nil); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	if objs := e.objectsOf("p"); len(objs) != 0 {
		t.Fatalf("objects after delete: %v", objs)
	}
	// An aborted session leaves nothing.
	s = decode[client.UploadSession](t, e.do("POST", pData+"/uploads", e.tokP, body(client.UploadRequest{Channel: "raw", Path: "x"})), 201)
	decode[client.UploadSession](t, chunk(0, 10), 200)
	if resp := e.do("DELETE", pData+"/uploads/"+s.ID, e.tokP, nil); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	if objs := e.objectsOf("p"); len(objs) != 0 {
		t.Fatalf("objects after abort: %v", objs)
	}
}

// TestDataClientResume: the Go client resumes an upload through a session.
func TestDataClientResume(t *testing.T) {
	e := dataEnv(t)
	cl := client.New(e.http.URL, e.tokP)
	content := bytes.Repeat([]byte("resumable "), 50_000)
	ctx := context.Background()
	var id string
	var sent int64
	// The first try dies after its first chunk.
	failing := &failAt{r: bytes.NewReader(content), at: 200_000}
	_, err := cl.PutFileResumable(ctx, "p", "raw", "r.bin", failing, int64(len(content)), client.ResumableOptions{ChunkSize: 128 << 10,
		OnSession: func(s string) { id = s }, Retries: 1})
	if err == nil || id == "" {
		t.Fatalf("the first try: %v", err)
	}
	f, err := cl.PutFileResumable(ctx, "p", "raw", "r.bin", bytes.NewReader(content), int64(len(content)), client.ResumableOptions{ChunkSize: 128 << 10,
		Resume: id, PutOptions: client.PutOptions{Progress: func(n int64) { sent += n }}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Digest != digestOf(content) || sent != int64(len(content)) {
		t.Fatalf("resumed: %+v, progress %d", f, sent)
	}
	rd, err := cl.GetFile(ctx, "p", "raw", "r.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	b, _ := io.ReadAll(rd)
	if !bytes.Equal(b, content) || rd.Digest != f.Digest {
		t.Fatalf("download: %d bytes", len(b))
	}
}

// TestDataClientResumeFile: chunks of a local file go out from the file
// itself (sendfile), from any offset: a session begun by a failing
// reader is completed from the file, whole and with the whole digest.
func TestDataClientResumeFile(t *testing.T) {
	e := dataEnv(t)
	cl := client.New(e.http.URL, e.tokP)
	content := bytes.Repeat([]byte("from a file "), 60_000)
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var id string
	failing := &failAt{r: bytes.NewReader(content), at: 300_000}
	if _, err := cl.PutFileResumable(ctx, "p", "raw", "f.bin", failing, int64(len(content)), client.ResumableOptions{ChunkSize: 100_000,
		OnSession: func(s string) { id = s }, Retries: 1}); err == nil || id == "" {
		t.Fatalf("the first try: %v", err)
	}
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var sent int64
	f, err := cl.PutFileResumable(ctx, "p", "raw", "f.bin", fh, int64(len(content)), client.ResumableOptions{ChunkSize: 100_000,
		Resume: id, PutOptions: client.PutOptions{Progress: func(n int64) { sent += n }}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Digest != digestOf(content) || f.Size != int64(len(content)) || sent != int64(len(content)) {
		t.Fatalf("resumed: %+v, progress %d", f, sent)
	}
	if off, err := fh.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		t.Fatalf("the caller's file offset moved to %d (%v)", off, err)
	}
	// Without a chunk size, the whole file goes in one request.
	sent = 0
	g, err := cl.PutFileResumable(ctx, "p", "raw", "g.bin", fh, int64(len(content)), client.ResumableOptions{
		PutOptions: client.PutOptions{Progress: func(n int64) { sent += n }}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Digest != f.Digest || sent != int64(len(content)) {
		t.Fatalf("in one request: %+v, progress %d", g, sent)
	}
	rd, err := cl.GetFile(ctx, "p", "raw", "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if b, _ := io.ReadAll(rd); !bytes.Equal(b, content) {
		t.Fatalf("download: %d bytes differ", len(b))
	}
}

// TestDataClientResumeParts: a push in one request that is cut keeps the
// whole parts stored before the cut, and a cut after progress does not
// count against the retries: a file cut four times with one retry allowed
// goes up whole.
func TestDataClientResumeParts(t *testing.T) {
	e := dataEnvConfig(t, func(c *Config) { c.UploadPartBytes = 64 << 10 })
	cl := client.New(e.http.URL, e.tokP)
	content := bytes.Repeat([]byte("in parts "), 100_000) // 900 KB
	cuts := &cutsAt{r: bytes.NewReader(content), at: []int64{150_000, 300_000, 500_000, 700_000}}
	// The CRC given: read on the side, it would take the cuts.
	crc := fmt.Sprintf("%08x", crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli)))
	f, err := cl.PutFileResumable(context.Background(), "p", "raw", "parts.bin", cuts, int64(len(content)), client.ResumableOptions{Retries: 1, CRC32C: crc})
	if err != nil {
		t.Fatal(err)
	}
	if f.Digest != digestOf(content) || f.Size != int64(len(content)) || len(cuts.at) != 0 {
		t.Fatalf("pushed: %+v, cuts left %v", f, cuts.at)
	}
	if got := cuts.resent; got >= 4*64<<10 {
		t.Fatalf("resent %d bytes after four cuts: more than a part per cut", got)
	}
}

// cutsAt is a ReaderAt that cuts, once each, the first read reaching past
// each offset of at (in order): it returns the bytes up to the offset and
// an error. It counts the bytes read again.
type cutsAt struct {
	r      io.ReaderAt
	at     []int64
	high   int64 // the end of the furthest read
	resent int64
}

func (c *cutsAt) ReadAt(p []byte, off int64) (int, error) {
	var cut error
	if len(c.at) > 0 && off+int64(len(p)) > c.at[0] {
		p = p[:max(0, c.at[0]-off)]
		c.at = c.at[1:]
		cut = errors.New("network gone")
	}
	n, err := c.r.ReadAt(p, off)
	if cut != nil {
		err = cut
	}
	if end := off + int64(n); end > c.high {
		c.resent += max(0, c.high-off)
		c.high = end
	} else {
		c.resent += int64(n)
	}
	return n, err
}

// failAt is a ReaderAt that fails reads reaching past at.
type failAt struct {
	r  io.ReaderAt
	at int64
}

func (f *failAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, errors.New("disk gone")
	}
	return f.r.ReadAt(p, off)
}

// TestDataAccess: a viewer reads but cannot upload; another project's
// owner sees nothing.
func TestDataAccess(t *testing.T) {
	e := dataEnv(t)
	e.putData("a.txt", "hello", "")
	e.principal(store.Principal{Name: "vic", Kind: store.KindUser})
	e.principal(store.Principal{Name: "oscar", Kind: store.KindUser})
	e.member("p", "vic", v1.RoleViewer)
	e.member("q", "oscar", v1.RoleOwner)
	vic, oscar := e.token(store.Token{Subject: "vic"}), e.token(store.Token{Subject: "oscar"})
	if resp := e.do("GET", pData+"/channels/raw/files/a.txt", vic, nil); resp.StatusCode != 200 {
		t.Errorf("viewer read: %d", resp.StatusCode)
	}
	for _, r := range []struct{ method, path string }{
		{"PUT", "/channels/raw/files/b.txt"}, {"DELETE", "/channels/raw/files/a.txt"}, {"PATCH", "/channels/raw/meta/a.txt"},
		{"POST", "/uploads"}, {"PUT", "/channels/new"},
	} {
		if resp := e.do(r.method, pData+r.path, vic, strings.NewReader("{}")); resp.StatusCode != 403 {
			t.Errorf("viewer %s %s: %d", r.method, r.path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/channels/raw/files/a.txt", "/channels", "/files", "/count", "/channels/raw/meta/a.txt"} {
		if resp := e.do("GET", pData+path, oscar, nil); resp.StatusCode != 403 {
			t.Errorf("foreign owner GET %s: %d", path, resp.StatusCode)
		}
	}
	if _, err := e.store.GetFile(context.Background(), "p", "raw", "b.txt"); !errs.Is(err, errs.NotFound) {
		t.Errorf("the viewer's upload was stored: %v", err)
	}
}

// TestDataQuota: an upload beyond the project's storage quota is refused
// and leaves nothing.
func TestDataQuota(t *testing.T) {
	e := dataEnv(t)
	ctx := context.Background()
	p, _ := e.store.GetProject(ctx, "p")
	p.Spec.Quota = &v1.Quota{Storage: "1Ki"}
	if err := e.store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.putData("small", strings.Repeat("x", 600), "")
	resp := e.do("PUT", pData+"/channels/raw/files/big", e.tokP, strings.NewReader(strings.Repeat("x", 600)))
	if resp.StatusCode != http.StatusTooManyRequests || errorOf(t, resp).Code != errs.QuotaExceeded {
		t.Fatalf("over quota: %d", resp.StatusCode)
	}
	if objs := e.objectsOf("p"); len(objs) != 1 {
		t.Fatalf("objects: %v", objs)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// deadlineCheck waits up to 10 s for ok.
func deadlineCheck(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(what)
}

// TestDataUploadIdle: a chunk whose client stops sending (without closing
// its connection) ends after the idle time, freeing the session for the
// client's resume.
func TestDataUploadIdle(t *testing.T) {
	e := dataEnvConfig(t, func(c *Config) { c.UploadIdle = 300 * time.Millisecond })
	content := bytes.Repeat([]byte("stalled "), 50_000)
	total := int64(len(content))
	s := decode[client.UploadSession](t, e.do("POST", pData+"/uploads", e.tokP,
		body(client.UploadRequest{Channel: "raw", Path: "stalled.bin", Total: &total})), 201)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(content[:100_000]) }() // then nothing, and no close
	req, _ := http.NewRequest("PATCH", e.http.URL+pData+"/uploads/"+s.ID+"?offset=0", pr)
	req.Header.Set("Authorization", "Bearer "+e.tokP)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		if resp, err := e.http.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled chunk still holds its request after 10 s")
	}
	deadlineCheck(t, func() bool {
		resp := e.do("PATCH", pData+"/uploads/"+s.ID, e.tokP, bytes.NewReader(content), client.OffsetHeader, "0")
		if resp.StatusCode == 409 && strings.Contains(errorOf(t, resp).Message, "another request is writing") {
			return false
		}
		decode[client.UploadSession](t, resp, 200)
		return true
	}, "the stalled chunk's session stayed locked")
	f := decode[client.DataFile](t, e.do("POST", pData+"/uploads/"+s.ID+"/complete", e.tokP, nil), 200)
	if f.Digest != digestOf(content) {
		t.Fatalf("completed: %+v", f)
	}
}

// TestDataUploadCRC: the server stores nothing whose CRC-32C is not the
// one the client computed, whether it comes in a header, a trailer (the
// Go client's single PUT) or at the completion of a session; the right
// one, in any case, is taken.
func TestDataUploadCRC(t *testing.T) {
	e := dataEnv(t)
	content := bytes.Repeat([]byte("checked "), 20_000)
	crc := fmt.Sprintf("%08x", crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli)))
	put := func(name string, header, trailer string) *http.Response {
		t.Helper()
		var b io.Reader = bytes.NewReader(content)
		if trailer != "" {
			b = io.MultiReader(b) // no length: chunked, as a trailer needs
		}
		req, _ := http.NewRequest("PUT", e.http.URL+pData+"/channels/raw/files/"+name, b)
		req.Header.Set("Authorization", "Bearer "+e.tokP)
		if header != "" {
			req.Header.Set(client.CRC32CHeader, header)
		}
		if trailer != "" {
			req.Trailer = http.Header{client.CRC32CHeader: {trailer}}
		}
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct{ name, header, trailer string }{
		{"header.bin", "00000000", ""},
		{"trailer.bin", "", "00000000"},
		{"malformed.bin", "", "not a crc"},
	} {
		resp := put(tc.name, tc.header, tc.trailer)
		if msg := errorOf(t, resp).Message; resp.StatusCode != 400 || !strings.Contains(msg, "CRC-32C") {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, msg)
		}
	}
	if objs := e.objectsOf("p"); len(objs) != 0 {
		t.Fatalf("objects after refused uploads: %v", objs)
	}
	decode[client.DataFile](t, put("right.bin", strings.ToUpper(crc), ""), 200)
	decode[client.DataFile](t, put("right-trailer.bin", "", crc), 200)

	// A session completed with another CRC is dropped.
	cl := client.New(e.http.URL, e.tokP)
	ctx := context.Background()
	_, err := cl.PutFileResumable(ctx, "p", "raw", "session.bin", bytes.NewReader(content), int64(len(content)), client.ResumableOptions{CRC32C: "00000000"})
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "send the file again") {
		t.Fatalf("a session with another CRC: %v", err)
	}
	if _, err := cl.FileMeta(ctx, "p", "raw", "session.bin"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the file of a dropped session: %v", err)
	}
	// The Go client's own CRCs pass, one PUT and a session.
	if _, err := cl.PutFile(ctx, "p", "raw", "go.bin", bytes.NewReader(content), client.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutFileResumable(ctx, "p", "raw", "go-session.bin", bytes.NewReader(content), int64(len(content)), client.ResumableOptions{}); err != nil {
		t.Fatal(err)
	}
}
