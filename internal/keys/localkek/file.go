package localkek

import (
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/koya-dev/koya/errs"
)

// readKey reads the key file, checking its mode before trusting its content.
func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.Wrap(errs.NotFound, err, "key-encryption key file %s does not exist", path)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "key-encryption key file %s: %v", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "key-encryption key file %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errs.E(errs.Invalid, "key-encryption key file %s is not a regular file (mode %v)", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, errs.E(errs.Invalid, "key-encryption key file %s has mode %04o: it must not be accessible to group or others; run chmod 600 %s, and replace the key if others could have read it", path, perm, path)
	}
	key, err := io.ReadAll(io.LimitReader(f, keySize+1))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "key-encryption key file %s: %v", path, err)
	}
	if len(key) != keySize {
		return nil, errs.E(errs.Invalid, "key-encryption key file %s holds %d bytes; want exactly %d random bytes", path, len(key), keySize)
	}
	return key, nil
}

// create writes a new random key to path, unless another process creates it
// first: the key is written and synced under a temporary name, then linked
// into place, which fails if path exists, so no reader ever sees a partial
// key and two first starts cannot end with two keys.
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.Wrap(errs.Invalid, err, "creating the directory of key-encryption key file %s: %v", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "creating key-encryption key file %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		tmp.Close()
		return errs.Wrap(errs.Internal, err, "creating key-encryption key file %s: reading randomness", path)
	}
	// CreateTemp makes the file 0600; Chmod makes it so whatever the umask.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(key)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return errs.Wrap(errs.Invalid, err, "creating key-encryption key file %s: %v", path, err)
	}
	return syncDir(dir)
}

// syncDir makes the new directory entry durable: losing the key file after
// keysets were wrapped with it would lose every project's data.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "syncing %s: %v", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return errs.Wrap(errs.Invalid, err, "syncing %s: %v", dir, err)
	}
	return nil
}
