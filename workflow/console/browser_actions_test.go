package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// demoUsers are the browser tests' users: alice and carol engineers, bob
// a reviewer of the dba group.
var demoUsers = console.DemoUsers{"alice": {console.RoleEngineer}, "carol": {console.RoleEngineer}, "bob": {console.RoleReviewer}}

// TestBrowserCutover, in chromium: alice files a live move through the
// submit form; approved by bob, it runs until it is in sync; alice, its
// submitter, sees no cutover button; bob sees it, presses it, and watches
// the ticket succeed with the cutover's report and the cutover in the
// audit trail.
func TestBrowserCutover(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), demoUsers, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond)})
	ctx := browser(t) // after the fixture: closed before its server, which waits for the page's event stream
	dir := screenshots(t)
	base := f.srv.URL + "/console"

	do(t, ctx, "fill the live move form", signIn(base, "alice"),
		chromedp.Navigate(base+"/submit"),
		chromedp.WaitVisible(chromedp.ID("kind")),
		chromedp.SetValue(chromedp.ID("kind"), "live_move"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("kind").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.ID("fence")),
		chromedp.SendKeys(chromedp.ID("title"), "move orders"),
		chromedp.SetValue(chromedp.ID("instance"), "test"),
		chromedp.SendKeys(chromedp.ID("database"), f.db+"_moved"),
		chromedp.SetValue(chromedp.ID("source-instance"), "test"),
		chromedp.SendKeys(chromedp.ID("source-database"), f.db),
		chromedp.SendKeys(chromedp.ID("tables"), "orders"),
	)
	methodHidden := get(t, ctx, "method hidden", chromedp.Evaluate[bool](`document.getElementById("method").closest("[hidden]") !== null`))
	if !methodHidden {
		t.Errorf("the copy method shows for a live move")
	}
	do(t, ctx, "submit", chromedp.Click(chromedp.ID("submit-button")), chromedp.WaitVisible(chromedp.CSS(`#state.state-pending_approval`)))
	facts := get(t, ctx, "facts", chromedp.Text(chromedp.CSS("dl.facts")))
	if !strings.Contains(facts, "live_move") || !strings.Contains(facts, "test / "+f.db+" (orders), sync") {
		t.Fatalf("submitted live move: %q", facts)
	}
	location := get(t, ctx, "location", chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(location[strings.LastIndex(location, "/")+1:], "%d", &id); err != nil {
		t.Fatalf("location %s: %v", location, err)
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
	do(t, ctx, "alice opens the ticket", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#state.state-awaiting_cutover`)))
	if n := get(t, ctx, "alice's cutover buttons", chromedp.Evaluate[int](`document.querySelectorAll("#action-cutover").length`)); n != 0 {
		t.Fatalf("alice, the submitter, has %d cutover button(s)", n)
	}
	do(t, ctx, "bob opens the ticket", signIn(base, "bob"), chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("action-cutover")))
	note := get(t, ctx, "note", chromedp.Text(chromedp.ID("cutover-note")))
	if !strings.Contains(note, "cutover button below approves") {
		t.Errorf("cutover note %q", note)
	}
	shot(t, ctx, dir, "c1-in-sync")
	do(t, ctx, "cut over", chromedp.SendKeys(chromedp.ID("comment"), "go ahead"), chromedp.Click(chromedp.ID("action-cutover")),
		chromedp.WaitNotPresent(chromedp.ID("action-cutover")))
	waitState(t, f.engine, id, workflow.StateSucceeded)
	do(t, ctx, "the moved ticket", chromedp.WaitVisible(chromedp.CSS(`#state.state-succeeded`)), chromedp.WaitVisible(chromedp.ID("cutover")))
	shot(t, ctx, dir, "c2-cut-over")
	report := get(t, ctx, "cutover report", chromedp.Text(chromedp.ID("cutover")))
	audit := get(t, ctx, "audit", chromedp.Text(chromedp.ID("audit")))
	if !strings.Contains(report, "writes paused on the source for") || !strings.Contains(report, "1 table(s)") {
		t.Errorf("cutover report %q", report)
	}
	if !strings.Contains(audit, "cutover") || !strings.Contains(audit, "go ahead") {
		t.Errorf("audit trail without bob's cutover: %s", audit)
	}
	t.Logf("screenshots in %s", dir)
}

// TestBrowserRollback, in chromium: a SQL change run with rollback SQL
// offers carol a rollback button; pressing it files the rollback as a new
// ticket and opens it; bob approves it and it runs, restoring the rows.
func TestBrowserRollback(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), demoUsers,
		[]workflow.Option{workflow.WithKind(workflow.KindSQLChange, workflow.SQLChangeKind(migrate.WithRollbackSQL(930002, 0)))})
	tk, err := f.engine.Submit(t.Context(), workflow.Request{Kind: workflow.KindSQLChange, Title: "reprice", Submitter: "alice", Instance: "test",
		Database: f.db, SQL: "UPDATE orders SET amount = 100 WHERE id = 3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Approve(t.Context(), tk.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	ctx := browser(t)
	dir := screenshots(t)
	base := f.srv.URL + "/console"

	do(t, ctx, "carol opens the ticket", signIn(base, "carol"), chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", base, tk.ID)),
		chromedp.WaitVisible(chromedp.ID("action-rollback")))
	rollbackSQL := get(t, ctx, "rollback SQL", chromedp.Text(chromedp.ID("rollback-sql")))
	shot(t, ctx, dir, "r1-succeeded")
	do(t, ctx, "file the rollback", chromedp.Click(chromedp.ID("action-rollback")),
		chromedp.WaitVisible(chromedp.CSS(`#state.state-pending_approval`)))
	shot(t, ctx, dir, "r2-rollback-ticket")
	title := get(t, ctx, "title", chromedp.Text(chromedp.CSS("h1")))
	sqlText := get(t, ctx, "sql", chromedp.Text(chromedp.ID("ticket-sql")))
	approve := get(t, ctx, "carol's approve buttons", chromedp.Evaluate[int](`document.querySelectorAll("#action-approve").length`))
	if !strings.Contains(title, fmt.Sprintf("rollback of #%d reprice", tk.ID)) || strings.TrimSpace(sqlText) != strings.TrimSpace(rollbackSQL) || approve != 0 {
		t.Fatalf("rollback ticket: title %q, SQL %q (want %q), %d approve button(s) for its submitter", title, sqlText, rollbackSQL, approve)
	}
	location := get(t, ctx, "location", chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(location[strings.LastIndex(location, "/")+1:], "%d", &id); err != nil || id == tk.ID {
		t.Fatalf("location %s: %v", location, err)
	}

	do(t, ctx, "bob approves", signIn(base, "bob"), chromedp.Navigate(location),
		chromedp.Click(chromedp.ID("action-approve")), chromedp.WaitVisible(chromedp.CSS(`#state.state-queued`)))
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	do(t, ctx, "the rollback ran", chromedp.WaitVisible(chromedp.CSS(`#state.state-succeeded`)))
	shot(t, ctx, dir, "r3-rolled-back")
	d, err := f.engine.Get(t.Context(), id)
	if err != nil || d.Ticket.Submitter != "carol" || d.Ticket.Kind != workflow.KindSQLChange {
		t.Fatalf("rollback ticket %+v, %v", d, err)
	}
	var amount int
	if err := sandboxtest.Open(t, servers[0], f.db).QueryRow("SELECT amount FROM orders WHERE id = 3").Scan(&amount); err != nil || amount != 3 {
		t.Fatalf("after the rollback: amount %d, %v", amount, err)
	}
	t.Logf("screenshots in %s", dir)
}

// waitState waits until ticket id is in state want, failing t when it
// ends in another final state or takes longer than two minutes.
func waitState(t *testing.T, e *workflow.Engine, id int64, want workflow.State) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		d, err := e.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if tk := d.Ticket; tk.State == want {
			return
		} else if tk.State.Final() || time.Now().After(deadline) {
			t.Fatalf("ticket #%d: %s %q, want %s", id, tk.State, tk.Error, want)
		}
	}
}
