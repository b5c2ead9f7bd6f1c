// Package keys gives every koya project its own encryption keys, so that a
// copy of the database and the object store taken without the key-encryption
// key (KEK) reveals nothing a project stored.
//
// # Key hierarchy
//
//	KEK (a local key file, or a Vault/OpenBao transit key; never stored by koya)
//	 └─ per project: one tink AEAD keyset (AES256_GCM) and one StreamingAEAD
//	    keyset (AES256_GCM_HKDF_1MB; keys made before 2026-11 are
//	    AES256_GCM_HKDF_4KB), persisted only wrapped by the KEK
//	     └─ data: small values (secrets, log lines) with the AEAD keyset;
//	        artifacts and files as streams with the StreamingAEAD keyset
//	 └─ per project: one naming key (HMAC-SHA256 PRF keyset), for MAC:
//	    keyed digests that name content-addressed objects
//
// The two data keysets of a project always hold the same key ids: a "key"
// of a project is one AEAD key and one streaming key created together,
// rotated, disabled and listed together under one id. The naming key is not
// one of them and is never rotated (see MAC).
//
// The wrapped form (Stored.Wrapped) binds, as associated data of the KEK, the
// project id, which keyset it is and the key metadata (ids, creation times),
// so a keyset copied to another project, swapped with its sibling or edited
// does not unwrap.
//
// # Associated data
//
// Every ciphertext is bound to project, kind (for example "artifact", "log",
// "secret") and object id, encoded length-prefixed so that no two different
// triples share an encoding. A ciphertext moved to another project or another
// object fails to decrypt with errs.Forbidden; it is never silently read as
// something else.
//
// # Formats
//
// An AEAD ciphertext is tink's: 0x01, the 4-byte big-endian key id, then
// AES-GCM nonce, ciphertext and tag. A stream is koya's 5-byte header (the same
// 0x01 and key id, itself bound into the associated data) followed by tink's
// segmented AES-GCM-HKDF stream. KeyIDOf reads the key id of either. A
// stream does not record its segment size: it is its key's (1 MiB, or
// 4 KiB for older keys), read from the key's parameters, so the keys of
// one keyset may differ and rotation moves data from one size to the other.
//
// # Rotation
//
//  1. Rotate: a new key becomes primary; new writes use it, old data still
//     decrypts with the older, still enabled keys.
//  2. A background job lists objects whose KeyIDOf is not the primary and moves
//     them with Reencrypt or ReencryptStream, reporting progress.
//  3. Disable the old key. Anything still under it now fails loudly
//     (ErrKeyDisabled, errs.Forbidden) and DisabledKeyFailures counts it; Enable
//     undoes the step if something was missed. The primary cannot be disabled.
//
// Keys are never deleted by this package: disabling is reversible, deleting
// would not be.
//
// # What a copy without the KEK reveals
//
// From the database: which projects have keys, how many, their ids, creation
// times and statuses, and the size of each wrapped keyset. From the object
// store: the size of each object and the id of the key that encrypted it
// (object names are MACs: they tell contents apart without revealing them). No
// key material, no plaintext, nothing that lets one test a guess at a
// plaintext.
//
// # Several servers
//
// A Keyring caches unwrapped keysets and checks the store's version at most
// once per Options.CacheTTL, and at once when it meets a key id it does not
// know (another server rotated). A key disabled by another server is therefore
// still honoured here for up to CacheTTL.
package keys
