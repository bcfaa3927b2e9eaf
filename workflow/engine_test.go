package workflow_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// registry registers servers[0] as "prod" (env=prod) and servers[1] as
// "test" (env=test), with credentials resolved by reference.
func registry(t testing.TB) (*workflow.Registry, workflow.StaticSecrets) {
	t.Helper()
	secrets := workflow.StaticSecrets{}
	var list []workflow.Instance
	for i, name := range []string{"prod", "test"} {
		s := servers[i]
		secrets["vault/"+name] = workflow.Credentials{User: s.User(), Password: s.Password()}
		list = append(list, workflow.Instance{Name: name, Address: s.Addr(), Credentials: "vault/" + name,
			Tags: map[string]string{"env": name}})
	}
	r, err := workflow.NewRegistry(list...)
	if err != nil {
		t.Fatal(err)
	}
	return r, secrets
}

// dbas is the group that approves what the automatic rule does not pass.
var dbas = &workflow.Group{Name: "dba", Members: []string{"bob", "carol"}}

// chain: automatic approval of small DML outside prod, else a DBA; then,
// for migrations, a DBA.
func options(rec *workflowtest.Recorder, extra ...workflow.Option) []workflow.Option {
	opts := []workflow.Option{
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "auto-or-dba", Approver: &workflow.AutoApprover{
			Kinds: []review.Kind{review.KindDML}, MaxRisk: review.RiskModerate, MaxAffectedRows: 1000,
			Unless: map[string]string{"env": "prod"}, Else: dbas}}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(2 * time.Second), workflow.WithPollInterval(50 * time.Millisecond),
	}
	if rec != nil {
		opts = append(opts, workflow.WithNotifier("recorder", rec),
			workflow.WithDispatcherConfig(workflow.DispatcherConfig{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 3}))
	}
	return append(opts, extra...)
}

