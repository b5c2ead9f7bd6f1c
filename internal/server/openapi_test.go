package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The OpenAPI document and the mux agree both ways: every pattern
// registered on the mux is documented, and every documented operation is
// answered by a handler (neither the mux's 404 nor its 405).
func TestOpenAPIMatchesMux(t *testing.T) {
	e := newEnv(t)
	resp := e.do("GET", "/api/v1/openapi.json", e.admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}

	// What the mux has: ask it which pattern each route's request matches,
	// and that no pattern is registered outside the table (a duplicate
	// registration panics, so the table is the mux's only source, besides
	// the catch-all of unmatched requests).
	for _, rt := range e.srv.routes {
		req := httptest.NewRequest(rt.method, concrete(rt.path), nil)
		_, pattern := e.srv.mux.Handler(req)
		if pattern != rt.pattern() {
			t.Errorf("%s %s is served by %q, not its own pattern", rt.method, rt.path, pattern)
		}
		if !documented[strings.ReplaceAll(rt.pattern(), "...}", "}")] { // {rest...} is documented as {rest}
			t.Errorf("registered route %s is not documented", rt.pattern())
		}
	}
	if len(documented) != len(e.srv.routes) {
		t.Errorf("%d documented operations, %d routes", len(documented), len(e.srv.routes))
	}

	// Every documented operation answers: a handler's JSON (an error is
	// fine: dummy ids are not found), never the mux's plain 404 or 405.
	var ops []string
	for op := range documented {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		token := e.admin
		if strings.HasPrefix(path, "/api/v1/agent/") {
			token = "" // an agent route must refuse: 401 from the handler chain
		}
		resp := e.do(method, concrete(path), token, strings.NewReader("{}"), "Content-Type", "application/json")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusMethodNotAllowed || (resp.StatusCode == http.StatusNotFound && !strings.Contains(string(b), `"error"`)) {
			t.Errorf("%s: the mux answered %d %q", op, resp.StatusCode, b)
		}
	}
	// And something undocumented is the mux's.
	if resp := e.do("GET", "/api/v1/nothing-here", e.admin, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("undocumented path: %d", resp.StatusCode)
	}
}

var wildcard = regexp.MustCompile(`\{[a-z]+\}`)

// concrete fills a pattern's wildcards (index takes a number).
func concrete(path string) string {
	return wildcard.ReplaceAllStringFunc(path, func(w string) string {
		if w == "{index}" {
			return "0"
		}
		if w == "{project}" {
			return "p"
		}
		return "x"
	})
}

func TestOpenAPISchemas(t *testing.T) {
	e := newEnv(t)
	doc := e.srv.OpenAPI()
	comps := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"Run", "Workflow", "Step", "LogLine", "SubmitRequest", "ApplyResult", "Error", "AgentEventBatch"} {
		if _, ok := comps[name]; !ok {
			t.Errorf("schema %s missing", name)
		}
	}
	run := comps["Run"].(map[string]any)["properties"].(map[string]any)
	for _, f := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		if _, ok := run[f]; !ok {
			t.Errorf("Run schema lacks %s (embedded TypeMeta must be flattened)", f)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// Every $ref resolves.
	for _, m := range regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := comps[m[1]]; !ok {
			t.Errorf("dangling $ref %s", m[1])
		}
	}
}
