package server

import (
	"context"

	"github.com/koya-dev/koya/internal/keys"
	"github.com/koya-dev/koya/internal/store"
)

// KeysetStore keeps the keyring's wrapped project keysets in the store.
func KeysetStore(st store.Store) keys.KeysetStore { return keysetStore{st} }

type keysetStore struct{ st store.Store }

func (k keysetStore) GetKeyset(ctx context.Context, project string) (keys.Stored, error) {
	ks, err := k.st.GetKeyset(ctx, project)
	if err != nil {
		return keys.Stored{}, err
	}
	return keys.Stored{Version: ks.Version, KEK: ks.KEK, Wrapped: ks.Wrapped}, nil
}

func (k keysetStore) PutKeyset(ctx context.Context, project string, s keys.Stored, expectVersion int64) error {
	return k.st.PutKeyset(ctx, store.Keyset{Project: project, KEK: s.KEK, Wrapped: s.Wrapped}, expectVersion)
}