// liveReview is the reviewer of the tests' engines: the default policy
// with the target's live catalog.
func liveReview(t testing.TB) workflow.TargetReviewer {
	t.Helper()
	r, err := workflow.LiveReview()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newEngine(t testing.TB, store workflow.Store, rec *workflowtest.Recorder, extra ...workflow.Option) *workflow.Engine {
	t.Helper()
	r, secrets := registry(t)
	e, err := workflow.New(store, r, secrets, liveReview(t), options(rec, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// shopDB creates a small table on s and returns the database name.
func shopDB(t testing.TB, s *sandbox.Server, rows int) (string, *sql.DB) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, s, "wf")
	db := sandboxtest.Open(t, s, name)
	sandboxtest.Exec(t, db,
		"CREATE TABLE orders (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, status VARCHAR(10) NOT NULL, amount INT NOT NULL, KEY (status))",
		"CREATE TABLE notes (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, body TEXT)",
		"INSERT INTO orders (status, amount) SELECT IF(seq % 10 = 0, 'new', 'paid'), seq FROM seq_1_to_"+strconv.Itoa(rows),
		"INSERT INTO notes (body) SELECT CONCAT('note ', seq) FROM seq_1_to_50",
		"ANALYZE TABLE orders")
	return name, db
}

func actions(d *workflow.Detail) []string {
	var out []string
	for _, a := range d.Audit {
		out = append(out, string(a.Action)+">"+a.To.String())
	}
	return out
}

func mustGet(t testing.TB, e *workflow.Engine, id int64) *workflow.Detail {
	t.Helper()
	d, err := e.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSQLChangeFlow(t *testing.T) {
	ctx := t.Context()
	testDB, tdb := shopDB(t, servers[1], 200)
	prodDB, _ := shopDB(t, servers[0], 200)
	rec := &workflowtest.Recorder{}
	e := newEngine(t, workflow.NewMemoryStore(), rec)

	// Small DML outside prod passes automatically and runs.
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Title: "fix statuses", Submitter: "alice", CC: []string{"dave"},
		Instance: "test", Database: testDB,
		SQL: "UPDATE orders SET status = 'done' WHERE status = 'new';\nUPDATE notes SET body = 'fixed' WHERE id = 1;"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != workflow.StateQueued || tk.Review == nil || !tk.Review.Summary.Pass || len(tk.Approvals) != 1 || tk.Approvals[0].Actor != "auto:auto-or-dba" {
		t.Fatalf("after submit: %s, approvals %+v, error %q, review %s", tk.State, tk.Approvals, tk.Error, must(tk.Review.JSON()))
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("RunOnce: %v, %v", ran, err)
	}
	d := mustGet(t, e, tk.ID)
	if d.Ticket.State != workflow.StateSucceeded {
		t.Fatalf("state %s, error %q", d.Ticket.State, d.Ticket.Error)
	}
	if r := d.Ticket.Results; len(r) != 2 || r[0].AffectedRows != 20 || r[1].AffectedRows != 1 || r[0].Status != migrate.StatementSucceeded {
		t.Fatalf("results %+v", r)
	}
	want := []string{"submit>submitted", "review>pending_approval", "approve>approved", "enqueue>queued", "start>running", "succeed>succeeded"}
	if got := actions(d); !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	var n int
	if err := tdb.QueryRow("SELECT COUNT(*) FROM orders WHERE status = 'done'").Scan(&n); err != nil || n != 20 {
		t.Fatalf("orders done: %d, %v", n, err)
	}
	evs, err := rec.Wait(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(evs []workflow.Event, id int64) (out []workflow.EventKind) {
		for _, ev := range evs {
			if ev.TicketID == id {
				out = append(out, ev.Kind)
			}
		}
		return out
	}
	if got := kinds(evs, tk.ID); !slices.Equal(got, []workflow.EventKind{workflow.EventSubmitted, workflow.EventReviewed, workflow.EventApproved, workflow.EventStarted, workflow.EventFinished}) {
		t.Fatalf("events %v", got)
	}
	if !slices.Equal(evs[0].Recipients, []string{"alice", "dave"}) {
		t.Fatalf("recipients %v", evs[0].Recipients)
	}

	// On prod a DBA decides; never the submitter, never an outsider.
	tk, err = e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "bob", Instance: "prod", Database: prodDB,
		SQL: "UPDATE orders SET amount = amount + 1 WHERE id = 7"})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("prod submit: %v, %v", tk, err)
	}
	evs, _ = rec.Wait(ctx, 8)
	if last := evs[len(evs)-1]; last.Kind != workflow.EventApprovalRequested || !slices.Equal(last.Recipients, []string{"bob", "carol"}) {
		t.Fatalf("approval request: %+v", last)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", "mine"); !errors.Is(err, workflow.ErrSelfApproval) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := e.Approve(ctx, tk.ID, "mallory", "ok"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("outsider: %v", err)
	}
	tk, err = e.Approve(ctx, tk.ID, "carol", "ok")
	if err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("approve: %v, %v", tk, err)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("RunOnce: %v, %v", ran, err)
	}
	if d := mustGet(t, e, tk.ID); d.Ticket.State != workflow.StateSucceeded || d.Ticket.Results[0].AffectedRows != 1 {
		t.Fatalf("prod ticket: %s %+v", d.Ticket.State, d.Ticket.Results)
	}

	// No password in a ticket, its audit trail or a notification.
	all, _ := rec.Wait(ctx, 1)
	for _, id := range []int64{tk.ID, tk.ID - 1} {
		b, err := json.Marshal(struct {
			D *workflow.Detail
			E []workflow.Event
		}{mustGet(t, e, id), all})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if strings.Contains(string(b), s.Password()) {
				t.Fatalf("ticket #%d or an event holds a password", id)
			}
		}
	}

	// Listing finds both by keyword and instance.
	if l, err := e.List(ctx, workflow.Filter{Keyword: "amount + 1", Instance: "prod"}); err != nil || len(l) != 1 || l[0].ID != tk.ID {
		t.Fatalf("List: %v, %v", l, err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := t.Context()
	testDB, _ := shopDB(t, servers[1], 20)
	rec := &workflowtest.Recorder{}
	rec.FailNext(-1, nil) // a notifier that always fails
	e := newEngine(t, workflow.NewMemoryStore(), rec)
	req := func(sql string) workflow.Request {
		return workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB, SQL: sql}
	}

	r := req("UPDATE orders SET amount = 1 WHERE id = 1")
	r.Instance = "nowhere"
	if _, err := e.Submit(ctx, r); !errors.Is(err, workflow.ErrUnknownInstance) || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("unknown instance: %v", err)
	}
	if _, err := e.Submit(ctx, req("  \n")); !errors.Is(err, workflow.ErrEmptySQL) {
		t.Errorf("empty SQL: %v", err)
	}
	r = req("SELECT 1")
	r.Kind = "reboot"
	if _, err := e.Submit(ctx, r); !errors.Is(err, workflow.ErrInvalidRequest) {
		t.Errorf("unknown kind: %v", err)
	}
	if l, _ := e.List(ctx, workflow.Filter{}); len(l) != 0 {
		t.Fatalf("bad requests stored %d tickets", len(l))
	}

	// SQL that fails review ends in review_failed with the finding.
	tk, err := e.Submit(ctx, req("DELETE FROM orders"))
	if err != nil || tk.State != workflow.StateReviewFailed || !strings.Contains(tk.Error, "dml.require-where") ||
		tk.ErrorCode != workflow.CodeReviewRefused || !errors.Is(tk.Err(), workflow.ErrReviewRefused) {
		t.Fatalf("failing review: %v, %v", tk, err)
	}
	// A missing target database fails the dry run.
	r = req("UPDATE orders SET amount = 1 WHERE id = 1")
	r.Database = "no_such_database"
	if tk, err := e.Submit(ctx, r); err != nil || tk.State != workflow.StateReviewFailed || !strings.Contains(tk.Error, "orders does not exist") ||
		!errors.Is(tk.Err(), workflow.ErrReviewRefused) {
		t.Fatalf("missing database: %v, %v", tk, err)
	}

	// Idempotent submit by client key.
	r = req("UPDATE orders SET amount = 2 WHERE id = 2")
	r.ClientKey = "form-123"
	first, err := e.Submit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Submit(ctx, r)
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeated submit: %v, %v (first #%d)", again, err, first.ID)
	}

	// Concurrent repeats (a double click) also get the one ticket.
	r.ClientKey = "form-456"
	var wg sync.WaitGroup
	got := make([]*workflow.Ticket, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = e.Submit(ctx, r) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].ID != got[0].ID {
			t.Fatalf("concurrent submit %d: %v, %v", i, got[i], errs[i])
		}
	}
	if d := mustGet(t, e, got[0].ID); d.Ticket.State != workflow.StateQueued || len(d.Audit) != 4 {
		t.Fatalf("after concurrent submits: %s, audit %v", d.Ticket.State, actions(d))
	}

	// Rejection ends a ticket; approving it afterwards is impossible.
	r = req("UPDATE orders SET amount = 3 WHERE id < 1000000 AND amount > 0")
	r.Instance, r.Database = "test", testDB
	big, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "CREATE TABLE audit_x (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT COMMENT 'id') COMMENT 'x'"})
	if err != nil || big.State != workflow.StatePendingApproval {
		t.Fatalf("DDL submit: %v, %v", big, err)
	}
	if _, err := e.Reject(ctx, big.ID, "carol", "use a migration tool"); err != nil {
		t.Fatal(err)
	}
	_, err = e.Approve(ctx, big.ID, "bob", "too late")
	var te *workflow.TransitionError
	if !errors.As(err, &te) || te.State != workflow.StateRejected || te.Ticket != big.ID {
		t.Fatalf("approving a rejected ticket: %v", err)
	}

	// The failing notifier does not stop the ticket; canceling it once
	// finished is impossible.
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("RunOnce: %v %v", ran, err)
	}
	if d := mustGet(t, e, first.ID); d.Ticket.State != workflow.StateSucceeded {
		t.Fatalf("with a failing notifier: %s %q", d.Ticket.State, d.Ticket.Error)
	}
	if _, err := e.Cancel(ctx, first.ID, "alice", "oops"); !errors.As(err, &te) || te.State != workflow.StateSucceeded {
		t.Fatalf("canceling a finished ticket: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.NotificationFailures()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f := e.NotificationFailures(); len(f) == 0 || f[0].Attempts != 3 {
		t.Fatalf("notification failures: %+v", f)
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	ctx := t.Context()
	testDB, tdb := shopDB(t, servers[1], 20)
	store := workflow.NewMemoryStore()
	rec := &workflowtest.Recorder{}
	e := newEngine(t, store, rec, workflow.WithProgressEvents(100*time.Millisecond))
	submit := func(sql string) *workflow.Ticket {
		tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB, SQL: sql})
		if err != nil || tk.State != workflow.StateQueued {
			t.Fatalf("submit: %v %v", tk, err)
		}
		return tk
	}
	// Another engine (another replica of the host service) cancels: the
	// worker learns of it through its heartbeat.
	other := newEngine(t, store, nil)
	queued := submit("UPDATE orders SET amount = 0 WHERE id = 1")
	if c, err := e.Cancel(ctx, queued.ID, "alice", "not needed"); err != nil || c.State != workflow.StateCanceled {
		t.Fatalf("cancel queued: %v %v", c, err)
	}
	long := submit("UPDATE orders SET amount = 5 WHERE id = 2; UPDATE orders SET amount = SLEEP(20) WHERE id = 3; UPDATE orders SET amount = 7 WHERE id = 4")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitFor(t, e, long.ID, func(tk *workflow.Ticket) bool {
		return len(tk.Results) == 3 && tk.Results[1].Status == migrate.StatementRunning
	})
	// Progress is told to the submitter while it runs.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs := rec.Events()
		if i := slices.IndexFunc(evs, func(ev workflow.Event) bool { return ev.Kind == workflow.EventProgress }); i >= 0 {
			if want := "1 of 3 statements done, 1 row(s) so far; running #2 UPDATE orders SET amount = SLEEP(20)"; !strings.HasPrefix(evs[i].Detail, want) {
				t.Fatalf("progress event %q, want %q...", evs[i].Detail, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress event")
		}
	}
	begin := time.Now()
	if _, err := other.Cancel(ctx, long.ID, "alice", "stop it"); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, e, long.ID, func(tk *workflow.Ticket) bool { return tk.Results[1].Status == migrate.StatementFailed })
	if time.Since(begin) > 10*time.Second || d.Ticket.State != workflow.StateCanceled || d.Ticket.Results[2].Status != migrate.StatementPending {
		t.Fatalf("after cancel: %s, %+v", d.Ticket.State, d.Ticket.Results)
	}
	var amount int
	if err := tdb.QueryRow("SELECT amount FROM orders WHERE id = 4").Scan(&amount); err != nil || amount != 4 {
		t.Fatalf("statement 3 ran after cancel: amount %d, %v", amount, err)
	}
}

