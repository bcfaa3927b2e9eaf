package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// The console of an engine, mounted under /dba with one line. Users come
// from an authenticating proxy's headers; their groups map to roles, and
// only admins submit to production.
func Example() {
	registry, _ := workflow.NewRegistry(workflow.Instance{Name: "prod-1", Address: "10.0.0.5:3306",
		Tags: map[string]string{"env": "prod"}, Credentials: "vault://db/prod-1"})
	reviewer, _ := workflow.LiveReview()
	engine, err := workflow.New(workflow.NewMemoryStore(), registry, workflow.StaticSecrets{}, reviewer,
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "dba", Approver: &workflow.Group{Name: "dba", Members: []string{"bob"}}}))
	if err != nil {
		fmt.Println(err)
		return
	}
	users := console.ProxyHeaders{User: "X-Forwarded-User", Groups: "X-Forwarded-Groups", Roles: console.RoleMap{
		"developers": {console.RoleEngineer}, "dba": {console.RoleReviewer, console.RoleAdmin}}}
	h, err := console.New(engine, users, console.WithPrefix("/dba"),
		console.WithSubmitRoles(map[string]string{"env": "prod"}, console.RoleAdmin))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/dba/", h) // the console: pages at /dba/, the API at /dba/api/

	srv := httptest.NewServer(mux) // the host serves mux as it likes
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/dba/api/instances", nil)
	req.Header.Set("X-Forwarded-User", "alice")
	req.Header.Set("X-Forwarded-Groups", "developers")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	var instances []console.Instance
	_ = json.NewDecoder(res.Body).Decode(&instances)
	for _, in := range instances {
		fmt.Printf("%s %v, alice may submit: %v\n", in.Name, in.Tags, in.Submit)
	}
	// Output:
	// prod-1 map[env:prod], alice may submit: false
}
