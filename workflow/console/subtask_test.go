package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// paused is the Copier's throttler of the migrations of
// migrationFixture: while it is on, the copy of table notes waits until
// the running ticket's stored progress shows orders done, then stops
// with errPaused (as a throttler does when a replica lags too far).
type paused struct {
	on     atomic.Bool
	engine *workflow.Engine
}

var errPaused = errors.New("replica lag too high")

func (p *paused) Throttle(ctx context.Context, table string) error {
	if table != "notes" || !p.on.Load() {
		return nil
	}
	for ctx.Err() == nil {
		running, err := p.engine.List(ctx, workflow.Filter{States: []workflow.State{workflow.StateRunning}})
		if err != nil {
			return err
		}
		for _, t := range running {
			if t.Progress != nil && slices.ContainsFunc(t.Progress.Tables, func(tp migrate.TableProgress) bool { return tp.Name == "orders" && tp.Done }) {
				return errPaused
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ctx.Err()
}

// migrationFixture is a console whose migrations copy through the
// throttler it returns (on); f.db has a table notes besides orders.
func migrationFixture(t testing.TB, store workflow.Store, ids console.Identifier) (*fixture, *paused) {
	t.Helper()
	p := &paused{}
	p.on.Store(true)
	f := newFixtureWith(t, store, ids, []workflow.Option{workflow.WithKind(workflow.KindDataMigration,
		workflow.DataMigrationKind(workflow.MigrationOptions{Copier: []migrate.CopierOption{migrate.WithThreads(2), migrate.WithThrottler(p),
			migrate.WithProgressInterval(50 * time.Millisecond)}}))})
	p.engine = f.engine
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], f.db), "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)",
		"INSERT INTO notes SELECT seq, CONCAT('note ', seq) FROM seq_1_to_5")
	return f, p
}

// failedMigration submits as alice a migration of orders and notes from
// f.db, approves it as bob and runs it: notes fails.
func failedMigration(f *fixture) string {
	f.t.Helper()
	var d console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "data_migration", Instance: "test", Database: f.db + "_retry",
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders", "notes"}}}, &d); st != http.StatusCreated {
		f.t.Fatalf("submit: %d %+v", st, d)
	}
	id := fmt.Sprint(d.ID)
	if st := f.call("bob", "POST", "/api/tickets/"+id+"/approve", nil, nil); st != http.StatusOK {
		f.t.Fatalf("approve: %d", st)
	}
	if ran, err := f.engine.RunOnce(f.t.Context()); !ran || err != nil {
		f.t.Fatal(ran, err)
	}
	return id
}

func tableText(d console.TicketDetail) string {
	var parts []string
	for _, tk := range d.Tables {
		parts = append(parts, fmt.Sprintf("%s=%s/%d/%v", tk.Name, tk.State, tk.Rows, tk.Retry))
	}
	return strings.Join(parts, " ")
}

// TestTableRetry: a migration's tables are sub-tasks in the detail, each
// with its state, rows and whether the caller may retry it; the failed
// one is retried alone by its submitter (not by another engineer, and a
// done table not at all), and the ticket then succeeds.
func TestTableRetry(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f, throttle := migrationFixture(t, store(t), identity)
			id := failedMigration(f)
			var d console.TicketDetail
			f.call("alice", "GET", "/api/tickets/"+id, nil, &d)
			if d.State != "failed" || tableText(d) != "orders=done/20/false notes=failed/0/true" || !strings.Contains(d.Tables[1].Error, "replica lag too high") {
				t.Fatalf("failed migration: %s %q, tables %s %+v", d.State, d.Error, tableText(d), d.Tables)
			}
			var hers console.TicketDetail
			f.call("carol", "GET", "/api/tickets/"+id, nil, &hers)
			if tableText(hers) != "orders=done/20/false notes=failed/0/false" {
				t.Fatalf("as carol: %s", tableText(hers))
			}
			f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/tables/notes/retry", nil)
			f.wantError(http.StatusConflict, "not_retryable", "alice", "POST", "/api/tickets/"+id+"/tables/orders/retry", nil)

			throttle.on.Store(false)
			d = console.TicketDetail{}
			if st := f.call("alice", "POST", "/api/tickets/"+id+"/tables/notes/retry", console.ActionRequest{Comment: "lag is back down"}, &d); st != http.StatusOK ||
				d.State != "queued" || tableText(d) != "orders=done/20/false notes=pending/0/false" {
				t.Fatalf("retry: %d %s %s", st, d.State, tableText(d))
			}
			f.wantError(http.StatusConflict, "impossible_transition", "alice", "POST", "/api/tickets/"+id+"/tables/notes/retry", nil)
			if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
				t.Fatal(ran, err)
			}
			d = console.TicketDetail{}
			f.call("alice", "GET", "/api/tickets/"+id, nil, &d)
			if d.State != "succeeded" || tableText(d) != "orders=done/20/false notes=done/5/false" || d.Tables[1].Retries != 1 ||
				d.Verification == nil || !d.Verification.Clean || len(d.Verification.Tables) != 2 {
				t.Fatalf("after the retry: %s %q, tables %s, verification %+v", d.State, d.Error, tableText(d), d.Verification)
			}
			var audit []string
			for _, a := range d.Audit {
				audit = append(audit, a.Actor+":"+a.Action+":"+a.Comment)
			}
			if !slices.Contains(audit, "alice:retry_table:lag is back down") {
				t.Errorf("audit %v", audit)
			}
		})
	}
}

