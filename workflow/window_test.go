package workflow_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// targetAccount creates the application's account user on the target
// database too (the cut-back fences it there), with the grants it has on
// the source, and returns a pool of it.
func targetAccount(t *testing.T, user, database string) *sql.DB {
	t.Helper()
	root := sandboxtest.Open(t, servers[1], "")
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	for _, table := range []string{"items", "counter", "held"} {
		sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO '%s'@'%%'", database, table, user))
	}
	cfg := servers[1].Config(database)
	cfg.User, cfg.Passwd = user, "app-pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// windowMove is a live move with a rollback window, cut over: the ticket
// in rollback_window, the source fenced.
type windowMove struct {
	e                *workflow.Engine
	id               int64
	database, target string
	srcApp, dstApp   *sql.DB
	switchedBack     *atomic.Int32
	rec              *workflowtest.Recorder
	halt             func() // stops the engine's Run and waits for it
}

// run starts the engine's Run, until halt.
func (m *windowMove) run(t *testing.T, ctx context.Context) {
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.e.Run(runCtx) }()
	var once sync.Once
	m.halt = func() { once.Do(func() { stop(); <-done }) }
	t.Cleanup(m.halt)
}

// startWindowMove submits, approves and runs a live move of a fresh
// database with Migration.Reverse, cuts it over and checks its window:
// the ticket in rollback_window with the cutover's report, the source
// fenced, a write to the target carried back to the source and the
// reverse sync's progress on the ticket.
func startWindowMove(t *testing.T, ctx context.Context, store workflow.Store) *windowMove {
	t.Helper()
	m := &windowMove{switchedBack: new(atomic.Int32), rec: &workflowtest.Recorder{}}
	m.database, m.target = moveTables(t, 2000)
	user, srcApp := appAccount(t, m.database)
	m.srcApp = srcApp
	kind := workflow.LiveMoveKind(workflow.LiveMoveOptions{
		SwitchBack: func(context.Context, *workflow.Ticket) error { m.switchedBack.Add(1); return nil },
		Sync:       []migrate.SyncOption{migrate.WithDrainWait(3*time.Second, false), migrate.WithProgressInterval(100 * time.Millisecond)},
	})
	m.e = newEngine(t, store, m.rec, liveMoveChain, workflow.WithKind(workflow.KindLiveMove, kind))
	tk, err := m.e.Submit(ctx, workflow.Request{Kind: workflow.KindLiveMove, Submitter: "alice", Instance: "test", Database: m.target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: m.database, Fence: "accounts", Accounts: []string{user + "@%"}, Reverse: true}})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	m.id = tk.ID
	if _, err := m.e.Approve(ctx, tk.ID, "bob", "ok"); err != nil {
		t.Fatal(err)
	}
	m.run(t, ctx)

	waitFor(t, m.e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
	// The account exists on the target once its database does.
	m.dstApp = targetAccount(t, user, m.target)
	d := cutOver(t, m.e, tk.ID)
	if d.Ticket.State != workflow.StateRollbackWindow || d.Ticket.Report == nil || d.Ticket.Report.Cutover == nil ||
		d.Ticket.Report.Cutover.ReversePosition == "" || d.Ticket.Worker == "" {
		t.Fatalf("after the cutover: %s %q, report %+v, audit %v", d.Ticket.State, d.Ticket.Error, d.Ticket.Report, actions(d))
	}
	if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionOpenWindow || !strings.HasPrefix(last.Comment, "cut over: writes to the source stopped for ") {
		t.Fatalf("last audit entry %+v", last)
	}
	// No cancel out of the window: the source would stay fenced.
	if _, err := m.e.Cancel(ctx, tk.ID, "alice", "stop"); !errors.As(err, new(*workflow.TransitionError)) {
		t.Fatalf("cancel in the rollback window: %v, want a TransitionError", err)
	}
	if _, err := srcApp.ExecContext(ctx, "UPDATE held SET v = v + 1 WHERE id = 1"); err == nil {
		t.Fatal("the application wrote the source during the rollback window")
	}
	// A write on the target reaches the source; the ticket shows the
	// reverse sync in sync.
	sandboxtest.Exec(t, m.dstApp, "INSERT INTO items VALUES (7000001, 'after the cutover', 1)", "UPDATE counter SET n = n + 10 WHERE id = 1")
	waitRow(t, m.database, 7000001)
	waitFor(t, m.e, tk.ID, func(tk *workflow.Ticket) bool {
		return tk.State == workflow.StateRollbackWindow && tk.Progress != nil && tk.Progress.Phase == migrate.PhaseInSync && tk.Progress.StreamPosition != ""
	})
	return m
}

