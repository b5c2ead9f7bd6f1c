// Package transitkek is the key-encryption-key provider backed by the
// transit secrets engine of HashiCorp Vault or OpenBao, so the KEK never
// leaves the vault: koya sends it keysets to wrap and unwrap over the plain
// HTTP API (net/http; no SDK, whose dependencies would outweigh two calls).
//
// # URL
//
//	transit://HOST[:PORT]/KEY[?mount=transit&tls=true&namespace=NS&ca=/path/ca.pem]
//
// PORT defaults to 8200, mount to "transit", tls to true (https; tls=false
// for http, only for a vault on the same host or in tests). ca names a PEM
// bundle to trust instead of the system roots. namespace is sent as
// X-Vault-Namespace (Vault Enterprise, OpenBao namespaces). The token is read
// from VAULT_TOKEN, else BAO_TOKEN, and sent as X-Vault-Token; it needs the
// "update" capability on MOUNT/encrypt/KEY and MOUNT/decrypt/KEY (and
// "create" on MOUNT/encrypt/KEY if the key should be made on first use).
//
// # Associated data
//
// transit's own associated_data parameter is accepted only for AEAD key
// types (aes*-gcm96, chacha20-poly1305) and only by recent servers; derived
// keys ("context") would change the key type. So the associated data is
// bound inside the encrypted payload instead: koya encrypts
// uvarint(len(ad)) || ad || plaintext and, after decryption, compares the
// embedded ad with the expected one in constant time. The transit
// ciphertext authenticates the payload, so a different ad is detected on any
// key type and any server version. The ad is not secret, so sending it to
// the vault reveals nothing new.
//
// The ciphertext koya stores is transit's own string ("vault:v1:..."), so a
// key rotated in the vault keeps decrypting old keysets; the Keyring
// re-wraps a project's keysets with the latest version whenever it changes
// them.
//
// # What is tested
//
// Tested: the provider passes the keys/kektest conformance suite against
// transittest, a hand-written fake of the transit encrypt and decrypt
// endpoints that follows the request and response JSON of the Vault/OpenBao
// HTTP API (upsert on encrypt, "vault:vN:" ciphertexts, key versions,
// associated_data, {"errors": [...]} bodies with Vault's status codes); the
// mapping of statuses to errs codes; the token and namespace headers; the
// URL form; key rotation in the vault.
//
// Not tested: a real Vault or OpenBao server. OpenBao is not served by the
// Go module proxy and Vault's module cannot be built with "go install", so
// the fake's fidelity to the real API (error strings, status codes of
// sealed or standby nodes, redirects) rests on the published API and
// OpenBao's source, not on a recorded exchange.
package transitkek
