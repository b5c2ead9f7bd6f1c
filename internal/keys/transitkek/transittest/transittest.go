// Package transittest is a fake of the Vault/OpenBao transit engine's
// encrypt and decrypt endpoints, for testing transitkek and, later, servers
// configured with a transit KEK, without a vault. It answers with the JSON
// shapes and status codes of the real HTTP API: upsert of aes256-gcm96 keys
// on encrypt, "vault:vN:" ciphertexts, key versions, associated_data, and
// {"errors": [...]} bodies.
package transittest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a running fake.
type Server struct {
	URL   string // base address, http://127.0.0.1:PORT
	Token string // the only token accepted
	Mount string // "transit"

	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string][]cipher.AEAD // name → versions, oldest first
	failWith int
	last     Request
	count    int
}

// Request is what the fake saw of the last request.
type Request struct {
	Method, Path, Token, Namespace string
	Body                           map[string]any
}

// New starts a fake, closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{Token: "s." + randHex(12), Mount: "transit", keys: make(map[string][]cipher.AEAD)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server early, to test an unreachable vault.
func (s *Server) Close() { s.srv.Close() }

// FailWith makes every later request answer status (a sealed vault: 503),
// until FailWith(0).
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = status
}

// Rotate adds a version to key name, as POST MOUNT/keys/NAME/rotate does.
func (s *Server) Rotate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[name] = append(s.keys[name], newKey())
}

// Last returns the last request and how many were made.
func (s *Server) Last() (Request, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.count
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber() // as Vault does
	decodeErr := dec.Decode(&body)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.last = Request{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Vault-Token"), Namespace: r.Header.Get("X-Vault-Namespace"), Body: body}

	if s.failWith != 0 {
		if s.failWith == http.StatusServiceUnavailable {
			writeErrors(w, s.failWith, "Vault is sealed")
		} else {
			writeErrors(w, s.failWith, http.StatusText(s.failWith))
		}
		return
	}
	prefix := "/v1/" + s.Mount + "/"
	op, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/")
	if !strings.HasPrefix(r.URL.Path, prefix) || !ok || name == "" || strings.Contains(name, "/") || (op != "encrypt" && op != "decrypt") {
		writeErrors(w, http.StatusNotFound, "no handler for route \""+strings.TrimPrefix(r.URL.Path, "/v1/")+"\". route entry not found.")
		return
	}
	if s.last.Token != s.Token {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
		return
	}
	if decodeErr != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+decodeErr.Error())
		return
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	if str("context") != "" {
		writeErrors(w, http.StatusBadRequest, "transittest: derived keys (context) are not implemented")
		return
	}
	ad, err := base64.StdEncoding.DecodeString(str("associated_data"))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	if op == "encrypt" {
		s.encrypt(w, name, body, ad)
	} else {
		s.decrypt(w, name, str("ciphertext"), ad)
	}
}

func (s *Server) encrypt(w http.ResponseWriter, name string, body map[string]any, ad []byte) {
	pt64, ok := body["plaintext"].(string)
	if !ok {
		writeErrors(w, http.StatusBadRequest, "missing plaintext to encrypt")
		return
	}
	pt, err := base64.StdEncoding.DecodeString(pt64)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(s.keys[name]) == 0 {
		s.keys[name] = []cipher.AEAD{newKey()} // upsert, as with the "create" capability
	}
	versions := s.keys[name]
	v := len(versions)
	if kv, ok := body["key_version"].(json.Number); ok {
		n, err := kv.Int64()
		if err != nil || n < 0 || int(n) > len(versions) {
			writeErrors(w, http.StatusBadRequest, "requested version for encryption is higher than the latest key version")
			return
		}
		if n > 0 {
			v = int(n)
		}
	}
	a := versions[v-1]
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	ct := a.Seal(nonce, nonce, pt, ad)
	writeData(w, map[string]any{
		"ciphertext":  "vault:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(ct),
		"key_version": v,
	})
}

func (s *Server) decrypt(w http.ResponseWriter, name, ciphertext string, ad []byte) {
	if ciphertext == "" {
		writeErrors(w, http.StatusBadRequest, "missing ciphertext to decrypt")
		return
	}
	versions := s.keys[name]
	if len(versions) == 0 {
		writeErrors(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	rest, ok := strings.CutPrefix(ciphertext, "vault:")
	if !ok {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext: no prefix")
		return
	}
	ver, ct64, ok := strings.Cut(rest, ":")
	if !ok {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext: wrong number of fields")
		return
	}
	v, err := strconv.Atoi(strings.TrimPrefix(ver, "v"))
	if err != nil || !strings.HasPrefix(ver, "v") {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext: version number could not be decoded")
		return
	}
	if v < 1 || v > len(versions) {
		writeErrors(w, http.StatusBadRequest, "invalid key version")
		return
	}
	ct, err := base64.StdEncoding.DecodeString(ct64)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext: could not decode base64")
		return
	}
	a := versions[v-1]
	if len(ct) < a.NonceSize() {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext: nonce length")
		return
	}
	pt, err := a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], ad)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "cipher: message authentication failed")
		return
	}
	writeData(w, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
}

func writeData(w http.ResponseWriter, data map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"request_id":     randUUID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
		"mount_type":     "transit",
	})
}

func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}

func newKey() cipher.AEAD {
	k := make([]byte, 32)
	rand.Read(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // 32 bytes is always a valid AES key
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randUUID() string {
	h := randHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