// waitRow waits until the source's database holds item id.
func waitRow(t *testing.T, database string, id int64) {
	t.Helper()
	src := sandboxtest.Open(t, servers[0], database)
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := src.QueryRow("SELECT COUNT(*) FROM items WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target's write of item %d did not reach the source", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writable checks that the application writes db.
func writable(t *testing.T, db *sql.DB, side string) {
	t.Helper()
	if _, err := db.Exec("UPDATE held SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatalf("the application cannot write the %s: %v", side, err)
	}
}

// TestLiveMoveRollbackWindowCutBack: a live move with a rollback window
// cuts over into rollback_window; its submitter and outsiders cannot cut
// back; a DBA's cut-back switches the application back and ends the
// ticket succeeded, both sides equal and writable.
func TestLiveMoveRollbackWindowCutBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	m := startWindowMove(t, ctx, workflow.NewMemoryStore())
	if _, err := m.e.CutBack(ctx, m.id, "alice", "mine"); !errors.Is(err, workflow.ErrSelfApproval) {
		t.Fatalf("cut-back by the submitter: %v", err)
	}
	if _, err := m.e.EndWindow(ctx, m.id, "mallory", "ok"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("end of the window by an outsider: %v", err)
	}
	var d *workflow.Detail
	for attempt := 1; ; attempt++ {
		waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateRollbackWindow })
		tk, err := m.e.CutBack(ctx, m.id, "carol", fmt.Sprintf("back, attempt %d", attempt))
		if err != nil || tk.State != workflow.StateCuttingBack {
			t.Fatalf("cut-back: %v, %v", tk, err)
		}
		d = waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool { return tk.State != workflow.StateCuttingBack })
		if d.Ticket.State != workflow.StateRollbackWindow || attempt == 20 {
			break
		}
		if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionCutBackFailed || !strings.Contains(last.Comment, migrate.ErrNotInSync.Error()) {
			t.Fatalf("cut-back refused for another reason than the lag: %+v", last)
		}
	}
	tk := d.Ticket
	last := d.Audit[len(d.Audit)-1]
	if tk.State != workflow.StateSucceeded || tk.Report == nil || tk.Report.Cutover == nil || tk.Report.Cutover.ReversePosition == "" ||
		tk.CutBack == nil || tk.CutBack.VerifiedTables != 3 || tk.Worker != "" || tk.Err() != nil || last.Action != workflow.ActionSucceed || !strings.HasPrefix(last.Comment, "cut back: writes to the target stopped for ") {
		t.Fatalf("after the cut-back: %s %q, report %+v, audit %v, last %+v", tk.State, tk.Error, tk.Report, actions(d), last)
	}
	if n := m.switchedBack.Load(); n != 1 {
		t.Fatalf("switched back %d times", n)
	}
	t.Log(last.Comment)
	// People were told: the window open (the DBAs, the submitter), bob's
	// cut-back, the end.
	var kinds []workflow.EventKind
	for _, ev := range ticketEvents(t, m.rec, m.id, workflow.EventFinished) {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == workflow.EventWindowOpen && !slices.Equal(ev.Recipients, []string{"alice", "bob", "carol"}) {
			t.Errorf("window event to %v", ev.Recipients)
		}
	}
	// Cut-backs refused under the lag are told too.
	i := slices.Index(kinds, workflow.EventWindowOpen)
	if n := len(kinds); i < 0 || kinds[n-1] != workflow.EventFinished || kinds[n-2] != workflow.EventCutBackApproved ||
		slices.ContainsFunc(kinds[i+1:n-1], func(k workflow.EventKind) bool {
			return k != workflow.EventCutBackApproved && k != workflow.EventCutBackFailed
		}) {
		t.Errorf("events %v", kinds)
	}
	writable(t, m.srcApp, "source")
	writable(t, m.dstApp, "target")
	sandboxtest.Exec(t, m.srcApp, "UPDATE held SET v = v - 1 WHERE id = 1")
	sandboxtest.Exec(t, m.dstApp, "UPDATE held SET v = v - 1 WHERE id = 1")
	assertMoved(t, m.database, m.target)
}

