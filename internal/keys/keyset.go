package keys

import (
	"fmt"
	"slices"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/koya-dev/koya/errs"
)

// keyMeta is what tink keysets do not record about a key.
type keyMeta struct {
	ID      uint32    `json:"id"`
	Created time.Time `json:"created"`
}

// projectKeys is one version of a project's keysets, unwrapped. It is
// immutable: a change builds a new one, so readers never lock.
type projectKeys struct {
	version int64
	meta    []keyMeta // in creation order
	aeadH   *keyset.Handle
	streamH *keyset.Handle
	primary uint32
	status  map[uint32]keyset.KeyStatus
	aead    tink.AEAD
	// streams holds one primitive per enabled key, so a stream is decrypted
	// by the key its header names rather than by trying every key, and
	// layouts the sizes of its streams (keys differ: see Segment1MiB).
	streams map[uint32]tink.StreamingAEAD
	layouts map[uint32]streamLayout
	// prfH is the naming key of MAC (nil in keys stored before it
	// existed; MAC adds it). It is outside the rotated keys: see MAC.
	prfH *keyset.Handle
	prf  *prf.Set
}

// aesGCMParams are those of tink's AES256_GCM template. They are spelled out
// because the AEAD key of a generation is created with a chosen id (that of
// its streaming sibling), which templates do not allow.
func aesGCMParams() (*aesgcm.Parameters, error) {
	return aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: 32,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantTink,
	})
}

// newProjectKeys creates keysets holding one key, whose streams have
// segments of segment bytes, and the naming key.
func newProjectKeys(now time.Time, segment int) (*projectKeys, error) {
	prfH, err := newNamingKey()
	if err != nil {
		return nil, err
	}
	next, _, err := addKey(keyset.NewManager(), keyset.NewManager(), nil, prfH, now, segment)
	return next, err
}

// withNewKey returns p with one more key, made primary; its streams have
// segments of segment bytes, whatever those of the older keys.
func (p *projectKeys) withNewKey(now time.Time, segment int) (*projectKeys, uint32, error) {
	return addKey(keyset.NewManagerFromHandle(p.aeadH), keyset.NewManagerFromHandle(p.streamH), p.meta, p.prfH, now, segment)
}

// withNamingKey returns p with a naming key, for keys stored before MAC
// existed.
func (p *projectKeys) withNamingKey() (*projectKeys, error) {
	prfH, err := newNamingKey()
	if err != nil {
		return nil, err
	}
	return fromHandles(p.aeadH, p.streamH, p.meta, prfH)
}

// newNamingKey makes the HMAC-SHA256 PRF keyset of MAC.
func newNamingKey() (*keyset.Handle, error) {
	h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: creating the naming key")
	}
	return h, nil
}

func addKey(am, sm *keyset.Manager, meta []keyMeta, prfH *keyset.Handle, now time.Time, segment int) (*projectKeys, uint32, error) {
	tmpl, err := streamTemplate(segment)
	if err != nil {
		return nil, 0, err
	}
	// The streaming manager picks an id unused in its keyset, which holds
	// the same ids as the AEAD keyset; the AEAD key is then made with it.
	id, err := sm.Add(tmpl)
	if err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: creating a streaming key")
	}
	params, err := aesGCMParams()
	if err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: AES-GCM parameters")
	}
	secret, err := secretdata.NewBytesFromRand(32)
	if err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: reading randomness")
	}
	k, err := aesgcm.NewKey(secret, id, params)
	if err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: creating an AEAD key")
	}
	if _, err := am.AddKey(k); err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: adding AEAD key %d", id)
	}
	if err := am.SetPrimary(id); err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: promoting AEAD key %d", id)
	}
	if err := sm.SetPrimary(id); err != nil {
		return nil, 0, errs.Wrap(errs.Internal, err, "keys: promoting streaming key %d", id)
	}
	meta = append(slices.Clip(meta), keyMeta{ID: id, Created: now.UTC()})
	next, err := buildKeys(am, sm, meta, prfH)
	return next, id, err
}