// TestRollbackSQL: a SQL change run with rollback SQL shows each
// statement's rollback and the script's, last statement first; the
// submit page offers it as a new SQL change on the same target.
func TestRollbackSQL(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), identity,
		[]workflow.Option{workflow.WithKind(workflow.KindSQLChange, workflow.SQLChangeKind(migrate.WithRollbackSQL(930001, 0)))})
	d := f.submit("alice", "test", "UPDATE orders SET amount = 100 WHERE id = 1;\nDELETE FROM orders WHERE id = 2")
	id := fmt.Sprint(d.ID)
	f.call("bob", "POST", "/api/tickets/"+id+"/approve", nil, nil)
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	f.call("alice", "GET", "/api/tickets/"+id, nil, &d)
	if d.State != "succeeded" || len(d.Results) != 2 || d.Results[0].Rollback == "" || d.Results[1].Rollback == "" {
		t.Fatalf("run: %s %q, results %+v", d.State, d.Error, d.Results)
	}
	if d.RollbackSQL != d.Results[1].Rollback+d.Results[0].Rollback {
		t.Fatalf("rollback %q", d.RollbackSQL)
	}
	page := f.get("alice", "/tickets/"+id)
	if !strings.Contains(page, `id="rollback-sql"`) || !strings.Contains(page, "/submit?rollback_of="+id) {
		t.Fatalf("detail page without the rollback:\n%s", page)
	}
	form := f.get("alice", "/submit?rollback_of="+id)
	if !strings.Contains(form, "rollback of #"+id) || !strings.Contains(form, "INSERT INTO") {
		t.Fatalf("submit page not filled with the rollback:\n%s", form)
	}

	// The API files it as a new SQL change, once per caller and ticket
	// without an idempotency key, reviewed and approved like any other.
	if !slices.Contains(d.Actions, "rollback") {
		t.Fatalf("actions %v without rollback", d.Actions)
	}
	var rb, again console.TicketDetail
	if st := f.call("carol", "POST", "/api/tickets/"+id+"/rollback", nil, &rb); st != http.StatusCreated {
		t.Fatalf("rollback: %d %+v", st, rb)
	}
	if rb.ID == d.ID || rb.Kind != "sql_change" || rb.Submitter != "carol" || rb.SQL != d.RollbackSQL || rb.Instance != "test" || rb.Database != f.db ||
		!strings.HasPrefix(rb.Title, "rollback of #"+id) || !slices.Equal(rb.CC, []string{"alice"}) || rb.State != "pending_approval" || rb.Review == nil {
		t.Fatalf("rollback ticket %+v", rb)
	}
	if st := f.call("carol", "POST", "/api/tickets/"+id+"/rollback", nil, &again); st != http.StatusOK || again.ID != rb.ID {
		t.Fatalf("rollback again: %d, ticket #%d, want #%d", st, again.ID, rb.ID)
	}
	rid := fmt.Sprint(rb.ID)
	if page := f.get("carol", "/tickets/"+rid); !strings.Contains(page, `<dd id="cc">alice</dd>`) {
		t.Fatalf("rollback ticket's page without its CC:\n%s", page)
	}
	f.wantError(http.StatusConflict, "no_rollback", "alice", "POST", "/api/tickets/"+rid+"/rollback", nil)
	f.wantError(http.StatusForbidden, "self_approval", "carol", "POST", "/api/tickets/"+rid+"/approve", nil)
	if st := f.call("bob", "POST", "/api/tickets/"+rid+"/approve", nil, nil); st != http.StatusOK {
		t.Fatalf("approve the rollback: %d", st)
	}
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	var amount, rows int
	db := sandboxtest.Open(t, servers[0], f.db)
	if err := db.QueryRow("SELECT (SELECT amount FROM orders WHERE id = 1), (SELECT COUNT(*) FROM orders)").Scan(&amount, &rows); err != nil || amount != 1 || rows != 20 {
		t.Fatalf("after the rollback: amount %d, %d rows, %v", amount, rows, err)
	}
}

// get fetches page path as user and returns its body.
func (f *fixture) get(user, path string) string {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), "GET", f.srv.URL+"/console"+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("X-User", user)
	req.Header.Set("X-Groups", users[user])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %d %v\n%s", path, res.StatusCode, err, b)
	}
	return string(b)
}

