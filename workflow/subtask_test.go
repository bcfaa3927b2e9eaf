package workflow_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// bigRowDB is shopDB with a table zz_big whose one row (17 MiB) exceeds
// the target's max_allowed_packet (16 MiB): its copy fails on the target
// only, after orders and notes are copied.
func bigRowDB(t testing.TB) string {
	t.Helper()
	name, db := shopDB(t, servers[0], 30)
	sandboxtest.Exec(t, db, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
	t.Cleanup(func() {
		if _, err := db.Exec("SET GLOBAL max_allowed_packet = 16 * 1024 * 1024"); err != nil {
			t.Error(err)
		}
	})
	big := sandboxtest.Open(t, servers[0], name) // a session with the new limit
	sandboxtest.Exec(t, big, "CREATE TABLE zz_big (id INT PRIMARY KEY, b LONGBLOB)",
		"INSERT INTO zz_big VALUES (1, REPEAT('x', 17 * 1024 * 1024))")
	return name
}

// runApproved submits r, has bob approve it and runs it; it returns the
// ticket once run.
func runApproved(t *testing.T, e *workflow.Engine, r workflow.Request) *workflow.Ticket {
	t.Helper()
	tk, err := e.Submit(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(t.Context(), tk.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if ran, err := e.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	return mustGet(t, e, tk.ID).Ticket
}

func tableStates(tasks []workflow.TableTask) string {
	var parts []string
	for _, tk := range tasks {
		parts = append(parts, tk.Name+"="+string(tk.State))
	}
	return strings.Join(parts, " ")
}

// TestRetryTable: a migration of three tables, one of which fails, on the
// MySQL store: each table is a sub-task with its own state, rows and
// error; the failed one is retried alone once its cause is fixed, and the
// ticket then succeeds with all three verified. The done table and a
// ticket copying a whole database cannot be retried alone.
func TestRetryTable(t *testing.T) {
	ctx := t.Context()
	store, _ := newMySQLStore(t)
	rec := &workflowtest.Recorder{}
	e := newEngine(t, store, rec)
	source := bigRowDB(t)
	target := sandboxtest.NewDatabase(t, servers[1], "wfretry")
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: source, Tables: []string{"orders", "notes", "zz_big"}, Method: workflow.MethodPipe}})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("submit: %+v, %v", tk, err)
	}
	if got := tableStates(tk.Subtasks()); got != "orders=pending notes=pending zz_big=pending" {
		t.Fatalf("sub-tasks before the run: %s", got)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatal(ran, err)
	}
	failed := mustGet(t, e, tk.ID).Ticket
	if failed.State != workflow.StateFailed || tableStates(failed.Tables) != "orders=done notes=done zz_big=failed" {
		t.Fatalf("first run: %s %q, tables %+v", failed.State, failed.Error, failed.Tables)
	}
	if big := failed.Tables[2]; big.Error == "" || failed.Tables[0].Rows != 30 || failed.Tables[1].Rows != 50 {
		t.Fatalf("tables %+v", failed.Tables)
	}

	if _, err := e.RetryTable(ctx, tk.ID, "orders", "alice", ""); !errors.Is(err, workflow.ErrNotRetryable) {
		t.Fatalf("retry of a done table: %v", err)
	}
	// The cause fixed on the source, zz_big alone is copied again.
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], source), "UPDATE zz_big SET b = 'small'")
	queued, err := e.RetryTable(ctx, tk.ID, "zz_big", "alice", "row shrunk")
	if err != nil || queued.State != workflow.StateQueued || queued.Error != "" || tableStates(queued.Tables) != "orders=done notes=done zz_big=pending" {
		t.Fatalf("retry: %+v, %v", queued, err)
	}
	if _, err := e.RetryTable(ctx, tk.ID, "zz_big", "alice", ""); !errors.Is(err, workflow.ErrTransition) {
		t.Fatalf("retry of a queued ticket: %v", err)
	}
	// The submitter and the CC list hear of the retry, as of a ticket's.
	evs := ticketEvents(t, rec, tk.ID, workflow.EventRetried)
	if ev := evs[len(evs)-1]; ev.Kind != workflow.EventRetried || ev.Actor != "alice" || ev.Comment != "row shrunk" ||
		ev.State != "queued" || !strings.Contains(ev.Detail, "table zz_big is copied again") || !slices.Equal(ev.Recipients, []string{"alice"}) {
		t.Fatalf("retry event %+v", ev)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatal(ran, err)
	}
	d := mustGet(t, e, tk.ID)
	done := d.Ticket
	if done.State != workflow.StateSucceeded || tableStates(done.Tables) != "orders=done notes=done zz_big=done" || done.Tables[2].Retries != 1 || done.Tables[2].Rows != 1 {
		t.Fatalf("after the retry: %s %q, tables %+v", done.State, done.Error, done.Tables)
	}
	if done.Report == nil || len(done.Report.Tables) != 1 || done.Verification == nil || !done.Verification.Clean() || len(done.Verification.Tables) != 3 {
		t.Fatalf("the retry's report %+v, verification %+v", done.Report, done.Verification)
	}
	if got := strings.Join(actions(d), " "); !strings.Contains(got, "fail>failed retry_table>queued start>running succeed>succeeded") {
		t.Fatalf("audit: %s", got)
	}

	// A whole database: its routines and events are not copied with a
	// table.
	whole := sandboxtest.NewDatabase(t, servers[1], "wfwhole")
	tk = runApproved(t, e, workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test", Database: whole,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: bigRowDB(t), Method: workflow.MethodPipe}})
	if tk.State != workflow.StateFailed || !strings.Contains(tableStates(tk.Tables), "zz_big=failed") {
		t.Fatalf("whole database: %s %q, tables %+v", tk.State, tk.Error, tk.Tables)
	}
	if _, err := e.RetryTable(ctx, tk.ID, "zz_big", "alice", ""); !errors.Is(err, workflow.ErrNotRetryable) || !strings.Contains(err.Error(), "whole database") {
		t.Fatalf("retry in a whole-database copy: %v", err)
	}
}