// TestLiveMoveRollbackWindowEnd: a worker that shuts down in a live
// move's rollback window requeues the ticket, and the next run goes back
// to the window, the source still fenced; closing the window then ends
// the ticket succeeded without a cut-back: the source's writes are
// restored, the switch back never called. On the MySQL store.
func TestLiveMoveRollbackWindowEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	store, _ := newMySQLStore(t)
	m := startWindowMove(t, ctx, store)
	m.halt()
	if d := mustGet(t, m.e, m.id); d.Ticket.State != workflow.StateQueued || d.Ticket.Report == nil || d.Ticket.Report.Cutover == nil {
		t.Fatalf("after the worker's shutdown: %s %q, audit %v", d.Ticket.State, d.Ticket.Error, actions(d))
	}
	if _, err := m.srcApp.ExecContext(ctx, "UPDATE held SET v = v + 1 WHERE id = 1"); err == nil {
		t.Fatal("the application wrote the source after the worker's shutdown in the rollback window")
	}
	m.run(t, ctx)
	sandboxtest.Exec(t, m.dstApp, "INSERT INTO items VALUES (7000002, 'while requeued', 2)")
	reopened := waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool {
		return tk.State == workflow.StateRollbackWindow && tk.Attempts == 2 && tk.Progress != nil && tk.Progress.Phase == migrate.PhaseInSync
	})
	if got, want := actions(reopened), []string{"requeue>queued", "start>running", "open_window>rollback_window"}; !slices.Equal(got[len(got)-3:], want) {
		t.Fatalf("audit %v", got)
	}
	waitRow(t, m.database, 7000002)
	if tk, err := m.e.EndWindow(ctx, m.id, "carol", "keep the target"); err != nil || tk.State != workflow.StateEndingWindow {
		t.Fatalf("end of the window: %v, %v", tk, err)
	}
	d := waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool { return tk.State != workflow.StateEndingWindow })
	tk, last := d.Ticket, d.Audit[len(d.Audit)-1]
	if tk.State != workflow.StateSucceeded || tk.Report == nil || tk.Report.Cutover == nil || tk.CutBack != nil || tk.Err() != nil ||
		!strings.HasPrefix(last.Comment, "rollback window closed without a cut-back") {
		t.Fatalf("after the end of the window: %s %q, report %+v, audit %v, last %+v", tk.State, tk.Error, tk.Report, actions(d), last)
	}
	if n := m.switchedBack.Load(); n != 0 {
		t.Fatalf("switched back %d times", n)
	}
	if evs := ticketEvents(t, m.rec, m.id, workflow.EventFinished); !slices.ContainsFunc(evs, func(ev workflow.Event) bool {
		return ev.Kind == workflow.EventEndWindow && ev.Actor == "carol" && ev.Comment == "keep the target"
	}) {
		t.Errorf("no end_window event by carol: %v", evs)
	}
	writable(t, m.srcApp, "source")
	writable(t, m.dstApp, "target")
}

