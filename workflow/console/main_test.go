package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// servers[0] plays both instances, "prod" and "test", and holds the MySQL
// store's database.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

// users: the header identity of the tests. alice and carol are
// engineers, bob a reviewer, dba a reviewer and admin.
var users = map[string]string{"alice": "eng", "carol": "eng", "bob": "rev", "dba": "rev,admin"}

var identity = console.ProxyHeaders{User: "X-User", Groups: "X-Groups",
	Roles: console.RoleMap{"eng": {console.RoleEngineer}, "rev": {console.RoleReviewer}, "admin": {console.RoleAdmin}}}

// dbas approve SQL changes and migrations.
var dbas = &workflow.Group{Name: "dba", Members: []string{"bob", "dba"}}

// stores are the stores every behaviour test runs on.
func stores(t *testing.T) map[string]func(t *testing.T) workflow.Store {
	return map[string]func(t *testing.T) workflow.Store{
		"memory": func(*testing.T) workflow.Store { return workflow.NewMemoryStore() },
		"mysql": func(t *testing.T) workflow.Store {
			db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "consolestore"))
			s, err := workflow.NewMySQLStore(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// fixture is a console over an engine with a shop database on servers[0].
type fixture struct {
	t       testing.TB
	engine  *workflow.Engine
	srv     *httptest.Server
	db      string // the shop database
	handler *console.Handler
}

// newFixture starts the console of an engine over store, mounted under
// /console, with opts.
func newFixture(t testing.TB, store workflow.Store, opts ...console.Option) *fixture {
	t.Helper()
	return newFixtureOf(t, store, identity, opts...)
}

// newFixtureOf is newFixture with the identifier ids.
func newFixtureOf(t testing.TB, store workflow.Store, ids console.Identifier, opts ...console.Option) *fixture {
	t.Helper()
	return newFixtureWith(t, store, ids, nil, opts...)
}

// newFixtureWith is newFixtureOf with extra options of the engine.
func newFixtureWith(t testing.TB, store workflow.Store, ids console.Identifier, engineOpts []workflow.Option, opts ...console.Option) *fixture {
	t.Helper()
	s := servers[0]
	secrets := workflow.StaticSecrets{"vault/db": {User: s.User(), Password: s.Password()}}
	reg, err := workflow.NewRegistry(
		workflow.Instance{Name: "prod", Address: s.Addr(), Credentials: "vault/db", Tags: map[string]string{"env": "prod"}},
		workflow.Instance{Name: "test", Address: s.Addr(), Credentials: "vault/db", Tags: map[string]string{"env": "test"}},
		workflow.Instance{Name: "broken", Address: s.Addr(), Credentials: "vault/missing", Tags: map[string]string{"env": "test"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := workflow.LiveReview()
	if err != nil {
		t.Fatal(err)
	}
	e, err := workflow.New(store, reg, secrets, rv, append([]workflow.Option{
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas})}, engineOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := console.New(e, ids, append([]console.Option{console.WithPrefix("/console"), console.WithEventInterval(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	name := sandboxtest.NewDatabase(t, s, "consoleshop")
	sandboxtest.Exec(t, sandboxtest.Open(t, s, name),
		"CREATE TABLE orders (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, status VARCHAR(10) NOT NULL, amount INT NOT NULL)",
		"INSERT INTO orders (status, amount) SELECT 'new', seq FROM seq_1_to_20")
	return &fixture{t: t, engine: e, srv: srv, db: name, handler: h}
}

// call sends a request as user (none when empty) and decodes the JSON
// answer into out (when not nil); it returns the status.
func (f *fixture) call(user, method, path string, body, out any) int {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.srv.URL+"/console"+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-User", user)
		req.Header.Set("X-Groups", users[user])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return res.StatusCode
}

// wantError checks that a call failed with status and code.
func (f *fixture) wantError(status int, code string, user, method, path string, body any) console.ErrorBody {
	f.t.Helper()
	var e console.ErrorResponse
	if got := f.call(user, method, path, body, &e); got != status || e.Error.Code != code {
		f.t.Fatalf("%s %s as %q: %d %+v, want %d %s", method, path, user, got, e.Error, status, code)
	}
	return e.Error
}

// submit files a SQL change as user and returns the ticket.
func (f *fixture) submit(user, instance, sql string) console.TicketDetail {
	f.t.Helper()
	var d console.TicketDetail
	if st := f.call(user, "POST", "/api/tickets", console.SubmitRequest{Kind: "sql_change", Instance: instance, Database: f.db, SQL: sql}, &d); st != http.StatusCreated {
		f.t.Fatalf("submit as %s: %d %+v", user, st, d)
	}
	return d
}