// planned is a copy that copies nothing, but plans and reports the tables
// of its ticket as copied.
type planned struct{ tables []string }

func (p planned) Plan(context.Context) (*migrate.Plan, error) {
	plan := &migrate.Plan{}
	for _, name := range p.tables {
		plan.Tables = append(plan.Tables, migrate.TablePlan{Name: name, TargetName: name})
	}
	return plan, nil
}

func (p planned) Run(context.Context, migrate.ProgressFunc) (*migrate.Report, error) {
	r := &migrate.Report{}
	for _, name := range p.tables {
		r.Tables = append(r.Tables, migrate.TableReport{Name: name, TargetName: name, Done: true})
	}
	return r, nil
}

// TestTableVerificationFails: a table whose verification finds
// differences after its copy is a failed sub-task, with the differences
// as its error; the others are done. A kind without TableRetry does not
// retry it alone.
func TestTableVerificationFails(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, workflow.NewMemoryStore(), nil, workflow.WithKind("planned", workflow.Verified(workflow.KindSpec{
		Executor: func(_ context.Context, t *workflow.Ticket, _ workflow.Endpoints) (migrate.Executor, error) {
			return planned{tables: t.Migration.Tables}, nil
		}})),
		workflow.WithChain("planned", workflow.Step{Name: "dba", Approver: dbas}))
	source, _ := shopDB(t, servers[0], 10)
	target, _ := shopDB(t, servers[1], 5) // orders differs; notes is the same
	tk := runApproved(t, e, workflow.Request{Kind: "planned", Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: source, Tables: []string{"orders", "notes"}}})
	if tk.State != workflow.StateFailed || tableStates(tk.Tables) != "orders=failed notes=done" || !strings.Contains(tk.Tables[0].Error, "verification: 5 row(s) differ") {
		t.Fatalf("%s %q, tables %+v", tk.State, tk.Error, tk.Tables)
	}
	if _, err := e.RetryTable(ctx, tk.ID, "orders", "alice", ""); !errors.Is(err, workflow.ErrNotRetryable) {
		t.Fatalf("retry in a kind without TableRetry: %v", err)
	}
}

// TestRetryTableAfterWindow: once a ticket's execution window closed, its
// failed tables are not retried (the retried ticket could not start).
func TestRetryTableAfterWindow(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	e := newEngine(t, workflow.NewMemoryStore(), nil, workflow.WithClock(func() time.Time { return *now.Load() }))
	tk := runApproved(t, e, workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test",
		Database: sandboxtest.NewDatabase(t, servers[1], "wfwindow"), Window: &workflow.Window{NotAfter: start.Add(time.Hour)},
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: bigRowDB(t), Tables: []string{"orders", "zz_big"}, Method: workflow.MethodPipe}})
	if tk.State != workflow.StateFailed || tableStates(tk.Tables) != "orders=done zz_big=failed" {
		t.Fatalf("%s %q, tables %+v", tk.State, tk.Error, tk.Tables)
	}
	later := start.Add(2 * time.Hour)
	now.Store(&later)
	if _, err := e.RetryTable(t.Context(), tk.ID, "zz_big", "alice", ""); !errors.Is(err, workflow.ErrNotRetryable) || !strings.Contains(err.Error(), "window closed") {
		t.Fatalf("retry after the window: %v", err)
	}
}
