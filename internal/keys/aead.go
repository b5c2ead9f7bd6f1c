package keys

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/koya-dev/koya/errs"
)

// ErrKeyDisabled is the cause of an errs.Forbidden error for data under a
// disabled key; test for it with errors.Is.
var ErrKeyDisabled = errors.New("key disabled")

// prefixLen is the length of the key-id prefix of ciphertexts and streams:
// a format byte and a big-endian key id, as in tink's TINK output prefix.
const (
	prefixLen    = 5
	prefixFormat = 0x01
)

// KeyIDOf returns the id of the key that encrypted an AEAD ciphertext, or of
// a stream given at least its first 5 bytes. It does not authenticate: use
// it to find data to re-encrypt, not to trust it.
func KeyIDOf(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < prefixLen || ciphertext[0] != prefixFormat {
		return 0, errs.E(errs.Invalid, "keys: not a koya ciphertext")
	}
	return binary.BigEndian.Uint32(ciphertext[1:prefixLen]), nil
}

func keyPrefix(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixFormat}, id)
}

// Encrypt encrypts plaintext for one object with the project's primary key,
// creating the project's keys on first use.
func (k *Keyring) Encrypt(ctx context.Context, project, kind, objectID string, plaintext []byte) ([]byte, error) {
	if err := checkNames(project, kind, objectID); err != nil {
		return nil, err
	}
	p, err := k.keysFor(ctx, project, true)
	if err != nil {
		return nil, err
	}
	ct, err := p.aead.Encrypt(plaintext, dataAD("aead", project, kind, objectID))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: encrypting")
	}
	return ct, nil
}

// Decrypt returns the plaintext of a ciphertext made by Encrypt with the same
// project, kind and object id. Anything else fails with errs.Forbidden; data
// under a disabled key with a cause of ErrKeyDisabled.
func (k *Keyring) Decrypt(ctx context.Context, project, kind, objectID string, ciphertext []byte) ([]byte, error) {
	if err := checkNames(project, kind, objectID); err != nil {
		return nil, err
	}
	id, err := KeyIDOf(ciphertext)
	if err != nil {
		return nil, notAuthentic(project, kind, objectID, err)
	}
	p, err := k.keysForRead(ctx, project, id)
	if err != nil {
		return nil, err
	}
	pt, err := p.aead.Decrypt(ciphertext, dataAD("aead", project, kind, objectID))
	if err != nil {
		return nil, notAuthentic(project, kind, objectID, err)
	}
	return pt, nil
}

// Reencrypt moves a ciphertext to the project's primary key, for the job
// that empties a key before it is disabled.
func (k *Keyring) Reencrypt(ctx context.Context, project, kind, objectID string, ciphertext []byte) ([]byte, error) {
	pt, err := k.Decrypt(ctx, project, kind, objectID, ciphertext)
	if err != nil {
		return nil, err
	}
	return k.Encrypt(ctx, project, kind, objectID, pt)
}

// keysForRead returns project keys that hold key id enabled, rereading them
// once if id is unknown here (another server may have rotated).
func (k *Keyring) keysForRead(ctx context.Context, project string, id uint32) (*projectKeys, error) {
	p, err := k.keysFor(ctx, project, false)
	if err != nil {
		return nil, err
	}
	if _, ok := p.status[id]; !ok {
		if p, err = k.reload(ctx, project); err != nil {
			return nil, err
		}
	}
	switch st, ok := p.status[id]; {
	case !ok:
		return nil, errs.E(errs.Forbidden, "data was not encrypted by any key of project %q", project)
	case st == keyset.Disabled:
		k.disabledUse.Add(1)
		return nil, errs.Wrap(errs.Forbidden, ErrKeyDisabled, "data is encrypted under key %d of project %q, which is disabled; enable it to read the data", id, project)
	case st != keyset.Enabled:
		return nil, errs.E(errs.Forbidden, "data is encrypted under key %d of project %q, which is %s", id, project, st)
	}
	return p, nil
}

func notAuthentic(project, kind, objectID string, cause error) error {
	return errs.Wrap(errs.Forbidden, cause, "data does not authenticate as %s %q of project %q", kind, objectID, project)
}
