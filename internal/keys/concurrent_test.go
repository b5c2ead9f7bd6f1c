package keys_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/keys"
)

// TestConcurrent: for two seconds, two servers sharing a store encrypt,
// decrypt, stream and rotate keys of a few projects from many goroutines;
// every decryption of what was encrypted must succeed and round-trip.
func TestConcurrent(t *testing.T) {
	kek, store := newKEK(t), &keys.MemStore{}
	servers := []*keys.Keyring{
		keys.NewKeyring(kek, store, keys.Options{}),
		keys.NewKeyring(kek, store, keys.Options{}),
	}
	projects := []string{"p0", "p1", "p2"}
	for _, p := range projects {
		// Each project has its first key before the rotations start, so
		// that each rotation adds exactly one key.
		encrypt(t, servers[0], p, "k", "o", nil)
	}
	deadline := time.Now().Add(2 * time.Second)
	var ops, rotations atomic.Int64
	var wg sync.WaitGroup

	for w := range 12 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				p := projects[(w+i)%len(projects)]
				obj := fmt.Sprintf("w%d-%d", w, i)
				pt := fmt.Appendf(nil, "value of %s in %s", obj, p)
				// Written by one server, read by the other.
				wr, rd := servers[i%2], servers[(i+1)%2]
				if i%5 == 0 {
					var buf bytes.Buffer
					enc, err := wr.NewEncryptingWriter(ctx, p, "file", obj, &buf)
					if err == nil {
						_, err = enc.Write(bytes.Repeat(pt, 200))
					}
					if err == nil {
						err = enc.Close()
					}
					if err != nil {
						t.Errorf("stream encrypt: %v", err)
						return
					}
					got, err := decryptStream(rd, p, "file", obj, buf.Bytes())
					if err != nil || !bytes.Equal(got, bytes.Repeat(pt, 200)) {
						t.Errorf("stream %s/%s: %v", p, obj, err)
						return
					}
				} else {
					ct, err := wr.Encrypt(ctx, p, "secret", obj, pt)
					if err != nil {
						t.Errorf("encrypt: %v", err)
						return
					}
					got, err := rd.Decrypt(ctx, p, "secret", obj, ct)
					if err != nil || !bytes.Equal(got, pt) {
						t.Errorf("decrypt %s/%s: %q, %v", p, obj, got, err)
						return
					}
				}
				ops.Add(1)
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if _, err := servers[w].Rotate(ctx, projects[i%len(projects)]); err != nil {
					t.Errorf("rotate: %v", err)
					return
				}
				rotations.Add(1)
				time.Sleep(25 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if ops.Load() < 100 || rotations.Load() < 10 {
		t.Errorf("only %d operations and %d rotations ran", ops.Load(), rotations.Load())
	}
	var keyCount int
	for _, p := range projects {
		keyCount += len(listKeys(t, servers[0], p))
	}
	// Every rotation added exactly one key: none was lost to a race.
	if want := int(rotations.Load()) + len(projects); keyCount != want {
		t.Errorf("%d keys after %d rotations of %d projects, want %d", keyCount, rotations.Load(), len(projects), want)
	}
	t.Logf("%d operations, %d rotations", ops.Load(), rotations.Load())
}
