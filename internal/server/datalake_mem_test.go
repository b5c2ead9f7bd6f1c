package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/mock"
	"github.com/koya-dev/koya/internal/engine"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
	"github.com/koya-dev/koya/internal/objects"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/storeopen"
)

// genReader generates n bytes without memory, sampling the heap as it goes.
type genReader struct {
	n, i   int64
	sample func()
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.i >= g.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), g.n-g.i)
	for j := range p[:k] {
		x := uint64(g.i) + uint64(j)
		p[j] = byte(x*2654435761>>13) ^ byte(x>>12)
	}
	if g.sample != nil && g.i/(4<<20) != (g.i+k)/(4<<20) {
		g.sample()
	}
	g.i += k
	return int(k), nil
}

// TestDataUploadMemoryFlat: 64 MiB go up through the API and back down
// (a directory bucket, encryption on) while the heap grows by less than
// half the file: what the copy pipelines hold (pipecopy: up to 8 MiB per
// copy, upload and download) and garbage not yet collected, about 15 MiB.
func TestDataUploadMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB upload")
	}
	const size = 64 << 20
	e := dataEnv(t)
	cl := client.New(e.http.URL, e.tokP)
	ctx := context.Background()
	if _, err := cl.PutFile(ctx, "p", "raw", "warm", &genReader{n: 1 << 20}, client.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	f, err := cl.PutFile(ctx, "p", "raw", "big.bin", &genReader{n: size, sample: sample}, client.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := cl.GetFile(ctx, "p", "raw", "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := rd.Read(buf)
		h.Write(buf[:k])
		if n/(4<<20) != (n+int64(k))/(4<<20) {
			sample()
		}
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sample()
	if n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != f.Digest {
		t.Fatalf("read back %d bytes, digest mismatch", n)
	}
	if grew := int64(peak) - int64(base); grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB moving 64 MiB; something buffers the file", grew>>20)
	}
	t.Logf("heap in use grew by at most %d KiB", (int64(peak)-int64(base))>>10)
}

// BenchmarkDataUpload and BenchmarkDataDownload: a 1 GiB-class file
// through the API, encrypted, to a directory bucket (KOYA_BENCH_MIB sets
// the size, default 256 MiB; bench/datalake_io.sh runs 1 GiB through a
// real koya server).
func BenchmarkDataUpload(b *testing.B) {
	cl, size := benchServer(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := cl.PutFile(context.Background(), "p", "raw", "bench.bin", &genReader{n: size}, client.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDataDownload(b *testing.B) {
	cl, size := benchServer(b)
	if _, err := cl.PutFile(context.Background(), "p", "raw", "bench.bin", &genReader{n: size}, client.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	buf := make([]byte, 256<<10)
	b.ResetTimer()
	for b.Loop() {
		rd, err := cl.GetFile(context.Background(), "p", "raw", "bench.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, rd, buf)
		rd.Close()
		if err != nil || n != size {
			b.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// benchServer is a server over SQLite and a directory bucket, with
// channel raw in project p, and a client of it.
func benchServer(b *testing.B) (*client.Client, int64) {
	size := int64(256) << 20
	if v, err := strconv.ParseInt(os.Getenv("KOYA_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	ctx := context.Background()
	dir := b.TempDir()
	st, err := storeopen.Open(ctx, filepath.Join(dir, "koya.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	reg := backend.NewRegistry(nil)
	drv := mock.New()
	b.Cleanup(drv.Close)
	if _, err := reg.Add(drv); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kek, err := localkek.Open(filepath.Join(dir, "kek"))
	if err != nil {
		b.Fatal(err)
	}
	keyring := keys.NewKeyring(kek, KeysetStore(st), keys.Options{})
	eng, err := engine.New(engine.Config{Store: st, Backends: reg, DefaultBackend: mock.Name, ServerURL: "http://127.0.0.1:1", Logger: log, Unseal: Unsealer(keyring)})
	if err != nil {
		b.Fatal(err)
	}
	objs, err := objects.Open(ctx, "file://"+filepath.Join(dir, "objects"), keyring)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { objs.Close() })
	srv, err := New(Config{Store: st, Objects: objs, Engine: eng, Keys: keyring, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	if err := st.PutProject(ctx, v1.Project{Metadata: v1.ObjectMeta{Name: "p"}}); err != nil {
		b.Fatal(err)
	}
	if err := st.PutPrincipal(ctx, store.Principal{Name: "admin", Kind: store.KindUser, Admin: true}); err != nil {
		b.Fatal(err)
	}
	secret := "secret-bench"
	if err := st.CreateToken(ctx, store.Token{ID: "t", Subject: "admin", Hash: store.HashSecret(secret), CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	cl := client.New(hs.URL, secret)
	if _, err := cl.PutChannel(ctx, "p", "raw", ""); err != nil {
		b.Fatal(err)
	}
	return cl, size
}
