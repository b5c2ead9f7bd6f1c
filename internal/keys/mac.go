package keys

import (
	"context"

	"github.com/koya-dev/koya/errs"
)

// labelMAC keeps MAC inputs apart from every associated data encoding.
const labelMAC = "koya/mac/v1"

// macSize is the length of a MAC: all of HMAC-SHA256.
const macSize = 32

// MAC returns a keyed digest of data for one project and kind: HMAC-SHA256
// (a tink PRF keyset) under the project's naming key, over project, kind
// and data. Equal inputs give equal MACs, so it can name content-addressed
// objects; without the key nobody can compute one, so such a name does not
// let someone with access to the storage confirm a guess at the content.
//
// The naming key is made with the project's first key (or on the first MAC
// of keys stored before it existed), wrapped by the KEK beside the other
// keysets, and never rotated: Rotate, Disable and Enable leave it alone,
// because a new naming key would rename every object named with it.
func (k *Keyring) MAC(ctx context.Context, project, kind string, data []byte) ([]byte, error) {
	if err := checkProject(project); err != nil {
		return nil, err
	}
	if kind == "" || len(kind) > maxNameLen {
		return nil, errs.E(errs.Invalid, "keys: kind is empty or longer than %d bytes", maxNameLen)
	}
	p, err := k.keysFor(ctx, project, true)
	if err != nil {
		return nil, err
	}
	if p.prf == nil {
		p, err = k.mutate(ctx, project, func(cur *projectKeys) (*projectKeys, error) {
			switch {
			case cur == nil:
				return newProjectKeys(k.now(), k.segment)
			case cur.prf != nil:
				return nil, nil // added meanwhile
			}
			return cur.withNamingKey()
		})
		if err != nil {
			return nil, err
		}
	}
	out, err := p.prf.ComputePrimaryPRF(frame(labelMAC, project, kind, string(data)), macSize)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: computing a MAC")
	}
	return out, nil
}
