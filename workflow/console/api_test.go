package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// TestTicketFlow: submit with an idempotency key, the permission checks
// of approve and cancel, the run's results and the audit trail, on both
// stores.
func TestTicketFlow(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, newStore(t))
			req := console.SubmitRequest{IdempotencyKey: "form-1", Kind: "sql_change", Title: "fix amounts", Instance: "test", Database: f.db,
				SQL: "UPDATE orders SET amount = 0 WHERE id = 1;\nUPDATE orders SET amount = 1 WHERE id = 2"}
			var first, again, other console.TicketDetail
			if st := f.call("alice", "POST", "/api/tickets", req, &first); st != http.StatusCreated || first.State != "pending_approval" ||
				first.Submitter != "alice" || first.Step != 1 || first.Review == nil || len(first.Review.Statements) != 2 {
				t.Fatalf("submit: %d %+v", st, first)
			}
			if st := f.call("alice", "POST", "/api/tickets", req, &again); st != http.StatusOK || again.ID != first.ID {
				t.Fatalf("repeated key: %d #%d, want 200 #%d", st, again.ID, first.ID)
			}
			// Keys are per user: carol's form-1 is her own ticket.
			if st := f.call("carol", "POST", "/api/tickets", req, &other); st != http.StatusCreated || other.ID == first.ID {
				t.Fatalf("another user's key: %d #%d", st, other.ID)
			}
			id := fmt.Sprint(first.ID)
			if !slices.Equal(first.Actions, []string{"cancel"}) || !slices.Equal(first.Approvers, []string{"bob", "dba"}) {
				t.Errorf("alice's actions %v, approvers %v", first.Actions, first.Approvers)
			}
			var asBob console.TicketDetail
			f.call("bob", "GET", "/api/tickets/"+id, nil, &asBob)
			if !slices.Equal(asBob.Actions, []string{"approve", "reject"}) {
				t.Errorf("bob's actions: %v", asBob.Actions)
			}
			// Never one's own ticket, only reviewers, only one's own cancel.
			f.wantError(http.StatusForbidden, "self_approval", "alice", "POST", "/api/tickets/"+id+"/approve", console.ActionRequest{})
			f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/approve", console.ActionRequest{})
			f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/cancel", nil)
			f.wantError(http.StatusForbidden, "forbidden", "bob", "POST", "/api/tickets/"+id+"/cancel", nil)
			var approved console.TicketDetail
			if st := f.call("bob", "POST", "/api/tickets/"+id+"/approve", console.ActionRequest{Comment: "ok"}, &approved); st != http.StatusOK ||
				approved.State != "queued" || len(approved.Approvals) != 1 || approved.Approvals[0].Step != 1 || approved.Approvals[0].Actor != "bob" {
				t.Fatalf("approve: %d %+v", st, approved)
			}
			f.wantError(http.StatusConflict, "impossible_transition", "dba", "POST", "/api/tickets/"+id+"/reject", nil)
			if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
				t.Fatalf("run: %v %v", ran, err)
			}
			var done console.TicketDetail
			f.call("alice", "GET", "/api/tickets/"+id, nil, &done)
			if done.State != "succeeded" || len(done.Results) != 2 || done.Results[1].Status != "succeeded" || done.Report == nil || done.FinishedAt == nil {
				t.Fatalf("after the run: %+v", done)
			}
			var trail []string
			for _, a := range done.Audit {
				trail = append(trail, a.Actor+" "+a.Action)
			}
			want := []string{"alice submit", "system review", "system await", "bob approve", "system enqueue", "system start", "system succeed"}
			if !slices.Equal(trail, want) {
				t.Errorf("audit %v, want %v", trail, want)
			}
			f.wantError(http.StatusConflict, "impossible_transition", "alice", "POST", "/api/tickets/"+id+"/cancel", nil)
			// The submitter cancels her own; an admin anyone's.
			var canceled console.TicketDetail
			if st := f.call("dba", "POST", "/api/tickets/"+fmt.Sprint(other.ID)+"/cancel", console.ActionRequest{Comment: "duplicate"}, &canceled); st != http.StatusOK || canceled.State != "canceled" {
				t.Fatalf("admin cancel: %d %+v", st, canceled)
			}
		})
	}
}