// withStatus returns p with key id enabled or disabled in both keysets.
func (p *projectKeys) withStatus(id uint32, enable bool) (*projectKeys, error) {
	am, sm := keyset.NewManagerFromHandle(p.aeadH), keyset.NewManagerFromHandle(p.streamH)
	for _, m := range []*keyset.Manager{am, sm} {
		var err error
		if enable {
			err = m.Enable(id)
		} else {
			err = m.Disable(id)
		}
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "keys: changing the status of key %d", id)
		}
	}
	return buildKeys(am, sm, p.meta, p.prfH)
}

func buildKeys(am, sm *keyset.Manager, meta []keyMeta, prfH *keyset.Handle) (*projectKeys, error) {
	ah, err := am.Handle()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: building the AEAD keyset")
	}
	sh, err := sm.Handle()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: building the streaming keyset")
	}
	return fromHandles(ah, sh, meta, prfH)
}

// fromHandles checks the invariants tying the two keysets and their metadata
// together (same ids, same primary, same statuses) and makes the primitives.
// prfH may be nil (keys stored before the naming key existed).
func fromHandles(ah, sh *keyset.Handle, meta []keyMeta, prfH *keyset.Handle) (*projectKeys, error) {
	p := &projectKeys{
		meta:    meta,
		aeadH:   ah,
		streamH: sh,
		prfH:    prfH,
		status:  make(map[uint32]keyset.KeyStatus, ah.Len()),
		streams: make(map[uint32]tink.StreamingAEAD, sh.Len()),
		layouts: make(map[uint32]streamLayout, sh.Len()),
	}
	if ah.Len() != len(meta) || sh.Len() != len(meta) {
		return nil, errs.E(errs.Internal, "keys: keysets hold %d and %d keys, metadata %d", ah.Len(), sh.Len(), len(meta))
	}
	for i := range ah.Len() {
		e, err := ah.Entry(i)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "keys: reading the AEAD keyset")
		}
		p.status[e.KeyID()] = e.KeyStatus()
		if e.IsPrimary() {
			p.primary = e.KeyID()
		}
	}
	for _, m := range meta {
		if _, ok := p.status[m.ID]; !ok {
			return nil, errs.E(errs.Internal, "keys: key %d has metadata but no AEAD key", m.ID)
		}
	}
	for i := range sh.Len() {
		e, err := sh.Entry(i)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "keys: reading the streaming keyset")
		}
		id := e.KeyID()
		if st, ok := p.status[id]; !ok || st != e.KeyStatus() || e.IsPrimary() != (id == p.primary) {
			return nil, errs.E(errs.Internal, "keys: streaming key %d does not match the AEAD keyset", id)
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		s, err := singleStream(e)
		if err != nil {
			return nil, err
		}
		l, err := layoutOf(e)
		if err != nil {
			return nil, err
		}
		p.streams[id], p.layouts[id] = s, l
	}
	a, err := aead.New(ah)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: AEAD primitive")
	}
	p.aead = a
	if prfH != nil {
		if p.prf, err = prf.NewPRFSet(prfH); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "keys: naming key primitive")
		}
	}
	return p, nil
}

// singleStream makes a streaming primitive of one key.
func singleStream(e *keyset.Entry) (tink.StreamingAEAD, error) {
	m := keyset.NewManager()
	id, err := m.AddKey(e.Key())
	if err == nil {
		err = m.SetPrimary(id)
	}
	var h *keyset.Handle
	if err == nil {
		h, err = m.Handle()
	}
	var s tink.StreamingAEAD
	if err == nil {
		s, err = streamingaead.New(h)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "keys: streaming primitive for key %d", e.KeyID())
	}
	return s, nil
}

// infos lists the keys for callers, in creation order.
func (p *projectKeys) infos() []KeyInfo {
	out := make([]KeyInfo, 0, len(p.meta))
	for _, m := range p.meta {
		out = append(out, KeyInfo{
			ID:      m.ID,
			Primary: m.ID == p.primary,
			Enabled: p.status[m.ID] == keyset.Enabled,
			Created: m.Created,
		})
	}
	return out
}

// KeyInfo describes one key of a project.
type KeyInfo struct {
	ID      uint32
	Primary bool // new data is encrypted with it
	Enabled bool // data under it can be read
	Created time.Time
}

func (k KeyInfo) String() string {
	s := fmt.Sprintf("key %d created %s", k.ID, k.Created.Format(time.RFC3339))
	switch {
	case k.Primary:
		s += " (primary)"
	case !k.Enabled:
		s += " (disabled)"
	}
	return s
}
