package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// TestBrowserMigration, in chromium: alice fills the submit form for a
// data migration of two tables and lands on its ticket, whose tables show
// as pending sub-tasks; once approved and run, one table fails: the page
// shows each table's state, rows and error, with a retry button on the
// failed one only; alice retries it and watches the ticket succeed.
func TestBrowserMigration(t *testing.T) {
	f, throttle := migrationFixture(t, workflow.NewMemoryStore(), console.DemoUsers{
		"alice": {console.RoleEngineer}, "bob": {console.RoleReviewer}})
	ctx := browser(t) // after the fixture: closed before its server, which waits for the page's event stream
	dir := screenshots(t)
	base := f.srv.URL + "/console"

	do(t, ctx, "fill the migration form", signIn(base, "alice"),
		chromedp.Navigate(base+"/submit"),
		chromedp.WaitVisible(chromedp.ID("kind")),
		chromedp.SetValue(chromedp.ID("kind"), "data_migration"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("kind").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.ID("source-database")),
		chromedp.SendKeys(chromedp.ID("title"), "copy orders and notes"),
		chromedp.SetValue(chromedp.ID("instance"), "test"),
		chromedp.SendKeys(chromedp.ID("database"), f.db+"_web"),
		chromedp.SetValue(chromedp.ID("source-instance"), "test"),
		chromedp.SendKeys(chromedp.ID("source-database"), f.db),
		chromedp.SendKeys(chromedp.ID("tables"), "orders, notes"),
	)
	sqlHidden := get(t, ctx, "sql hidden", chromedp.Evaluate[bool](`document.getElementById("sql").closest("[hidden]") !== null`))
	if !sqlHidden {
		t.Errorf("the SQL editor shows for a data migration")
	}
	shot(t, ctx, dir, "m1-form")
	do(t, ctx, "submit", chromedp.Click(chromedp.ID("submit-button")), chromedp.WaitVisible(chromedp.ID("subtasks")))
	shot(t, ctx, dir, "m2-submitted")
	state := get(t, ctx, "state", chromedp.Text(chromedp.ID("state")))
	facts := get(t, ctx, "facts", chromedp.Text(chromedp.CSS("dl.facts")))
	tables := get(t, ctx, "tables", chromedp.Text(chromedp.ID("subtasks")))
	if state != "pending_approval" || !strings.Contains(facts, "test / "+f.db+" (orders, notes), copier") || strings.Count(tables, "pending") != 2 {
		t.Fatalf("submitted: state %q, facts %q, tables %q", state, facts, tables)
	}
	location := get(t, ctx, "location", chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(location[strings.LastIndex(location, "/")+1:], "%d", &id); err != nil {
		t.Fatalf("location %s: %v", location, err)
	}

	// Approved and run, notes fails.
	if _, err := f.engine.Approve(t.Context(), id, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	// The page reloads itself (a reload of ours could abort its own).
	do(t, ctx, "the failed ticket", chromedp.WaitVisible(chromedp.CSS(`#state.state-failed`)))
	shot(t, ctx, dir, "m3-failed-table")
	rows := get(t, ctx, "sub-tasks", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#subtasks tbody tr")].map(r => [...r.cells].map(c => c.textContent.trim()).join("|"))`))
	buttons := get(t, ctx, "retry buttons", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#subtasks button")].map(b => b.dataset.table)`))
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "orders|done|20") || !strings.HasPrefix(rows[1], "notes|failed|0") ||
		!strings.Contains(rows[1], "replica lag too high") || len(buttons) != 1 || buttons[0] != "notes" {
		t.Fatalf("sub-tasks %q, retry buttons %q", rows, buttons)
	}

	// alice retries notes alone; it is copied and the ticket succeeds.
	throttle.on.Store(false)
	do(t, ctx, "retry notes", chromedp.Click(chromedp.CSS(`#subtasks button[data-table="notes"]`)), chromedp.WaitVisible(chromedp.CSS(`#state.state-queued`)))
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	do(t, ctx, "the retried ticket", chromedp.WaitVisible(chromedp.CSS(`#state.state-succeeded`)))
	shot(t, ctx, dir, "m4-retried")
	rows = get(t, ctx, "sub-tasks", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#subtasks tbody tr")].map(r => [...r.cells].map(c => c.textContent.trim()).join("|"))`))
	audit := get(t, ctx, "audit", chromedp.Text(chromedp.ID("audit")))
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "orders|done|20") || !strings.HasPrefix(rows[1], "notes|done|5") || !strings.Contains(audit, "retry_table") {
		t.Fatalf("after the retry: sub-tasks %q, audit %s", rows, audit)
	}
	t.Logf("screenshots in %s", dir)
}
