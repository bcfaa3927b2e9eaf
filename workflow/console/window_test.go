package console_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// appUser creates the application's account of a live move with a
// rollback window, fenced by the cutover on the source database and by a
// cut-back on the target (both on servers[0]), with its grants on the
// source's orders, and returns its name.
func appUser(t *testing.T, database string) string {
	t.Helper()
	root := sandboxtest.Open(t, servers[0], "")
	user := "app_" + database
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	grantOrders(t, user, database)
	return user
}

// grantOrders grants user its writes on database's orders, which must
// exist.
func grantOrders(t *testing.T, user, database string) {
	t.Helper()
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], ""), fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`orders` TO '%s'@'%%'", database, user))
}

// dropLater drops database at the end of the test.
func dropLater(t *testing.T, database string) {
	root := sandboxtest.Open(t, servers[0], "")
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS `" + database + "`") })
}

// windowFixture is a console over a live move with a rollback window,
// cut over: see openWindow.
type windowFixture struct {
	*fixture
	id     string // the ticket's
	target string // database
}

// wait waits until the ticket, as alice sees it, is in state, with a
// progress unless it succeeded (a window closed at once has none), and
// returns it.
func (w *windowFixture) wait(t *testing.T, state string) console.TicketDetail {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var d console.TicketDetail
		w.call("alice", "GET", "/api/tickets/"+w.id, nil, &d)
		if d.State == state && (d.Progress != nil || state == "succeeded") {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket #%s: %s %q, progress %+v, want %s", w.id, d.State, d.Error, d.Progress, state)
		}
	}
}

// openWindow submits a live move with a reverse sync as alice, has bob
// approve it and the dba cut it over, while the engine runs until the
// test ends, and returns it in its rollback window.
func openWindow(t *testing.T) (*windowFixture, console.TicketDetail) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), identity, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond)})
	user := appUser(t, f.db)
	w := &windowFixture{fixture: f, target: f.db + "_moved"}
	var d console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "live_move", Instance: "test", Database: w.target,
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders"}, Fence: "accounts",
			Accounts: []string{user + "@%"}, Reverse: true}}, &d); st != http.StatusCreated {
		t.Fatalf("submit: %d %+v", st, d)
	}
	if d.Migration == nil || !d.Migration.Reverse {
		t.Fatalf("live move %+v", d.Migration)
	}
	w.id = fmt.Sprint(d.ID)
	dropLater(t, w.target)
	if st := f.call("bob", "POST", "/api/tickets/"+w.id+"/approve", nil, &d); st != http.StatusOK {
		t.Fatalf("approve: %d %+v", st, d)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.engine.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	w.wait(t, "awaiting_cutover")
	grantOrders(t, user, w.target)
	for attempt := 1; ; attempt++ {
		if st := f.call("dba", "POST", "/api/tickets/"+w.id+"/cutover", console.ActionRequest{Comment: "go"}, &d); st != http.StatusOK {
			t.Fatalf("cutover: %d %s %q", st, d.State, d.Error)
		}
		for d.State == "cutting_over" {
			time.Sleep(50 * time.Millisecond)
			f.call("alice", "GET", "/api/tickets/"+w.id, nil, &d)
		}
		if d.State != "awaiting_cutover" || attempt == 10 {
			break
		}
	}
	return w, w.wait(t, "rollback_window")
}

// TestRollbackWindow: a live move submitted with a reverse sync cuts
// over into its rollback window; the detail offers cutback and endwindow
// to a reviewer of its last step only, never cancel; its submitter and
// an engineer are refused both; the reviewer closes the window and the
// ticket succeeds with the cutover's report.
func TestRollbackWindow(t *testing.T) {
	f, d := openWindow(t)
	id := f.id
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
	d = f.wait(t, "succeeded")
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

// TestSourceFenced: DDL on the target stops a live move's reverse sync;
// the ticket shows source_fenced with its error and a note, and offers
// retry and endwindow to a reviewer of its last step only; the reviewer
// closes the window and the ticket succeeds.
func TestSourceFenced(t *testing.T) {
	f, _ := openWindow(t)
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], f.target), "ALTER TABLE orders ADD COLUMN extra INT NULL")
	d := f.wait(t, "source_fenced")
	if !strings.Contains(d.Error, "the source stays fenced") || len(d.Actions) != 0 {
		t.Fatalf("source_fenced: %q, alice's actions %v", d.Error, d.Actions)
	}
	var bobs console.TicketDetail
	if f.call("bob", "GET", "/api/tickets/"+f.id, nil, &bobs); !slices.Equal(bobs.Actions, []string{"retry", "endwindow"}) {
		t.Fatalf("bob's actions in source_fenced: %v", bobs.Actions)
	}
	if page := f.get("bob", "/tickets/"+f.id); !strings.Contains(page, `id="fenced-note"`) || !strings.Contains(page, `id="action-retry"`) ||
		!strings.Contains(page, `id="action-endwindow"`) {
		t.Fatalf("page of the stopped window:\n%s", page)
	}
	f.wantError(http.StatusForbidden, "self_approval", "alice", "POST", "/api/tickets/"+f.id+"/retry", nil)
	f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+f.id+"/endwindow", nil)
	f.wantError(http.StatusConflict, "impossible_transition", "dba", "POST", "/api/tickets/"+f.id+"/cancel", nil)
	if st := f.call("bob", "POST", "/api/tickets/"+f.id+"/endwindow", console.ActionRequest{Comment: "keep it"}, &d); st != http.StatusOK || d.State != "queued" {
		t.Fatalf("endwindow: %d %s %q", st, d.State, d.Error)
	}
	d = f.wait(t, "succeeded")
	if last := d.Audit[len(d.Audit)-1]; d.Error != "" || !strings.Contains(last.Comment, "carried over: rollback window closed without a cut-back") {
		t.Fatalf("after the window: %q, last audit entry %+v", d.Error, last)
	}
}

