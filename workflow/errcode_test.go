package workflow_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// failing is an executor whose run fails with its ticket's run function's
// error.
type failing struct {
	run func(ctx context.Context) error
}

func (failing) Plan(context.Context) (*migrate.Plan, error) { return &migrate.Plan{}, nil }
func (f failing) Run(ctx context.Context, _ migrate.ProgressFunc) (*migrate.Report, error) {
	return nil, f.run(ctx)
}

// lockWaitTimeout waits for a row of a table of servers[1] that another
// session holds, longer than its lock_wait_timeout: the server's error
// 1205.
func lockWaitTimeout(t *testing.T) func(ctx context.Context) error {
	name := sandboxtest.NewDatabase(t, servers[1], "wflock")
	db := sandboxtest.Open(t, servers[1], name)
	sandboxtest.Exec(t, db, "CREATE TABLE held (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO held VALUES (1, 0)")
	return func(ctx context.Context) error {
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer holder.Rollback() //nolint:errcheck // only releases the row
		if _, err := holder.ExecContext(ctx, "UPDATE held SET v = v + 1 WHERE id = 1"); err != nil {
			return err
		}
		waiter, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer waiter.Close()
		if _, err := waiter.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
			return err
		}
		_, err = waiter.ExecContext(ctx, "UPDATE held SET v = v + 1 WHERE id = 1")
		return fmt.Errorf("table held: %w", err)
	}
}