// TestErrors: each failure has its status and a code naming it.
func TestErrors(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore())
	f.wantError(http.StatusUnauthorized, "unauthenticated", "", "GET", "/api/tickets", nil)
	f.wantError(http.StatusNotFound, "not_found", "alice", "GET", "/api/tickets/999", nil)
	f.wantError(http.StatusNotFound, "not_found", "alice", "GET", "/api/nothing/here", nil)
	f.wantError(http.StatusBadRequest, "bad_request", "alice", "GET", "/api/tickets/x1", nil)
	f.wantError(http.StatusBadRequest, "bad_request", "alice", "GET", "/api/tickets?state=nonsense", nil)
	f.wantError(http.StatusBadRequest, "bad_request", "alice", "GET", "/api/tickets?limit=1000", nil)
	f.wantError(http.StatusBadRequest, "bad_request", "alice", "POST", "/api/tickets", map[string]any{"kind": "sql_change", "sql_text": "DO 1"})
	e := f.wantError(http.StatusUnprocessableEntity, "unknown_instance", "alice", "POST", "/api/tickets",
		console.SubmitRequest{Kind: "sql_change", Instance: "nowhere", Database: f.db, SQL: "DO 1"})
	if !strings.Contains(e.Message, "nowhere") {
		t.Errorf("message %q does not name the instance", e.Message)
	}
	f.wantError(http.StatusUnprocessableEntity, "empty_sql", "alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "sql_change", Instance: "test", Database: f.db})
	f.wantError(http.StatusUnprocessableEntity, "invalid_request", "alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "reboot", Instance: "test", Database: f.db})
	f.wantError(http.StatusUnprocessableEntity, "unknown_instance", "alice", "POST", "/api/check", console.CheckRequest{Instance: "nowhere", Database: f.db, SQL: "DO 1"})
	// An instance the check cannot reach is named, not an internal error.
	if e := f.wantError(http.StatusBadGateway, "instance_unavailable", "alice", "POST", "/api/check", console.CheckRequest{Instance: "broken", Database: f.db, SQL: "DO 1"}); !strings.Contains(e.Message, `instance broken: credentials "vault/missing"`) {
		t.Fatalf("check on broken: %+v", e)
	}
	var none console.ErrorResponse
	if st := f.call("nobody", "GET", "/api/tickets", nil, &none); st != http.StatusForbidden || none.Error.Code != "forbidden" {
		t.Errorf("user without a role: %d %+v", st, none)
	}
}

// TestList: every filter, and pages that say whether another follows.
func TestList(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, newStore(t))
			before := time.Now().Add(-time.Second)
			a := f.submit("alice", "test", "UPDATE orders SET amount = 5 WHERE id = 5")
			b := f.submit("carol", "prod", "UPDATE orders SET status = 'x' WHERE id = 6")
			c := f.submit("alice", "prod", "DELETE FROM orders") // fails review
			list := func(query string) []int64 {
				t.Helper()
				var l console.TicketList
				if st := f.call("bob", "GET", "/api/tickets?"+query, nil, &l); st != http.StatusOK {
					t.Fatalf("list %s: %d", query, st)
				}
				var ids []int64
				for _, s := range l.Tickets {
					ids = append(ids, s.ID)
				}
				return ids
			}
			for _, tc := range []struct {
				query string
				want  []int64
			}{
				{"", []int64{c.ID, b.ID, a.ID}},
				{"submitter=alice", []int64{c.ID, a.ID}},
				{"state=review_failed", []int64{c.ID}},
				{"state=review_failed,pending_approval", []int64{c.ID, b.ID, a.ID}},
				{"instance=test", []int64{a.ID}},
				{"kind=data_migration", nil},
				{"q=STATUS+%3D+%27X%27", []int64{b.ID}},
				{"from=" + url.QueryEscape(before.Format(time.RFC3339)), []int64{c.ID, b.ID, a.ID}},
				{"to=" + url.QueryEscape(before.Format(time.RFC3339)), nil},
			} {
				if got := list(tc.query); !slices.Equal(got, tc.want) {
					t.Errorf("list %q: %v, want %v", tc.query, got, tc.want)
				}
			}
			var p1, p2 console.TicketList
			f.call("bob", "GET", "/api/tickets?limit=2", nil, &p1)
			if len(p1.Tickets) != 2 || !p1.HasMore || p1.NextCursor == "" {
				t.Fatalf("first page: %+v", p1)
			}
			f.call("bob", "GET", "/api/tickets?limit=2&cursor="+p1.NextCursor, nil, &p2)
			if len(p2.Tickets) != 1 || p2.Tickets[0].ID != a.ID || p2.HasMore || p2.NextCursor != "" {
				t.Fatalf("last page: %+v", p2)
			}
			if c.State != "review_failed" || c.Risk == "" || c.Error == "" {
				t.Errorf("failed ticket's summary: %+v", c.TicketSummary)
			}
		})
	}
}

