package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
)

// TestOpenAPICoversRoutes: the served document lists every API route the
// mux serves, and the mux serves every operation of the document, with
// every schema it refers to defined.
func TestOpenAPICoversRoutes(t *testing.T) {
	reg, _ := workflow.NewRegistry()
	rv, _ := review.New()
	e, err := workflow.New(workflow.NewMemoryStore(), reg, workflow.StaticSecrets{}, rv)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(e, IdentifierFunc(func(*http.Request) (User, error) { return User{Name: "a", Roles: []Role{RoleEngineer}}, nil }), WithPrefix("/x"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x/api/openapi.json", nil))
	var doc struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct{ Schemas map[string]json.RawMessage }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("document: %d %v", rec.Code, err)
	}
	var inDoc []string
	for path, ops := range doc.Paths {
		for method := range ops {
			op := strings.ToUpper(method) + " " + path
			inDoc = append(inDoc, op)
			req := httptest.NewRequest(strings.ToUpper(method), "/x"+strings.ReplaceAll(path, "{id}", "1"), nil)
			if _, pattern := h.mux.Handler(req); pattern != strings.ToUpper(method)+" /x"+path {
				t.Errorf("%s is in the document, but the mux serves it with %q", op, pattern)
			}
		}
	}
	var served []string
	for _, rt := range h.routes() {
		if strings.HasPrefix(rt.path, "/api/") {
			served = append(served, rt.method+" "+rt.path)
		}
	}
	slices.Sort(inDoc)
	slices.Sort(served)
	if !slices.Equal(inDoc, served) {
		t.Errorf("document %v, routes %v", inDoc, served)
	}
	for _, ref := range refs.FindAllStringSubmatch(rec.Body.String(), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok {
			t.Errorf("schema %s is referred to but not defined", ref[1])
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["TicketDetail"]), `"duration_ms"`) && !strings.Contains(string(doc.Components.Schemas["StatementResult"]), `"duration_ms"`) {
		t.Errorf("StatementResult has no duration_ms: %s", doc.Components.Schemas["StatementResult"])
	}
}

var refs = regexp.MustCompile(`"#/components/schemas/([^"]+)"`)