// waitFor polls ticket id until ok holds, for at most 60s.
func waitFor(t testing.TB, e *workflow.Engine, id int64, ok func(*workflow.Ticket) bool) *workflow.Detail {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := mustGet(t, e, id)
		if ok(d.Ticket) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket #%d: condition not met: state %s, results %+v, progress %+v, audit %v", id, d.Ticket.State, d.Ticket.Results, progressDump(d.Ticket.Progress), actions(d))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWindows(t *testing.T) {
	ctx := t.Context()
	testDB, _ := shopDB(t, servers[1], 20)
	now := time.Date(2026, 6, 1, 22, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := newEngine(t, workflow.NewMemoryStore(), nil, workflow.WithClock(clock))
	submit := func(w *workflow.Window) *workflow.Ticket {
		tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
			SQL: "UPDATE orders SET amount = 9 WHERE id = 9", Window: w})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	night := submit(&workflow.Window{NotBefore: now.Add(2 * time.Hour), NotAfter: now.Add(4 * time.Hour)})
	missed := submit(&workflow.Window{NotBefore: now.Add(time.Hour), NotAfter: now.Add(90 * time.Minute)})
	if night.State != workflow.StateScheduled || missed.State != workflow.StateScheduled {
		t.Fatalf("states %s %s", night.State, missed.State)
	}
	if ran, _ := e.RunOnce(ctx); ran {
		t.Fatal("a scheduled ticket ran before its window")
	}
	now = now.Add(2*time.Hour + time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	waitFor(t, e, night.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateSucceeded })
	d := waitFor(t, e, missed.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateCanceled })
	stop()
	<-done
	if last := d.Audit[len(d.Audit)-1]; last.Actor != workflow.SystemActor || !strings.Contains(last.Comment, "window closed") {
		t.Fatalf("missed window: %+v", last)
	}
	if _, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "SELECT 1", Window: &workflow.Window{NotAfter: now.Add(-time.Hour)}}); !errors.Is(err, workflow.ErrInvalidRequest) {
		t.Fatalf("window in the past: %v", err)
	}
}