// TestBrowserRollbackWindow, in chromium: alice files a live move with a
// rollback window through the submit form; bob approves it and cuts it
// over; in the window, alice sees neither cutback nor endwindow nor
// cancel; bob sees the window's note and its buttons, presses cutback, and
// watches the ticket succeed with the cut-back's report.
func TestBrowserRollbackWindow(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), demoUsers, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond)})
	ctx := browser(t) // after the fixture: closed before its server, which waits for the page's event stream
	dir := screenshots(t)
	base := f.srv.URL + "/console"
	user := appUser(t, f.db)
	target := f.db + "_moved"
	dropLater(t, target)

	do(t, ctx, "fill the live move form", signIn(base, "alice"),
		chromedp.Navigate(base+"/submit"),
		chromedp.WaitVisible(chromedp.ID("kind")),
		chromedp.SetValue(chromedp.ID("kind"), "live_move"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("kind").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.ID("reverse")),
		chromedp.SendKeys(chromedp.ID("title"), "move orders, with a way back"),
		chromedp.SetValue(chromedp.ID("instance"), "test"),
		chromedp.SendKeys(chromedp.ID("database"), target),
		chromedp.SetValue(chromedp.ID("source-instance"), "test"),
		chromedp.SendKeys(chromedp.ID("source-database"), f.db),
		chromedp.SendKeys(chromedp.ID("tables"), "orders"),
		chromedp.SetValue(chromedp.ID("fence"), "accounts"),
		chromedp.SendKeys(chromedp.ID("accounts"), user+"@%"),
		chromedp.Click(chromedp.ID("reverse")),
	)
	do(t, ctx, "submit", chromedp.Click(chromedp.ID("submit-button")), chromedp.WaitVisible(chromedp.CSS(`#state.state-pending_approval`)))
	location := get(t, ctx, "location", chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(location[strings.LastIndex(location, "/")+1:], "%d", &id); err != nil {
		t.Fatalf("location %s: %v", location, err)
	}
	if d, err := f.engine.Get(t.Context(), id); err != nil || d.Ticket.Migration == nil || !d.Ticket.Migration.Reverse {
		t.Fatalf("submitted: %+v, %v", d, err)
	}
	// Off the ticket's page, which reloads itself as the ticket moves.
	do(t, ctx, "the list", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("tickets")))
	if _, err := f.engine.Approve(t.Context(), id, "bob", ""); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.engine.Run(runCtx) }()
	defer func() { stop(); <-done }()
	page := fmt.Sprintf("%s/tickets/%d", base, id)

	waitState(t, f.engine, id, workflow.StateAwaitingCutover)
	grantOrders(t, user, target)
	if _, err := f.engine.Cutover(t.Context(), id, "bob", "go"); err != nil {
		t.Fatal(err)
	}
	waitState(t, f.engine, id, workflow.StateRollbackWindow)
	do(t, ctx, "alice opens the ticket", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#state.state-rollback_window`)))
	if n := get(t, ctx, "alice's buttons", chromedp.Evaluate[int](`document.querySelectorAll("#action-cutback, #action-endwindow, #action-cancel").length`)); n != 0 {
		t.Fatalf("alice, the submitter, has %d cutback, endwindow or cancel button(s)", n)
	}
	// The cut-back needs the reverse sync in sync.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		d, err := f.engine.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p := d.Ticket.Progress; p != nil && p.Phase == migrate.PhaseInSync {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reverse sync is not in sync: %+v", d.Ticket.Progress)
		}
	}
	do(t, ctx, "bob opens the ticket", signIn(base, "bob"), chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("action-cutback")),
		chromedp.WaitVisible(chromedp.ID("action-endwindow")))
	if note := get(t, ctx, "note", chromedp.Text(chromedp.ID("window-note"))); !strings.Contains(note, "switches the application back to the source") {
		t.Errorf("window note %q", note)
	}
	shot(t, ctx, dir, "w1-rollback-window")
	do(t, ctx, "cut back", chromedp.SendKeys(chromedp.ID("comment"), "back please"), chromedp.Click(chromedp.ID("action-cutback")),
		chromedp.WaitNotPresent(chromedp.ID("action-cutback")))
	waitState(t, f.engine, id, workflow.StateSucceeded)
	do(t, ctx, "the ticket cut back", chromedp.WaitVisible(chromedp.CSS(`#state.state-succeeded`)), chromedp.WaitVisible(chromedp.ID("cutback")))
	shot(t, ctx, dir, "w2-cut-back")
	report := get(t, ctx, "cut-back report", chromedp.Text(chromedp.ID("cutback")))
	audit := get(t, ctx, "audit", chromedp.Text(chromedp.ID("audit")))
	if !strings.Contains(report, "writes paused on the target for") || !strings.Contains(report, "1 table(s)") {
		t.Errorf("cut-back report %q", report)
	}
	if !strings.Contains(audit, "cutback") || !strings.Contains(audit, "back please") || !strings.Contains(audit, "cut back: ") {
		t.Errorf("audit trail without bob's cut-back: %s", audit)
	}
	t.Logf("screenshots in %s", dir)
}