// TestTicketErrorIdentity: a ticket that failed keeps its error's
// identity through the MySQL store: read back by another Engine on
// another store, its Err matches the sentinels its run's error wrapped,
// and its code names them; an error of no known kind gets the generic
// code and matches none.
func TestTicketErrorIdentity(t *testing.T) {
	ctx := t.Context()
	store, name := newMySQLStore(t)
	runs := map[string]func(ctx context.Context) error{
		"not verified": func(context.Context) error {
			return fmt.Errorf("migrate: cutover: %w", fmt.Errorf("%w: 3 difference(s) in 1 table(s)", migrate.ErrNotVerified))
		},
		"purged": func(context.Context) error {
			return fmt.Errorf("migrate: source: %w: %w", migrate.ErrBinlogSettings, fmt.Errorf("binlog: server 1: %w", migrate.ErrBinlogPurged))
		},
		"schema change": func(context.Context) error {
			return fmt.Errorf("migrate: table `shop`.`orders`: %w: ALTER TABLE orders ADD c INT", migrate.ErrSchemaChange)
		},
		"running": func(context.Context) error {
			return fmt.Errorf("migrate: target database `shop`: %w: another copy into this database holds it", migrate.ErrRunning)
		},
		"lock wait": lockWaitTimeout(t),
		"unknown":   func(context.Context) error { return errors.New("disk on fire") },
	}
	e := newEngine(t, store, nil, workflow.WithKind("failing", workflow.KindSpec{
		Executor: func(_ context.Context, tk *workflow.Ticket, _ workflow.Endpoints) (migrate.Executor, error) {
			return failing{run: runs[tk.Title]}, nil
		}}),
		workflow.WithChain("failing", workflow.Step{Name: "dba", Approver: dbas}))
	ids := map[string]int64{}
	for title := range runs {
		tk, err := e.Submit(ctx, workflow.Request{Kind: "failing", Title: title, Submitter: "alice", Instance: "test", Database: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Approve(ctx, tk.ID, "bob", ""); err != nil {
			t.Fatal(err)
		}
		if ran, err := e.RunOnce(ctx); !ran || err != nil {
			t.Fatal(ran, err)
		}
		ids[title] = tk.ID
	}

	// Another process: a store on a pool of its own, an engine on it.
	other, err := workflow.NewMySQLStore(ctx, sandboxtest.Open(t, servers[0], name))
	if err != nil {
		t.Fatal(err)
	}
	reader := newEngine(t, other, nil)
	all := []error{migrate.ErrNotVerified, migrate.ErrBinlogSettings, migrate.ErrBinlogPurged, migrate.ErrSchemaChange, migrate.ErrRunning,
		&mysql.MySQLError{Number: 1205}, workflow.ErrReviewRefused}
	for _, tc := range []struct {
		title string
		code  workflow.ErrorCode
		is    []error
	}{
		{"not verified", workflow.CodeNotVerified, []error{migrate.ErrNotVerified}},
		{"purged", workflow.CodeBinlogPurged, []error{migrate.ErrBinlogSettings, migrate.ErrBinlogPurged}},
		{"schema change", workflow.CodeSchemaChange, []error{migrate.ErrSchemaChange}},
		{"running", workflow.CodeRunning, []error{migrate.ErrRunning}},
		{"lock wait", workflow.CodeLockWaitTimeout, []error{&mysql.MySQLError{Number: 1205}}},
		{"unknown", workflow.CodeOther, nil},
	} {
		tk := mustGet(t, reader, ids[tc.title]).Ticket
		err := tk.Err()
		if tk.State != workflow.StateFailed || tk.ErrorCode != tc.code || err == nil {
			t.Errorf("%s: %s, code %q, error %v", tc.title, tk.State, tk.ErrorCode, err)
			continue
		}
		for _, s := range all {
			want := false
			for _, w := range tc.is {
				want = want || s == w || errors.Is(w, s)
			}
			if errors.Is(err, s) != want {
				t.Errorf("%s: errors.Is(%v, %v) = %v", tc.title, err, s, !want)
			}
		}
		var te *workflow.TicketError
		if !errors.As(err, &te) || te.Ticket != tk.ID || te.Message != tk.Error || err.Error() != fmt.Sprintf("ticket #%d: %s", tk.ID, tk.Error) {
			t.Errorf("%s: %#v", tc.title, err)
		}
		if l, err := reader.List(ctx, workflow.Filter{ErrorCode: tc.code}); err != nil || len(l) != 1 || l[0].ID != tk.ID {
			t.Errorf("%s: List by code %s: %v, %v", tc.title, tc.code, l, err)
		}
	}
}

// TestErrorCodeOfOldTicket: a failed ticket stored before error codes
// existed reads back, after the store's upgrade, with its text, no code,
// and an error that matches no sentinel.
func TestErrorCodeOfOldTicket(t *testing.T) {
	ctx := t.Context()
	store, name := newMySQLStore(t)
	db := sandboxtest.Open(t, servers[0], name)
	tk, _, err := store.Create(ctx, &workflow.Ticket{Kind: workflow.KindSQLChange, Title: "old", Submitter: "alice", Instance: "prod", Database: "shop", SQL: "DO 1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Transition(ctx, workflow.Change{Ticket: tk.ID, Version: tk.Version, Action: workflow.ActionReview, To: workflow.StateReviewFailed, Actor: "system", At: time.Now(),
		Update: func(tk *workflow.Ticket) error { tk.Error = "review failed: old news"; return nil }}); err != nil {
		t.Fatal(err)
	}
	// The store as the library before error codes left it.
	sandboxtest.Exec(t, db, "ALTER TABLE shiftgate_tickets DROP KEY error_code_id, DROP COLUMN error_code",
		"UPDATE shiftgate_tickets SET body = JSON_REMOVE(body, '$.error_code')",
		"DELETE FROM shiftgate_schema_version WHERE version = 4")
	upgraded, err := workflow.NewMySQLStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	d, err := upgraded.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Ticket.Err()
	if d.Ticket.ErrorCode != "" || err == nil || errors.Is(err, workflow.ErrReviewRefused) || errors.Unwrap(err) != nil {
		t.Fatalf("old ticket: code %q, error %v", d.Ticket.ErrorCode, err)
	}
	var code string
	if err := db.QueryRowContext(ctx, "SELECT error_code FROM shiftgate_tickets WHERE id = ?", tk.ID).Scan(&code); err != nil || code != "" {
		t.Fatalf("error_code column of the old ticket: %q, %v", code, err)
	}
}

// TestErrorCodeOf: the registry's order puts the specific first, and a
// nil error has no code.
func TestErrorCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want workflow.ErrorCode
	}{
		{nil, ""},
		{fmt.Errorf("source: %w", migrate.ErrSnapshotPrivilege), workflow.CodeSnapshotPrivilege},
		{fmt.Errorf("source: %w", migrate.ErrPrivilege), workflow.CodePrivilege},
		{fmt.Errorf("%w: %w", migrate.ErrConnect, migrate.ErrTimeout), workflow.CodeTimeout},
		{fmt.Errorf("%w: %w", migrate.ErrBinlogSettings, migrate.ErrBinlogPositionAhead), workflow.CodeBinlogPositionAhead},
		{fmt.Errorf("%w: binlog_format is STATEMENT", migrate.ErrBinlogSettings), workflow.CodeBinlogSettings},
		{fmt.Errorf("stopping writes: %w", fmt.Errorf("account app gets UPDATE on *.*: %w", migrate.ErrBroadGrant)), workflow.CodeBroadGrant},
		{fmt.Errorf("stopping writes: %w", migrate.ErrBypass), workflow.CodeBypass},
		{fmt.Errorf("%w: switch: %w", migrate.ErrSwitchPending, migrate.ErrConnect), workflow.CodeSwitchPending},
		{fmt.Errorf("cutover: %w: it did not apply the source's position", migrate.ErrCatchUpTimeout), workflow.CodeCatchUpTimeout},
		{fmt.Errorf("run: %w", context.Canceled), workflow.CodeCanceled},
		{sql.ErrNoRows, workflow.CodeOther},
	} {
		if got := workflow.ErrorCodeOf(tc.err); got != tc.want {
			t.Errorf("ErrorCodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