func must(b []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestMigrationFlow: a data-migration ticket from submit to finish with
// the pipe method, on the MySQL store, executed by Run in the background;
// a second ticket into the now non-empty target fails its dry run.
func TestMigrationFlow(t *testing.T) {
	ctx := t.Context()
	store, _ := newMySQLStore(t)
	rec := &workflowtest.Recorder{}
	e := newEngine(t, store, rec)
	srcDB, src := shopDB(t, servers[0], 500)
	dstDB := sandboxtest.NewDatabase(t, servers[1], "wfpipe")
	req := workflow.Request{Kind: workflow.KindDataMigration, Title: "copy orders to test", Submitter: "alice", CC: []string{"erin"},
		Instance: "test", Database: dstDB,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: srcDB, Tables: []string{"orders"}, Method: workflow.MethodPipe}}
	tk, err := e.Submit(ctx, req)
	if err != nil || tk.State != workflow.StatePendingApproval || tk.Plan == nil || len(tk.Plan.Tables) != 1 {
		t.Fatalf("submit: %+v, %v", tk, err)
	}
	if tk, err = e.Approve(ctx, tk.ID, "bob", "go"); err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("approve: %v, %v", tk, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	d := waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	stop()
	<-done
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Report == nil || d.Ticket.Report.Rows != 500 || d.Ticket.Progress == nil {
		t.Fatalf("migration: %s, %q, report %+v", d.Ticket.State, d.Ticket.Error, d.Ticket.Report)
	}
	var a, b string
	dst := sandboxtest.Open(t, servers[1], dstDB)
	if err := src.QueryRow("CHECKSUM TABLE orders").Scan(new(string), &a); err != nil {
		t.Fatal(err)
	}
	if err := dst.QueryRow("CHECKSUM TABLE orders").Scan(new(string), &b); err != nil || a != b {
		t.Fatalf("checksums %s and %s, %v", a, b, err)
	}
	evs, err := rec.Wait(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, string(ev.Kind))
	}
	if got := strings.Join(kinds, " "); got != "submitted reviewed approval_requested approved started finished" {
		t.Fatalf("events: %s", got)
	}
	if !slices.Equal(evs[2].Recipients, []string{"bob", "carol"}) || !slices.Equal(evs[5].Recipients, []string{"alice", "erin"}) {
		t.Fatalf("recipients: %v, %v", evs[2].Recipients, evs[5].Recipients)
	}

	again, err := e.Submit(ctx, req)
	if err != nil || again.State != workflow.StateReviewFailed || !strings.Contains(again.Error, "not empty") || !errors.Is(again.Err(), migrate.ErrNotEmpty) {
		t.Fatalf("copy into a non-empty target: %+v, %v", again, err)
	}
}

