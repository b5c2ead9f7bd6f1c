// Package localkek is the key-encryption-key provider for a single machine:
// a 32-byte AES-256-GCM key in a file that only its owner can read, created
// on first use. It exists so koya encrypts at rest with no external service;
// the file must live outside the data directory, or a copy of the data
// carries its own key.
package localkek

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"os"
	"path/filepath"

	"github.com/koya-dev/koya/errs"
)

// keySize is AES-256's.
const keySize = 32

// Ciphertext layout: a format byte, the GCM nonce, then ciphertext and tag.
const (
	format   = 0x01
	overhead = 1 + 12 + 16
)

// KEK encrypts with the key of one file. It implements keys.KEK.
type KEK struct {
	path string
	aead cipher.AEAD
}

// DefaultPath is $KOYA_KEK_FILE, else ~/.koya/kek: in the operator's home,
// away from the data directory.
func DefaultPath() (string, error) {
	if p := os.Getenv("KOYA_KEK_FILE"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "no home directory for the key-encryption key file; set KOYA_KEK_FILE")
	}
	return filepath.Join(home, ".koya", "kek"), nil
}

// Open returns the KEK kept in the file at path, creating the file (mode
// 0600, its directory 0700) with a fresh random key if it does not exist.
// A file readable by group or others is refused: the key it holds must be
// considered leaked.
func Open(path string) (*KEK, error) {
	if path == "" {
		return nil, errs.E(errs.Invalid, "key-encryption key file: no path given")
	}
	key, err := readKey(path)
	if errs.Is(err, errs.NotFound) {
		if err = create(path); err == nil {
			key, err = readKey(path)
		}
	}
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "key-encryption key file %s: %v", path, err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "key-encryption key file %s: %v", path, err)
	}
	return &KEK{path: path, aead: a}, nil
}

// Name implements keys.KEK.
func (k *KEK) Name() string { return "local:" + k.path }

// Encrypt implements keys.KEK.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "local KEK: %v", err)
	}
	out := make([]byte, 1+k.aead.NonceSize(), overhead+len(plaintext))
	out[0] = format
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "local KEK: reading randomness")
	}
	return k.aead.Seal(out, out[1:], plaintext, associatedData), nil
}

// Decrypt implements keys.KEK.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "local KEK: %v", err)
	}
	if len(ciphertext) < overhead || ciphertext[0] != format {
		return nil, errs.E(errs.Forbidden, "local KEK: ciphertext is not authentic")
	}
	n := 1 + k.aead.NonceSize()
	pt, err := k.aead.Open(nil, ciphertext[1:n], ciphertext[n:], associatedData)
	if err != nil {
		return nil, errs.Wrap(errs.Forbidden, err, "local KEK: ciphertext is not authentic")
	}
	return pt, nil
}