// TestLiveMoveRollbackWindowStopped: DDL on the target stops a live
// move's reverse sync; the ticket goes to source_fenced (not failed), the
// source still fenced, and stays actionable for the cutover's approvers:
// a retry runs the reverse sync again (stopped again by the same DDL),
// and closing the window restores the source's writes and ends the
// ticket succeeded, the application on the target.
func TestLiveMoveRollbackWindowStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	m := startWindowMove(t, ctx, workflow.NewMemoryStore())
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], m.target), "ALTER TABLE items ADD COLUMN extra INT NULL")
	fenced := func(attempts int) *workflow.Detail {
		t.Helper()
		d := waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool {
			return tk.Attempts == attempts && tk.State != workflow.StateRollbackWindow && tk.State != workflow.StateRunning && tk.State != workflow.StateQueued
		})
		tk := d.Ticket
		if tk.State != workflow.StateSourceFenced || tk.Worker != "" || !strings.Contains(tk.Error, "the source stays fenced") ||
			tk.Report == nil || tk.Report.Cutover == nil || !tk.FinishedAt.IsZero() {
			t.Fatalf("after the reverse sync stopped: %s %q, report %+v, audit %v", tk.State, tk.Error, tk.Report, actions(d))
		}
		if _, err := m.srcApp.ExecContext(ctx, "UPDATE held SET v = v + 1 WHERE id = 1"); err == nil {
			t.Fatal("the application wrote the source while its window stopped")
		}
		return d
	}
	d := fenced(1)
	t.Log(d.Ticket.Error)
	if d.Ticket.State.Final() {
		t.Fatal("source_fenced is final")
	}
	if _, err := m.e.Cancel(ctx, m.id, "alice", "stop"); !errors.As(err, new(*workflow.TransitionError)) {
		t.Fatalf("cancel with the source fenced: %v, want a TransitionError", err)
	}
	if _, err := m.e.EndWindow(ctx, m.id, "alice", "mine"); !errors.Is(err, workflow.ErrSelfApproval) {
		t.Fatalf("end of the window by the submitter: %v", err)
	}
	if _, err := m.e.Retry(ctx, m.id, "mallory", "again"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("retry by an outsider: %v", err)
	}
	if tk, err := m.e.Retry(ctx, m.id, "carol", "again"); err != nil || tk.State != workflow.StateQueued || tk.Carried != "" {
		t.Fatalf("retry of the reverse sync: %v, %v", tk, err)
	}
	fenced(2)
	tk, err := m.e.EndWindow(ctx, m.id, "carol", "keep the target")
	if err != nil || tk.State != workflow.StateQueued || tk.Carried != workflow.ActionEndWindow {
		t.Fatalf("end of the stopped window: %v, %v", tk, err)
	}
	d = waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool {
		return tk.Attempts == 3 && tk.State.Final() || tk.State == workflow.StateSourceFenced
	})
	tk, last := d.Ticket, d.Audit[len(d.Audit)-1]
	if tk.State != workflow.StateSucceeded || tk.Err() != nil || tk.Carried != "" || tk.CutBack != nil || tk.Report == nil || tk.Report.Cutover == nil ||
		!strings.Contains(last.Comment, "carried over: rollback window closed without a cut-back") {
		t.Fatalf("after the end of the window: %s %q, report %+v, audit %v, last %+v", tk.State, tk.Error, tk.Report, actions(d), last)
	}
	// A retried run may record its window open before the DDL stops it.
	got := slices.DeleteFunc(actions(d), func(a string) bool { return a == "open_window>rollback_window" })
	if want := []string{"fail>source_fenced", "retry>queued", "start>running", "fail>source_fenced", "end_window>queued", "start>running", "succeed>succeeded"}; !slices.Equal(got[len(got)-len(want):], want) {
		t.Fatalf("audit %v", got)
	}
	if n := m.switchedBack.Load(); n != 0 {
		t.Fatalf("switched back %d times", n)
	}
	writable(t, m.srcApp, "source")
	writable(t, m.dstApp, "target")
}

// holdingStore shows the ticket as it was before a person's approval of
// action, once made, until release: the worker holding the ticket never
// sees the approval, as if it had died right after it.
type holdingStore struct {
	workflow.Store
	action workflow.Action
	mu     sync.Mutex
	held   *workflow.Detail
}

func (s *holdingStore) Transition(ctx context.Context, c workflow.Change) (*workflow.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Action != s.action || c.Actor == workflow.SystemActor {
		return s.Store.Transition(ctx, c)
	}
	before, err := s.Store.Get(ctx, c.Ticket)
	if err != nil {
		return nil, err
	}
	next, err := s.Store.Transition(ctx, c)
	if err == nil {
		s.held = before
	}
	return next, err
}

func (s *holdingStore) Get(ctx context.Context, id int64) (*workflow.Detail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil && s.held.Ticket.ID == id {
		return &workflow.Detail{Ticket: s.held.Ticket.Clone(), Audit: slices.Clone(s.held.Audit)}, nil
	}
	return s.Store.Get(ctx, id)
}

// release shows the tickets as they are again.
func (s *holdingStore) release() {
	s.mu.Lock()
	s.held = nil
	s.mu.Unlock()
}

