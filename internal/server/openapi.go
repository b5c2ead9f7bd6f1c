package server

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// pathParamRE finds path parameters; {name...} (Go's wildcard for the
// rest of the path) is documented as {name}, which may hold slashes.
var pathParamRE = regexp.MustCompile(`\{([a-zA-Z_]+)(\.\.\.)?\}`)

// OpenAPI is the OpenAPI 3.1 document of the route table.
func (s *Server) OpenAPI() map[string]any {
	g := newSchemas()
	errRef := g.of(reflect.TypeFor[ErrorResponse]())
	paths := map[string]any{}
	for _, rt := range s.routes {
		docPath := strings.ReplaceAll(rt.path, "...}", "}")
		item, _ := paths[docPath].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[docPath] = item
		}
		item[strings.ToLower(rt.method)] = s.operation(g, rt, errRef)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "koya API",
			"version":     s.cfg.Version,
			"description": "koya's control plane. Every route but /healthz needs Authorization: Bearer <token>. Errors are {\"error\": {\"code\", \"message\", \"where\"}}.",
		},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func (s *Server) operation(g *schemas, rt route, errRef map[string]any) map[string]any {
	op := map[string]any{"operationId": rt.id, "summary": rt.summary, "x-koya-access": rt.access.String()}
	if rt.access == project {
		op["x-koya-role"] = string(rt.needs()) // the least role in the path's project
	}
	if rt.access == public {
		op["security"] = []any{}
	}
	var params []any
	for _, m := range pathParamRE.FindAllStringSubmatch(rt.path, -1) {
		typ := "string"
		if m[1] == "index" {
			typ = "integer"
		}
		p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": typ}}
		if m[2] != "" {
			p["description"] = "the rest of the path: may hold '/' (escape '..' and '.' segments)"
		}
		params = append(params, p)
	}
	for _, q := range rt.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": map[string]any{"type": q.typ}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.body != nil {
		ct, schema := "application/json", g.of(reflect.TypeOf(rt.body))
		if rt.bodyType != "" {
			ct, schema = rt.bodyType, map[string]any{"type": "string"}
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": schema}}}
	}
	content := map[string]any{}
	if rt.resp != nil {
		content["application/json"] = map[string]any{"schema": g.of(reflect.TypeOf(rt.resp))}
	}
	if rt.respType != "" {
		content[rt.respType] = map[string]any{"schema": map[string]any{"type": "string"}}
	}
	if rt.event != nil {
		content["text/event-stream"] = map[string]any{
			"schema":       map[string]any{"type": "string"},
			"x-koya-event": g.of(reflect.TypeOf(rt.event)),
		}
	}
	status := rt.status
	if status == 0 {
		status = http.StatusOK
	}
	ok := map[string]any{"description": http.StatusText(status)}
	if len(content) > 0 {
		ok["content"] = content
	}
	op["responses"] = map[string]any{
		strconv.Itoa(status): ok,
		"default":            map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
	}
	return op
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.OpenAPI())
	return nil
}
