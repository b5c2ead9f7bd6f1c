package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/koya-dev/koya/errs"
)

// wrappedFormat is the version of the layout below; a reader refuses others
// rather than guess.
const wrappedFormat = 1

// wrapped is the layout of Stored.Wrapped: tink EncryptedKeyset messages
// (ciphertext plus tink's clear KeysetInfo: ids, types, statuses) and the
// key metadata, which is bound into every keyset's associated data. PRF,
// the naming key of MAC, is absent from keys stored before it existed.
type wrapped struct {
	Format int    `json:"format"`
	Meta   []byte `json:"meta"`
	AEAD   []byte `json:"aead"`
	Stream []byte `json:"stream"`
	PRF    []byte `json:"prf,omitempty"`
}

// keysetAD binds a wrapped keyset to its project, to which of the three
// keysets it is, and to the metadata stored beside it.
func keysetAD(project, which string, meta []byte) []byte {
	return frame(labelKeyset, project, which, string(meta))
}

// wrap encrypts p's keysets with kek for project.
func (p *projectKeys) wrap(ctx context.Context, kek KEK, project string) ([]byte, error) {
	meta, err := json.Marshal(p.meta)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: encoding key metadata")
	}
	w := wrapped{Format: wrappedFormat, Meta: meta}
	for _, k := range []struct {
		which string
		h     *keyset.Handle
		dst   *[]byte
	}{{"aead", p.aeadH, &w.AEAD}, {"stream", p.streamH, &w.Stream}, {"prf", p.prfH, &w.PRF}} {
		if k.h == nil {
			continue // no naming key yet
		}
		var buf bytes.Buffer
		a := &kekAEAD{kek: kek}
		if err := k.h.WriteWithContext(ctx, keyset.NewBinaryWriter(&buf), a, keysetAD(project, k.which, meta)); err != nil {
			if a.err != nil {
				return nil, kekError(kek, project, a.err)
			}
			return nil, errs.Wrap(errs.Internal, err, "keys: wrapping the %s keyset of project %q", k.which, project)
		}
		*k.dst = buf.Bytes()
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: encoding wrapped keysets")
	}
	return b, nil
}

// unwrap is the inverse of wrap. Any edit of b, or b taken from another
// project, fails here.
func unwrap(ctx context.Context, kek KEK, project string, st Stored) (*projectKeys, error) {
	var w wrapped
	if err := json.Unmarshal(st.Wrapped, &w); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys of project %q are corrupt", project)
	}
	if w.Format != wrappedFormat {
		return nil, errs.E(errs.Internal, "keys of project %q are in format %d; this server reads format %d", project, w.Format, wrappedFormat)
	}
	var handles [3]*keyset.Handle
	for i, k := range []struct {
		which string
		b     []byte
	}{{"aead", w.AEAD}, {"stream", w.Stream}, {"prf", w.PRF}} {
		if k.which == "prf" && len(k.b) == 0 {
			continue // stored before the naming key existed
		}
		a := &kekAEAD{kek: kek}
		h, err := keyset.ReadWithContext(ctx, keyset.NewBinaryReader(bytes.NewReader(k.b)), a, keysetAD(project, k.which, w.Meta))
		if err != nil {
			if a.err != nil {
				if st.KEK != "" && st.KEK != kek.Name() {
					a.err = fmt.Errorf("keys were wrapped by KEK %s: %w", st.KEK, a.err)
				}
				return nil, kekError(kek, project, a.err)
			}
			return nil, errs.Wrap(errs.Internal, err, "keys of project %q: %s keyset is corrupt", project, k.which)
		}
		handles[i] = h
	}
	var meta []keyMeta
	if err := json.Unmarshal(w.Meta, &meta); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys of project %q: metadata is corrupt", project)
	}
	p, err := fromHandles(handles[0], handles[1], meta, handles[2])
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys of project %q are inconsistent", project)
	}
	p.version = st.Version
	return p, nil
}