// TestApprovalChain: two steps, each decided by its own group, in order.
func TestApprovalChain(t *testing.T) {
	ctx := t.Context()
	prodDB, _ := shopDB(t, servers[0], 20)
	leads := &workflow.Group{Name: "leads", Members: []string{"lena"}}
	e := newEngine(t, workflow.NewMemoryStore(), nil,
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "lead", Approver: leads}, workflow.Step{Name: "dba", Approver: dbas}))
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "prod", Database: prodDB,
		SQL: "UPDATE orders SET amount = 1 WHERE id = 1"})
	if err != nil || tk.State != workflow.StatePendingApproval || tk.Step != 0 {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", "dba first?"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("a DBA deciding the lead's step: %v", err)
	}
	if tk, err = e.Approve(ctx, tk.ID, "lena", "business ok"); err != nil || tk.State != workflow.StatePendingApproval || tk.Step != 1 {
		t.Fatalf("lead approves: %v, %v", tk, err)
	}
	if _, err := e.Approve(ctx, tk.ID, "lena", "again"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("the lead deciding the DBA step: %v", err)
	}
	if tk, err = e.Approve(ctx, tk.ID, "carol", "ok"); err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("DBA approves: %v, %v", tk, err)
	}
	if len(tk.Approvals) != 2 || tk.Approvals[0].Actor != "lena" || tk.Approvals[1].Name != "dba" {
		t.Fatalf("approvals %+v", tk.Approvals)
	}
	want := []string{"submit>submitted", "review>pending_approval", "await>pending_approval", "approve>pending_approval", "await>pending_approval",
		"approve>approved", "enqueue>queued"}
	if got := actions(mustGet(t, e, tk.ID)); !slices.Equal(got, want) {
		t.Fatalf("audit %v", got)
	}

	// A rejection at the first step ends the ticket; the submitter files
	// a corrected one.
	bad, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "prod", Database: prodDB,
		SQL: "UPDATE orders SET amount = 1 WHERE amount > 0"})
	if err != nil {
		t.Fatal(err)
	}
	if bad, err = e.Reject(ctx, bad.ID, "lena", "far too broad"); err != nil || bad.State != workflow.StateRejected || !bad.State.Final() {
		t.Fatalf("reject: %v, %v", bad, err)
	}
	if _, err := e.Reject(ctx, bad.ID, "bob", "me too"); !errors.Is(err, workflow.ErrTransition) {
		t.Fatalf("rejecting a rejected ticket: %v", err)
	}
}