// TestCheckAndInstances: the SQL check gives findings with their line
// and column; instances come with tags and never with credentials.
func TestCheckAndInstances(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore(), console.WithSubmitRoles(map[string]string{"env": "prod"}, console.RoleAdmin))
	var res console.CheckResponse
	if st := f.call("alice", "POST", "/api/check", console.CheckRequest{Instance: "test", Database: f.db, SQL: "UPDATE orders SET amount = 1 WHERE id = 1;\n\nDELETE FROM orders"}, &res); st != http.StatusOK {
		t.Fatalf("check: %d", st)
	}
	if res.Review.Summary.Pass || len(res.Review.Statements) != 2 {
		t.Fatalf("check: %+v", res.Review)
	}
	var found bool
	for _, fd := range res.Review.Statements[1].Findings {
		found = found || fd.Rule == "dml.require-where" && fd.Position.Line == 3 && fd.Position.Column == 1
	}
	if !found {
		t.Errorf("no dml.require-where at line 3, column 1: %+v", res.Review.Statements[1].Findings)
	}
	if l, _ := f.engine.List(t.Context(), workflow.Filter{}); len(l) != 0 {
		t.Errorf("the check stored %d tickets", len(l))
	}
	var list []map[string]any
	f.call("alice", "GET", "/api/instances", nil, &list)
	if len(list) != 3 || list[1]["name"] != "prod" || list[1]["submit"] != false || list[2]["submit"] != true {
		t.Fatalf("instances: %v", list)
	}
	for _, in := range list {
		if _, ok := in["credentials"]; ok || strings.Contains(fmt.Sprint(in), "vault") {
			t.Errorf("instance shows its credentials: %v", in)
		}
	}
	// Only admins submit to env=prod.
	f.wantError(http.StatusForbidden, "forbidden", "alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "sql_change", Instance: "prod", Database: f.db, SQL: "DO 1"})
	if d := f.submit("dba", "prod", "UPDATE orders SET amount = 3 WHERE id = 3"); d.State != "pending_approval" {
		t.Errorf("admin's submission to prod: %+v", d)
	}
}

// TestRetry: a ticket whose review could not reach its target is
// reviewed again by its submitter, not by another engineer.
func TestRetry(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore())
	d := f.submit("alice", "broken", "UPDATE orders SET amount = 3 WHERE id = 3")
	if d.State != "review_failed" || d.ErrorCode == "" || !slices.Equal(d.Actions, []string{"cancel", "retry"}) {
		t.Fatalf("ticket on broken: %s (code %q) %v", d.State, d.ErrorCode, d.Actions)
	}
	id := fmt.Sprint(d.ID)
	f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/retry", nil)
	var again console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets/"+id+"/retry", console.ActionRequest{Comment: "try again"}, &again); st != http.StatusOK || again.State != "review_failed" {
		t.Fatalf("retry: %d %+v", st, again)
	}
	var actions []string
	for _, a := range again.Audit {
		actions = append(actions, a.Action+">"+a.To)
	}
	if want := []string{"submit>submitted", "review>review_failed", "retry>submitted", "review>review_failed"}; !slices.Equal(actions, want) {
		t.Errorf("audit %v, want %v", actions, want)
	}
	f.wantError(http.StatusConflict, "impossible_transition", "dba", "POST", "/api/tickets/"+id+"/approve", nil)
}

// TestSecurity: cross-origin state changes are refused; every response
// carries the security headers.
func TestSecurity(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore())
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/console/api/tickets", strings.NewReader(`{}`))
	req.Header.Set("X-User", "alice")
	req.Header.Set("X-Groups", "eng")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin submit: %d", res.StatusCode)
	}
	for _, path := range []string{"/console/", "/console/api/tickets", "/console/static/console.js"} {
		res, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
}

// TestSubmitMigration: a data-migration ticket through the API, with its
// plan in the detail and its window kept.
func TestSubmitMigration(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore())
	notBefore := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var d console.TicketDetail
	st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "data_migration", Instance: "test", Database: f.db + "_copy",
		Migration: &console.Migration{SourceInstance: "prod", SourceDatabase: f.db, Tables: []string{"orders"}},
		Window:    &console.Window{NotBefore: &notBefore}}, &d)
	if st != http.StatusCreated || d.Migration == nil || d.Migration.Method != "copier" || d.SourceInstance != "prod" ||
		d.Window == nil || !d.Window.NotBefore.Equal(notBefore) || d.Window.NotAfter != nil {
		t.Fatalf("submit: %d %+v", st, d)
	}
	if d.Plan == nil || len(d.Plan.Tables) != 1 || d.Plan.Tables[0].Name != "orders" {
		t.Errorf("plan: %+v", d.Plan)
	}
	if d.State != "pending_approval" {
		t.Errorf("state %s: %s", d.State, d.Error)
	}
	var l console.TicketList
	f.call("bob", "GET", "/api/tickets?kind=data_migration&instance=prod", nil, &l)
	if len(l.Tickets) != 1 || l.Tickets[0].ID != d.ID {
		t.Errorf("list by source instance: %+v", l)
	}
	// Without a window, it runs and ends with its verification.
	var now console.TicketDetail
	f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "data_migration", Instance: "test", Database: f.db + "_now",
		Migration: &console.Migration{SourceInstance: "prod", SourceDatabase: f.db}}, &now)
	f.call("bob", "POST", fmt.Sprintf("/api/tickets/%d/approve", now.ID), nil, nil)
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	f.call("alice", "GET", fmt.Sprintf("/api/tickets/%d", now.ID), nil, &now)
	if v := now.Verification; now.State != "succeeded" || v == nil || !v.Clean || len(v.Tables) != 1 || v.Tables[0].Rows != 20 {
		t.Fatalf("copy: %s %s, verification %+v", now.State, now.Error, now.Verification)
	}
}
