package keys

import (
	"context"
	"fmt"

	"github.com/koya-dev/koya/errs"
)

// KEK is the driver interface of a key-encryption-key provider. It is kept
// small so that a provider (a local file, Vault/OpenBao transit, a cloud KMS)
// is a thin adapter; everything else lives in Keyring.
//
// Contract, checked by the kektest suite: Decrypt(Encrypt(p, ad), ad) == p;
// any other associated data, a modified ciphertext or another provider's key
// fails with errs.Forbidden; an unreachable provider fails with
// errs.Unavailable; every error carries an errs code; safe for concurrent use.
type KEK interface {
	// Name identifies the provider and key in logs and error causes, never
	// in messages shown to users (for example "local:/root/.koya/kek").
	Name() string
	Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
}

// kekAEAD adapts a KEK to tink's keyset writer and reader for one call. tink
// flattens the KEK's error into a string, so the adapter keeps the original
// to give callers its errs code.
type kekAEAD struct {
	kek KEK
	err error
}

func (a *kekAEAD) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	ct, err := a.kek.Encrypt(ctx, plaintext, associatedData)
	if err != nil {
		a.err = err
	}
	return ct, err
}

func (a *kekAEAD) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := a.kek.Decrypt(ctx, ciphertext, associatedData)
	if err != nil {
		a.err = err
	}
	return pt, err
}

// kekError turns a failure of a KEK call into the error a Keyring caller
// sees: an unreachable KEK stays Unavailable (retrying may help); anything
// else means the keyset cannot be unwrapped with this KEK, which only an
// operator can fix, so it is Internal and the detail stays in the cause.
func kekError(kek KEK, project string, err error) error {
	err = fmt.Errorf("KEK %s: %w", kek.Name(), err)
	if errs.Is(err, errs.Unavailable) {
		return errs.Wrap(errs.Unavailable, err, "key-encryption key provider unavailable")
	}
	return errs.Wrap(errs.Internal, err, "keys of project %q cannot be unwrapped by the configured key-encryption key", project)
}
