package keys

import (
	"context"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/koya-dev/koya/errs"
)

// Rotate adds a new key to the project's keysets and makes it primary: new
// data is encrypted with it, and data under older enabled keys still
// decrypts. A project without keys gets its first. It returns the new key id.
func (k *Keyring) Rotate(ctx context.Context, project string) (uint32, error) {
	if err := checkProject(project); err != nil {
		return 0, err
	}
	p, err := k.mutate(ctx, project, func(cur *projectKeys) (*projectKeys, error) {
		if cur == nil {
			return newProjectKeys(k.now(), k.segment)
		}
		next, _, err := cur.withNewKey(k.now(), k.segment)
		return next, err
	})
	if err != nil {
		return 0, err
	}
	return p.primary, nil
}

// ListKeys describes the project's keys in creation order, as currently
// stored (not as cached).
func (k *Keyring) ListKeys(ctx context.Context, project string) ([]KeyInfo, error) {
	if err := checkProject(project); err != nil {
		return nil, err
	}
	p, err := k.reload(ctx, project)
	if err != nil {
		return nil, err
	}
	return p.infos(), nil
}

// Disable makes data under key id unreadable until Enable: reads fail with
// ErrKeyDisabled and are counted by DisabledKeyFailures. The primary key
// cannot be disabled (errs.Conflict): Rotate first, then move the data.
func (k *Keyring) Disable(ctx context.Context, project string, id uint32) error {
	return k.setStatus(ctx, project, id, false)
}

// Enable undoes Disable.
func (k *Keyring) Enable(ctx context.Context, project string, id uint32) error {
	return k.setStatus(ctx, project, id, true)
}

func (k *Keyring) setStatus(ctx context.Context, project string, id uint32, enable bool) error {
	if err := checkProject(project); err != nil {
		return err
	}
	want := keyset.Disabled
	if enable {
		want = keyset.Enabled
	}
	_, err := k.mutate(ctx, project, func(cur *projectKeys) (*projectKeys, error) {
		if cur == nil {
			return nil, errs.E(errs.NotFound, "project %q has no keys", project)
		}
		st, ok := cur.status[id]
		switch {
		case !ok:
			return nil, errs.E(errs.NotFound, "project %q has no key %d", project, id)
		case st == want:
			return nil, nil
		case !enable && id == cur.primary:
			return nil, errs.E(errs.Conflict, "key %d is the primary key of project %q; rotate and re-encrypt first", id, project)
		}
		return cur.withStatus(id, enable)
	})
	return err
}

func checkProject(project string) error {
	if project == "" {
		return errs.E(errs.Invalid, "keys: project is empty")
	}
	if len(project) > maxNameLen {
		return errs.E(errs.Invalid, "keys: project is longer than %d bytes", maxNameLen)
	}
	return nil
}
