package console

import (
	"encoding"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// openapi serves the API's OpenAPI 3 document.
func (h *Handler) openapi(w http.ResponseWriter, _ *http.Request, _ User) error {
	writeJSON(w, http.StatusOK, h.openapiDoc())
	return nil
}

// openapiDoc describes the API routes: the document is generated from
// the same table the mux serves, with schemas from the Go types.
func (h *Handler) openapiDoc() map[string]any {
	g := &schemaGen{schemas: map[string]any{}}
	errResp := map[string]any{"description": "what is wrong", "content": map[string]any{
		"application/json": map[string]any{"schema": g.of(reflect.TypeFor[ErrorResponse]())}}}
	paths := map[string]any{}
	for _, rt := range h.apiRoutes() {
		op := map[string]any{"summary": rt.summary, "operationId": operationID(rt)}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			schema := map[string]any{"type": "string"} // a table's name
			if m[1] == "id" {
				schema = map[string]any{"type": "integer", "format": "int64"}
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.of(reflect.TypeOf(rt.body))}}}
		}
		ok := map[string]any{"description": "success"}
		switch {
		case strings.HasSuffix(rt.path, "/events"):
			ok["content"] = map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string",
				"description": "events named 'ticket' whose data is a TicketSummary, then one named 'end'"}}}
		case rt.resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.of(reflect.TypeOf(rt.resp))}}
		default:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		op["responses"] = map[string]any{strconv.Itoa(cmpStatus(rt.status)): ok, "default": errResp}
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "shiftgate console API", "version": "1",
			"description": "Times are RFC 3339; durations are integer milliseconds in fields ending in _ms; approval steps count from 1."},
		"servers":    []any{map[string]any{"url": h.prefix + "/"}},
		"paths":      paths,
		"components": map[string]any{"schemas": g.schemas},
	}
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

// operationID names a route: "post_tickets_id_approve".
func operationID(rt route) string {
	p := strings.NewReplacer("/api/", "", "/", "_", "{", "", "}", "", ".", "_").Replace(rt.path)
	return strings.ToLower(rt.method) + "_" + p
}

// schemaGen builds JSON schemas of Go types, named structs as components.
type schemaGen struct{ schemas map[string]any }

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	timeType      = reflect.TypeFor[time.Time]()
)

func (g *schemaGen) of(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() != reflect.Struct && (t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.of(t.Elem())
		if _, ref := s["$ref"]; ref {
			return map[string]any{"allOf": []any{s}, "nullable": true}
		}
		s["nullable"] = true
		return s
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Struct:
		name := schemaName(t)
		if _, done := g.schemas[name]; !done {
			g.schemas[name] = nil // stops recursion
			props, required := map[string]any{}, []any{}
			g.fields(t, props, &required)
			s := map[string]any{"type": "object", "properties": props}
			if len(required) > 0 {
				s["required"] = required
			}
			g.schemas[name] = s
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// fields adds the JSON fields of struct t, embedded structs flattened.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]any) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

// schemaName is a struct's component name: its own name for this
// package's types, package.Name for others.
func schemaName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeFor[Handler]().PkgPath() {
		return t.Name()
	}
	pkg := t.PkgPath()
	return pkg[strings.LastIndex(pkg, "/")+1:] + "." + t.Name()
}
