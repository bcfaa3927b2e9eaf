package workflow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// TestErrorsNamePackageOnce walks representative failures a caller sees
// and checks that each names the package once, at the start, and still
// matches its sentinel.
func TestErrorsNamePackageOnce(t *testing.T) {
	ctx := t.Context()
	testDB, _ := shopDB(t, servers[1], 1)
	mysqlStore, _ := newMySQLStore(t)
	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
			return
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "workflow: ") || strings.Count(msg, "workflow:") != 1 {
			t.Errorf("%s: %q does not name the package once, first", name, msg)
		}
	}
	for _, s := range []struct {
		name  string
		store workflow.Store
	}{{"memory", workflow.NewMemoryStore()}, {"mysql", mysqlStore}} {
		e := newEngine(t, s.store, &workflowtest.Recorder{})
		_, err := e.Get(ctx, 12345)
		check(s.name+" store: unknown ticket", err, workflow.ErrNotFound)
		if err != nil && !strings.Contains(err.Error(), "#12345") {
			t.Errorf("%s store: %q does not name the ticket", s.name, err)
		}
		_, err = e.Approve(ctx, 12345, "bob", "")
		check(s.name+" store: approve unknown ticket", err, workflow.ErrNotFound)
		_, err = e.Cancel(ctx, 12345, "bob", "")
		check(s.name+" store: cancel unknown ticket", err, workflow.ErrNotFound)

		r := workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "nowhere", Database: testDB, SQL: "DELETE FROM orders WHERE id = 1"}
		_, err = e.Submit(ctx, r)
		check(s.name+" store: unknown instance", err, workflow.ErrUnknownInstance)

		r.Instance = "test"
		tk, err := e.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Approve(ctx, tk.ID, "alice", "")
		check(s.name+" store: self-approval", err, workflow.ErrSelfApproval)
	}
}
