package console_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// TestRollbackWindow: a live move submitted with a reverse sync cuts
// over into its rollback window; the detail offers cutback and endwindow
// to a reviewer of its last step only, never cancel; its submitter and
// an engineer are refused both; the reviewer closes the window and the
// ticket succeeds with the cutover's report.
func TestRollbackWindow(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), identity, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond)})
	// The application's account, fenced by the cutover on the source and
	// by a cut-back on the target (both databases on one server).
	root := sandboxtest.Open(t, servers[0], "")
	user := "app_" + f.db
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`orders` TO '%s'@'%%'", f.db, user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })

	target := f.db + "_moved"
	var d console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "live_move", Instance: "test", Database: target,
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders"}, Fence: "accounts",
			Accounts: []string{user + "@%"}, Reverse: true}}, &d); st != http.StatusCreated {
		t.Fatalf("submit: %d %+v", st, d)
	}
	if d.Migration == nil || !d.Migration.Reverse {
		t.Fatalf("live move %+v", d.Migration)
	}
	id := fmt.Sprint(d.ID)
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS `" + target + "`") })
	if st := f.call("bob", "POST", "/api/tickets/"+id+"/approve", nil, &d); st != http.StatusOK {
		t.Fatalf("approve: %d %+v", st, d)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.engine.Run(ctx) }()
	defer func() { stop(); <-done }()
	wait := func(state string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			d = console.TicketDetail{}
			f.call("alice", "GET", "/api/tickets/"+id, nil, &d)
			if d.State == state && d.Progress != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ticket #%s: %s %q, progress %+v, want %s", id, d.State, d.Error, d.Progress, state)
			}
		}
	}
	wait("awaiting_cutover")
	sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`orders` TO '%s'@'%%'", target, user))
	for attempt := 1; ; attempt++ {
		if st := f.call("dba", "POST", "/api/tickets/"+id+"/cutover", console.ActionRequest{Comment: "go"}, &d); st != http.StatusOK {
			t.Fatalf("cutover: %d %s %q", st, d.State, d.Error)
		}
		for d.State == "cutting_over" {
			time.Sleep(50 * time.Millisecond)
			f.call("alice", "GET", "/api/tickets/"+id, nil, &d)
		}
		if d.State != "awaiting_cutover" || attempt == 10 {
			break
		}
	}
	wait("rollback_window")
	if d.Report == nil || d.Report.Cutover == nil || d.Progress.Phase == "" {
		t.Fatalf("in the rollback window: report %+v, progress %+v", d.Report, d.Progress)
	}
	if len(d.Actions) != 0 {
		t.Fatalf("alice, the submitter, may %v in the rollback window", d.Actions)
	}
	var bobs console.TicketDetail
	if f.call("bob", "GET", "/api/tickets/"+id, nil, &bobs); !slices.Equal(bobs.Actions, []string{"cutback", "endwindow"}) {
		t.Fatalf("bob's actions in the rollback window: %v", bobs.Actions)
	}
	if page := f.get("bob", "/tickets/"+id); !strings.Contains(page, `id="window-note"`) || !strings.Contains(page, `id="action-cutback"`) ||
		!strings.Contains(page, `id="action-endwindow"`) {
		t.Fatalf("page of the rollback window:\n%s", page)
	}
	f.wantError(http.StatusForbidden, "self_approval", "alice", "POST", "/api/tickets/"+id+"/cutback", nil)
	f.wantError(http.StatusForbidden, "self_approval", "alice", "POST", "/api/tickets/"+id+"/endwindow", nil)
	f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/cutback", nil)
	f.wantError(http.StatusConflict, "impossible_transition", "dba", "POST", "/api/tickets/"+id+"/cancel", nil)
	if st := f.call("bob", "POST", "/api/tickets/"+id+"/endwindow", console.ActionRequest{Comment: "keep it"}, &d); st != http.StatusOK || d.State != "ending_window" && d.State != "succeeded" {
		t.Fatalf("endwindow: %d %s %q", st, d.State, d.Error)
	}
	wait("succeeded")
	if d.Report == nil || d.Report.Cutover == nil || d.CutBack != nil {
		t.Fatalf("after the window: report %+v, cut-back %+v", d.Report, d.CutBack)
	}
	if last := d.Audit[len(d.Audit)-1]; !strings.HasPrefix(last.Comment, "rollback window closed without a cut-back") {
		t.Fatalf("last audit entry %+v", last)
	}
	// The openapi document names the new actions.
	if doc := f.get("bob", "/api/openapi.json"); !strings.Contains(doc, "/api/tickets/{id}/cutback") || !strings.Contains(doc, "/api/tickets/{id}/endwindow") {
		t.Fatal("the OpenAPI document lacks cutback or endwindow")
	}
}