// TestStalledTicketsResume: a host that died between two transitions
// leaves tickets in submitted or approved; the engine moves them on.
func TestStalledTicketsResume(t *testing.T) {
	ctx := t.Context()
	testDB, _ := shopDB(t, servers[1], 20)
	store := workflow.NewMemoryStore()
	e := newEngine(t, store, nil)
	long := time.Now().Add(-time.Minute)
	// Died after Create, before the review.
	sub, _, err := store.Create(ctx, &workflow.Ticket{ClientKey: "k1", Kind: workflow.KindSQLChange, Title: "stalled", Submitter: "alice",
		Instance: "test", Database: testDB, SQL: "UPDATE orders SET amount = 11 WHERE id = 11"}, long)
	if err != nil {
		t.Fatal(err)
	}
	// Died after the last approval, before queueing.
	app, _, err := store.Create(ctx, &workflow.Ticket{Kind: workflow.KindSQLChange, Title: "approved", Submitter: "alice",
		Instance: "test", Database: testDB, SQL: "UPDATE orders SET amount = 12 WHERE id = 12"}, long)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "UPDATE orders SET amount = 12 WHERE id = 12"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		a  workflow.Action
		to workflow.State
	}{{workflow.ActionReview, workflow.StatePendingApproval}, {workflow.ActionApprove, workflow.StateApproved}} {
		if app, err = store.Transition(ctx, workflow.Change{Ticket: app.ID, Version: app.Version, Action: step.a, To: step.to, Actor: "x", At: long,
			Update: func(t *workflow.Ticket) error { t.Review = res.Review; return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for _, id := range []int64{sub.ID, app.ID} {
		if d := waitFor(t, e, id, func(tk *workflow.Ticket) bool { return tk.State.Final() }); d.Ticket.State != workflow.StateSucceeded {
			t.Errorf("ticket #%d: %s %q", id, d.Ticket.State, d.Ticket.Error)
		}
	}

	// A step left to a person is never taken over, however long it waits.
	prodDB, _ := shopDB(t, servers[0], 20)
	waiting, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "prod", Database: prodDB,
		SQL: "UPDATE orders SET amount = 13 WHERE id = 13"})
	if err != nil || waiting.State != workflow.StatePendingApproval || !waiting.Awaiting {
		t.Fatalf("submit on prod: %v, %v", waiting, err)
	}
	later := newEngine(t, store, nil, workflow.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	if err := later.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"submit>submitted", "review>pending_approval", "await>pending_approval"}
	if got := actions(mustGet(t, e, waiting.ID)); !slices.Equal(got, want) {
		t.Fatalf("a ticket waiting for a person: audit %v, want %v", got, want)
	}
}

// beatless is a store whose heartbeats fail, as when its database is
// briefly unreachable.
type beatless struct{ workflow.Store }

func (beatless) Heartbeat(context.Context, workflow.Beat) (workflow.State, error) {
	return workflow.StateNone, errors.New("store unreachable")
}

// TestUnrecordedStatementNotRun: a statement whose start cannot be
// recorded is not run (a worker dying after it would leave a record that
// shows less than what ran), and the ticket fails saying why.
func TestUnrecordedStatementNotRun(t *testing.T) {
	ctx := t.Context()
	testDB, db := shopDB(t, servers[1], 20)
	e := newEngine(t, beatless{workflow.NewMemoryStore()}, nil)
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "UPDATE orders SET amount = 0 WHERE id = 5"})
	if err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("RunOnce: %v, %v", ran, err)
	}
	d := mustGet(t, e, tk.ID)
	if d.Ticket.State != workflow.StateFailed || !strings.Contains(d.Ticket.Error, "progress could not be recorded (store unreachable)") ||
		d.Ticket.Results[0].Status == migrate.StatementSucceeded {
		t.Fatalf("ticket: %s %q, results %+v", d.Ticket.State, d.Ticket.Error, d.Ticket.Results)
	}
	var amount int
	if err := db.QueryRow("SELECT amount FROM orders WHERE id = 5").Scan(&amount); err != nil || amount != 5 {
		t.Fatalf("the unrecorded statement ran: amount %d, %v", amount, err)
	}
}