// TestLiveMovePhase: a live move's ticket shows its sync's phase in the
// API and on its page while it awaits the cutover, then the cutover's
// write pause.
func TestLiveMovePhase(t *testing.T) {
	f := newFixtureWith(t, workflow.NewMemoryStore(), identity, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond)})
	var d console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "live_move", Instance: "test", Database: f.db + "_moved",
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders"}, Method: workflow.MethodSync}}, &d); st != http.StatusCreated {
		t.Fatalf("submit: %d %+v", st, d)
	}
	id := fmt.Sprint(d.ID)
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
	if d.Progress.Phase != "in sync" || !strings.HasPrefix(d.Progress.Text, "in sync: ") || d.Progress.Percent != 100 {
		t.Fatalf("in sync: progress %+v", d.Progress)
	}
	page := f.get("alice", "/tickets/"+id)
	if !strings.Contains(page, `<strong id="phase">in sync</strong>`) || !strings.Contains(page, `id="cutover-note"`) {
		t.Fatalf("page without the phase:\n%s", page)
	}
	// The cutover is a reviewer's of the last step, never the submitter's.
	if slices.Contains(d.Actions, "cutover") {
		t.Fatalf("alice, the submitter, may cut over: %v", d.Actions)
	}
	var bobs console.TicketDetail
	if f.call("bob", "GET", "/api/tickets/"+id, nil, &bobs); !slices.Contains(bobs.Actions, "cutover") {
		t.Fatalf("bob may not cut over: %v", bobs.Actions)
	}
	f.wantError(http.StatusForbidden, "self_approval", "alice", "POST", "/api/tickets/"+id+"/cutover", nil)
	f.wantError(http.StatusForbidden, "forbidden", "carol", "POST", "/api/tickets/"+id+"/cutover", nil)
	if st := f.call("dba", "POST", "/api/tickets/"+id+"/cutover", console.ActionRequest{Comment: "go"}, &d); st != http.StatusOK || d.State != "cutting_over" && d.State != "succeeded" {
		t.Fatalf("cutover: %d %s %q", st, d.State, d.Error)
	}
	wait("succeeded")
	if d.Report == nil || d.Report.Cutover == nil || d.Report.Cutover.Method != "flush-tables" || d.Report.Cutover.VerifiedTables != 1 || d.Progress.Phase != "done" {
		t.Fatalf("after the cutover: report %+v, progress %+v", d.Report, d.Progress)
	}
	if page = f.get("alice", "/tickets/"+id); !strings.Contains(page, "writes paused on the source for") {
		t.Fatalf("page without the cutover:\n%s", page)
	}
}

// TestSubmitLiveMove: the submit page offers the kinds the engine
// accepts, SQL changes first; a live move's cutover fence goes through
// the API to the ticket.
func TestSubmitLiveMove(t *testing.T) {
	plain := newFixture(t, workflow.NewMemoryStore())
	if form := plain.get("alice", "/submit"); strings.Contains(form, `value="live_move"`) {
		t.Fatalf("submit page offers live moves to an engine without them:\n%s", form)
	}
	f := newFixtureWith(t, workflow.NewMemoryStore(), identity, []workflow.Option{
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas})})
	form := f.get("alice", "/submit")
	sqlAt, moveAt := strings.Index(form, `<option value="sql_change">`), strings.Index(form, `<option value="live_move">`)
	if sqlAt < 0 || moveAt < sqlAt || !strings.Contains(form, `id="fence"`) {
		t.Fatalf("submit page kinds:\n%s", form)
	}
	var d console.TicketDetail
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "live_move", Instance: "test", Database: f.db + "_moved",
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders"}, Fence: "accounts", Accounts: []string{"app@%"}}}, &d); st != http.StatusCreated {
		t.Fatalf("submit: %d %+v", st, d)
	}
	if m := d.Migration; m == nil || m.Method != workflow.MethodSync || m.Fence != "accounts" || !slices.Equal(m.Accounts, []string{"app@%"}) {
		t.Fatalf("live move %+v", d.Migration)
	}
	// The host's answer to a pending switch is stored with the ticket.
	if !strings.Contains(form, `id="pending-switch"`) {
		t.Fatalf("submit page without the pending switch:\n%s", form)
	}
	if st := f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "live_move", Instance: "test", Database: f.db + "_moved2",
		Migration: &console.Migration{SourceInstance: "test", SourceDatabase: f.db, Tables: []string{"orders"}, PendingSwitch: "finish"}}, &d); st != http.StatusCreated {
		t.Fatalf("submit with a pending switch: %d %+v", st, d)
	}
	if m := d.Migration; m == nil || m.PendingSwitch != "finish" {
		t.Fatalf("live move %+v", d.Migration)
	}
}
