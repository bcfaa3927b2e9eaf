package workflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// TestSQLChangeOnlineAlterCanceled: a SQL-change ticket whose kind runs
// ALTERs through an OnlineAlter (migrate.WithOnlineAlter) shows the
// method and why on its result and the online copy in its progress;
// canceling the ticket aborts the change: the table keeps its definition
// and no shadow table is left.
func TestSQLChangeOnlineAlterCanceled(t *testing.T) {
	ctx := t.Context()
	testDB, tdb := shopDB(t, servers[1], 2000)
	held, err := migrate.NewLoadThrottler(servers[1].DSN(""), migrate.LoadLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.Pause() // the copy waits here until the ticket is canceled
	e := newEngine(t, workflow.NewMemoryStore(), nil, workflow.WithKind(workflow.KindSQLChange,
		workflow.SQLChangeKind(migrate.WithOnlineAlter(migrate.WithNativeMethod(0), migrate.WithThrottler(held), migrate.WithChunkRows(100)))))
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "ALTER TABLE orders MODIFY amount BIGINT NOT NULL"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", "ok"); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	defer func() { stop(); <-done }()
	d := waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool {
		return len(tk.Results) == 1 && tk.Results[0].Method != "" && tk.Progress != nil && tk.Progress.Phase == migrate.PhaseCopying
	})
	if r := d.Ticket.Results[0]; r.Method != "online" || !strings.Contains(r.MethodWhy, "COPY") {
		t.Fatalf("method %q (%s), want online for a COPY", r.Method, r.MethodWhy)
	}
	if _, err := e.Cancel(ctx, tk.ID, "alice", "stop it"); err != nil {
		t.Fatal(err)
	}
	d = waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool { return tk.Results[0].Status == migrate.StatementFailed })
	if d.Ticket.State != workflow.StateCanceled {
		t.Fatalf("state %s", d.Ticket.State)
	}
	var typ string
	if err := tdb.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'amount'", testDB).Scan(&typ); err != nil || typ != "int(11)" {
		t.Fatalf("amount is %q (%v) after the cancel, want int(11)", typ, err)
	}
	var left int
	if err := tdb.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT IN ('orders', 'notes')", testDB).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d helper table(s) left (%v)", left, err)
	}
}