// TestLiveMoveCarriedCutBack: a worker that stops right after a person
// approved the cut-back, before acting on it, requeues the ticket with
// the cut-back carried over; the next run goes back to the window and
// cuts back without a new approval, saying so in the audit trail. On
// the MySQL store: the request is kept with the ticket.
func TestLiveMoveCarriedCutBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	mysqlStore, _ := newMySQLStore(t)
	store := &holdingStore{Store: mysqlStore, action: workflow.ActionCutBack}
	m := startWindowMove(t, ctx, store)
	if tk, err := m.e.CutBack(ctx, m.id, "carol", "back"); err != nil || tk.State != workflow.StateCuttingBack {
		t.Fatalf("cut-back: %v, %v", tk, err)
	}
	m.halt()
	store.release()
	d := mustGet(t, m.e, m.id)
	if tk := d.Ticket; tk.State != workflow.StateQueued || tk.Carried != workflow.ActionCutBack || m.switchedBack.Load() != 0 {
		t.Fatalf("after the worker stopped: %s, carried %q, switched back %d times, audit %v", tk.State, tk.Carried, m.switchedBack.Load(), actions(d))
	}
	m.run(t, ctx)
	d = waitFor(t, m.e, m.id, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	tk, last := d.Ticket, d.Audit[len(d.Audit)-1]
	if tk.State != workflow.StateSucceeded || tk.CutBack == nil || tk.Carried != "" || tk.Err() != nil || !strings.HasPrefix(last.Comment, "cut back: ") {
		t.Fatalf("after the carried cut-back: %s %q, audit %v, last %+v", tk.State, tk.Error, actions(d), last)
	}
	i := slices.IndexFunc(d.Audit, func(a workflow.AuditEntry) bool { return a.Action == workflow.ActionRequeue })
	carried := slices.IndexFunc(d.Audit, func(a workflow.AuditEntry) bool {
		return a.Action == workflow.ActionCutBack && a.Actor == workflow.SystemActor && strings.Contains(a.Comment, "carried over")
	})
	if i < 0 || carried < i || slices.ContainsFunc(d.Audit[i:], func(a workflow.AuditEntry) bool { return a.Actor != workflow.SystemActor }) {
		t.Fatalf("audit %v: want the cut-back carried over by the system after the requeue, no person's action", actions(d))
	}
	if n := m.switchedBack.Load(); n != 1 {
		t.Fatalf("switched back %d times", n)
	}
	writable(t, m.srcApp, "source")
	writable(t, m.dstApp, "target")
	assertMoved(t, m.database, m.target)
}

// TestLiveMoveCarriedCutover: a worker that stops right after a person
// approved a live move's cutover, before acting on it, requeues the
// ticket with the cutover carried over; the next run catches up again
// and cuts over without a new approval, saying so in the audit trail.
func TestLiveMoveCarriedCutover(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	database, target := moveTables(t, 2000)
	user, _ := appAccount(t, database)
	var switched atomic.Int32
	kind := workflow.LiveMoveKind(workflow.LiveMoveOptions{
		Switch: func(context.Context, *workflow.Ticket) error { switched.Add(1); return nil },
		Sync:   []migrate.SyncOption{migrate.WithDrainWait(3*time.Second, false), migrate.WithProgressInterval(100 * time.Millisecond)},
	})
	store := &holdingStore{Store: workflow.NewMemoryStore(), action: workflow.ActionCutover}
	m := &windowMove{e: newEngine(t, store, nil, liveMoveChain, workflow.WithKind(workflow.KindLiveMove, kind))}
	tk, err := m.e.Submit(ctx, workflow.Request{Kind: workflow.KindLiveMove, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: database, Fence: "accounts", Accounts: []string{user + "@%"}}})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if _, err := m.e.Approve(ctx, tk.ID, "bob", "ok"); err != nil {
		t.Fatal(err)
	}
	m.run(t, ctx)
	waitFor(t, m.e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
	if tk, err := m.e.Cutover(ctx, tk.ID, "carol", "go"); err != nil || tk.State != workflow.StateCuttingOver {
		t.Fatalf("cutover: %v, %v", tk, err)
	}
	m.halt()
	store.release()
	d := mustGet(t, m.e, tk.ID)
	if d.Ticket.State != workflow.StateQueued || d.Ticket.Carried != workflow.ActionCutover || switched.Load() != 0 {
		t.Fatalf("after the worker stopped: %s, carried %q, switched %d times, audit %v", d.Ticket.State, d.Ticket.Carried, switched.Load(), actions(d))
	}
	m.run(t, ctx)
	d = waitFor(t, m.e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Report == nil || d.Ticket.Report.Cutover == nil || d.Ticket.Carried != "" || switched.Load() != 1 {
		t.Fatalf("after the carried cutover: %s %q, switched %d times, audit %v", d.Ticket.State, d.Ticket.Error, switched.Load(), actions(d))
	}
	if got, want := actions(d), []string{"requeue>queued", "start>running", "synced>awaiting_cutover", "cutover>cutting_over", "succeed>succeeded"}; !slices.Equal(got[len(got)-len(want):], want) ||
		!strings.Contains(d.Audit[len(d.Audit)-2].Comment, "carried over") || d.Audit[len(d.Audit)-2].Actor != workflow.SystemActor {
		t.Fatalf("audit %v, carried cutover %+v", got, d.Audit[len(d.Audit)-2])
	}
	assertMoved(t, database, target)
}