// TestNewChecksDependenciesAndOptions: the engine's required dependencies
// are positional and a missing one is an error naming it; options are
// checked against each other at construction.
func TestNewChecksDependenciesAndOptions(t *testing.T) {
	r, secrets := registry(t)
	review := liveReview(t)
	store := workflow.NewMemoryStore()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"nil store", errOf(workflow.New(nil, r, secrets, review))},
		{"nil instance registry", errOf(workflow.New(store, nil, secrets, review))},
		{"nil secret resolver", errOf(workflow.New(store, r, nil, review))},
		{"nil SQL reviewer", errOf(workflow.New(store, r, secrets, nil))},
		{"nil option", errOf(workflow.New(store, r, secrets, review, nil))},
		{"WithChain(reboot): unknown kind", errOf(workflow.New(store, r, secrets, review,
			workflow.WithChain("reboot", workflow.Step{Name: "dba", Approver: dbas})))},
		{"WithWorkers: 0 is not positive", errOf(workflow.New(store, r, secrets, review, workflow.WithWorkers(0)))},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.name) {
			t.Errorf("%s: got %v", tc.name, tc.err)
		}
	}
	if _, err := workflow.New(store, r, secrets, review); err != nil {
		t.Errorf("no options: %v", err)
	}
}

func errOf(_ *workflow.Engine, err error) error { return err }
