package transitkek

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/koya-dev/koya/errs"
)

// Config says which transit key to use and how to reach it.
type Config struct {
	Addr      string // base address, "https://vault.example:8200"
	Mount     string // where the transit engine is mounted; "transit" if empty
	Key       string // transit key name
	Token     string
	Namespace string       // sent as X-Vault-Namespace if set
	Client    *http.Client // nil: a client with a 30s timeout
}

// KEK wraps with a transit key. It implements keys.KEK.
type KEK struct {
	cfg  Config
	base string // Addr/v1/Mount
}

// maxResponse bounds what is read from the vault: keysets are kilobytes,
// and a confused proxy must not exhaust memory.
const maxResponse = 32 << 20

// New returns a KEK for cfg. It does not contact the vault: a vault that is
// down at start-up is reported by the first use, as Unavailable.
func New(cfg Config) (*KEK, error) {
	if cfg.Mount == "" {
		cfg.Mount = "transit"
	}
	u, err := url.Parse(cfg.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.E(errs.Invalid, "transit KEK: address %q is not an http(s) URL", cfg.Addr)
	}
	if cfg.Key == "" || strings.ContainsAny(cfg.Key, "/?#") {
		return nil, errs.E(errs.Invalid, "transit KEK: key name %q is empty or not a single path segment", cfg.Key)
	}
	if cfg.Token == "" {
		return nil, errs.E(errs.Invalid, "transit KEK: no token; set VAULT_TOKEN or BAO_TOKEN")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	base := strings.TrimSuffix(cfg.Addr, "/") + "/v1/" + strings.Trim(cfg.Mount, "/")
	return &KEK{cfg: cfg, base: base}, nil
}

// Name implements keys.KEK.
func (k *KEK) Name() string {
	return fmt.Sprintf("transit:%s/%s/%s", strings.TrimSuffix(k.cfg.Addr, "/"), strings.Trim(k.cfg.Mount, "/"), k.cfg.Key)
}

// Encrypt implements keys.KEK.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	payload := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(associatedData)+len(plaintext)), uint64(len(associatedData)))
	payload = append(append(payload, associatedData...), plaintext...)
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	if err := k.call(ctx, "encrypt", map[string]any{"plaintext": base64.StdEncoding.EncodeToString(payload)}, &out); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(out.Ciphertext, "vault:") {
		return nil, errs.E(errs.Internal, "transit KEK %s: encrypt returned no ciphertext", k.Name())
	}
	return []byte(out.Ciphertext), nil
}

// Decrypt implements keys.KEK.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if !bytes.HasPrefix(ciphertext, []byte("vault:v")) {
		return nil, errs.E(errs.Forbidden, "transit KEK: ciphertext is not authentic")
	}
	var out struct {
		Plaintext string `json:"plaintext"`
	}
	if err := k.call(ctx, "decrypt", map[string]any{"ciphertext": string(ciphertext)}, &out); err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(out.Plaintext)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "transit KEK %s: decrypt returned bad base64", k.Name())
	}
	n, w := binary.Uvarint(payload)
	if w <= 0 || n > uint64(len(payload)-w) {
		return nil, errs.E(errs.Forbidden, "transit KEK: ciphertext was not made by koya")
	}
	embedded, plaintext := payload[w:w+int(n)], payload[w+int(n):]
	if len(embedded) != len(associatedData) || subtle.ConstantTimeCompare(embedded, associatedData) != 1 {
		return nil, errs.E(errs.Forbidden, "transit KEK: ciphertext is not authentic for this associated data")
	}
	return plaintext, nil
}

// call POSTs body to MOUNT/op/KEY and decodes the response's "data" into out.
func (k *KEK) call(ctx context.Context, op string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "transit KEK: encoding request")
	}
	u := k.base + "/" + op + "/" + url.PathEscape(k.cfg.Key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return errs.Wrap(errs.Internal, err, "transit KEK: building request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Vault-Token", k.cfg.Token)
	if k.cfg.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", k.cfg.Namespace)
	}
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transit KEK %s unreachable", k.Name())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transit KEK %s: reading response", k.Name())
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}
	_ = json.Unmarshal(raw, &r) // an HTML error page from a proxy is still classified by status
	if resp.StatusCode != http.StatusOK {
		return statusError(k.Name(), op, resp.StatusCode, r.Errors)
	}
	if len(r.Data) == 0 || json.Unmarshal(r.Data, out) != nil {
		return errs.E(errs.Internal, "transit KEK %s: %s response has no usable data", k.Name(), op)
	}
	return nil
}

// statusError classifies a failed call. A 400 on decrypt is the vault
// saying the ciphertext does not decrypt under this key; the other
// failures are the vault being unreachable, sealed or misconfigured for
// koya, which an operator fixes without touching the data.
func statusError(name, op string, status int, vaultErrs []string) error {
	cause := fmt.Errorf("transit %s: HTTP %d: %s", op, status, strings.Join(vaultErrs, "; "))
	switch {
	case status == http.StatusBadRequest && op == "decrypt":
		return errs.Wrap(errs.Forbidden, cause, "transit KEK: ciphertext is not authentic")
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return errs.Wrap(errs.Unavailable, cause, "transit KEK %s refused the token (permission denied)", name)
	case status == http.StatusNotFound:
		return errs.Wrap(errs.Unavailable, cause, "transit KEK %s: no transit engine at this mount", name)
	case status == http.StatusTooManyRequests || status >= 500:
		return errs.Wrap(errs.Unavailable, cause, "transit KEK %s unavailable (HTTP %d)", name, status)
	}
	return errs.Wrap(errs.Internal, cause, "transit KEK %s: %s failed (HTTP %d)", name, op, status)
}
