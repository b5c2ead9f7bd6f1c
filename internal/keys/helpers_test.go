package keys_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/keys/localkek"
)

var ctx = context.Background()

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKEK(t *testing.T) keys.KEK {
	t.Helper()
	k, err := localkek.Open(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countingKEK counts calls and can be made to fail, to see what reaches the
// KEK (which may be a remote vault) and how its failures surface.
type countingKEK struct {
	keys.KEK
	calls atomic.Int64
	fail  atomic.Pointer[error]
}

func (c *countingKEK) Encrypt(ctx context.Context, pt, ad []byte) ([]byte, error) {
	c.calls.Add(1)
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	return c.KEK.Encrypt(ctx, pt, ad)
}

func (c *countingKEK) Decrypt(ctx context.Context, ct, ad []byte) ([]byte, error) {
	c.calls.Add(1)
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	return c.KEK.Decrypt(ctx, ct, ad)
}

func encrypt(t *testing.T, r *keys.Keyring, project, kind, obj string, pt []byte) []byte {
	t.Helper()
	ct, err := r.Encrypt(ctx, project, kind, obj, pt)
	if err != nil {
		t.Fatalf("Encrypt(%s, %s, %s): %v", project, kind, obj, err)
	}
	return ct
}

func mustDecrypt(t *testing.T, r *keys.Keyring, project, kind, obj string, ct, want []byte) {
	t.Helper()
	got, err := r.Decrypt(ctx, project, kind, obj, ct)
	if err != nil {
		t.Fatalf("Decrypt(%s, %s, %s): %v", project, kind, obj, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Decrypt(%s, %s, %s) = %.40q, want %.40q", project, kind, obj, got, want)
	}
}

// wantCode checks err carries code c.
func wantCode(t *testing.T, err error, c errs.Code, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, c)
	}
	if !errs.Is(err, c) {
		t.Fatalf("%s: error %q has code %q, want %q", what, err, errs.CodeOf(err), c)
	}
}

func keyID(t *testing.T, ct []byte) uint32 {
	t.Helper()
	id, err := keys.KeyIDOf(ct)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func listKeys(t *testing.T, r *keys.Keyring, project string) []keys.KeyInfo {
	t.Helper()
	ks, err := r.ListKeys(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}
