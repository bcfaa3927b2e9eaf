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
	"github.com/shiftgate/shiftgate/verify"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// liveMoveChain: a DBA approves a live move, and a DBA cuts it over.
var liveMoveChain = workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas})

// moveTables creates the moved tables on the source (servers[0]): items,
// which the application writes, counter, which every write increments (a
// transaction applied twice shows there), and held, which only a test's
// own session writes. It returns the database and the name of an empty
// target database on servers[1].
func moveTables(t *testing.T, items int) (string, string) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, servers[0], "wfmove")
	target := sandboxtest.NewDatabase(t, servers[1], "wfmove")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+target+"`")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], name),
		"CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, n INT NOT NULL)",
		"CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL)",
		"CREATE TABLE held (id INT PRIMARY KEY, v INT NOT NULL)",
		fmt.Sprintf("INSERT INTO items SELECT seq, CONCAT('item ', seq), seq %% 100 FROM seq_1_to_%d", items),
		"INSERT INTO counter VALUES (1, 0)", "INSERT INTO held VALUES (1, 0)")
	return name, target
}

// appAccount creates the application's account on the source, with
// table-level write privileges on the moved tables, and returns its
// name and a pool of its connections.
func appAccount(t *testing.T, database string) (string, *sql.DB) {
	t.Helper()
	user := "app_" + database
	root := sandboxtest.Open(t, servers[0], "")
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	for _, table := range []string{"items", "counter", "held"} {
		sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO '%s'@'%%'", database, table, user))
	}
	cfg := servers[0].Config(database)
	cfg.User, cfg.Passwd = user, "app-pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return user, db
}

// moveWriters write to the moved tables as the application does, until
// the switch (their host's switch hook calls switched) or stop: each
// transaction inserts or updates an item and increments the counter.
type moveWriters struct {
	db       *sql.DB
	mu       sync.RWMutex // held by a transaction, taken by the switch
	done     bool
	commits  atomic.Int64
	failures atomic.Int64
	wg       sync.WaitGroup
}

func startWriters(ctx context.Context, db *sql.DB, n int) *moveWriters {
	w := &moveWriters{db: db}
	for i := range n {
		w.wg.Go(func() {
			for next := int64(1_000_000 * (i + 1)); ctx.Err() == nil; next++ {
				w.mu.RLock()
				if w.done {
					w.mu.RUnlock()
					return
				}
				err := w.txn(ctx, next)
				w.mu.RUnlock()
				if err != nil {
					w.failures.Add(1)
					time.Sleep(50 * time.Millisecond) // writes stopped by the cutover's fence
					continue
				}
				w.commits.Add(1)
				time.Sleep(10 * time.Millisecond) // a steady load the sync keeps up with, even under the race detector
			}
		})
	}
	return w
}

func (w *moveWriters) txn(ctx context.Context, next int64) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, args := "INSERT INTO items VALUES (?, 'new', 0)", []any{next}
	if next%2 == 0 {
		stmt, args = "UPDATE items SET n = n + 1, name = 'upd' WHERE id = ?", []any{1 + next%1000}
	}
	if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1"); err != nil {
		return err
	}
	return tx.Commit()
}

// switched is the host's switch: the application writes to the target
// from now on. It waits for the transaction under way, which a fence by
// accounts lets finish or fail (a fence by lock would wait for it: the
// tests fence by accounts).
func (w *moveWriters) switched(context.Context, *workflow.Ticket) error {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	return nil
}

// stop stops the writers and waits for them.
func (w *moveWriters) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.wg.Wait()
}

// assertMoved checks that the target holds what the source holds.
func assertMoved(t *testing.T, database, target string) {
	t.Helper()
	v, err := verify.New(sandboxtest.Open(t, servers[0], ""), sandboxtest.Open(t, servers[1], ""))
	if err != nil {
		t.Fatal(err)
	}
	vr, err := v.VerifyDatabase(t.Context(), database, target)
	if err != nil {
		t.Fatal(err)
	}
	if !vr.Clean() || len(vr.Tables) != 3 {
		t.Fatalf("after the cutover: %d difference(s) in %d table(s)", vr.Differences(), len(vr.Tables))
	}
}

// cutOver asks carol to cut ticket id over until the cutover succeeds (a
// cutover refused because the lag rose above the threshold under the
// writes is asked again), and returns the ticket's detail.
func cutOver(t *testing.T, e *workflow.Engine, id int64) *workflow.Detail {
	t.Helper()
	for attempt := 1; ; attempt++ {
		waitFor(t, e, id, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
		tk, err := e.Cutover(t.Context(), id, "carol", fmt.Sprintf("cut over, attempt %d", attempt))
		if err != nil {
			t.Fatalf("cutover: %v", err)
		}
		if tk.Err() != nil {
			t.Fatalf("cutover approved: the last cutover's error stays: %v", tk.Err())
		}
		d := waitFor(t, e, id, func(tk *workflow.Ticket) bool { return tk.State != workflow.StateCuttingOver })
		if d.Ticket.State != workflow.StateAwaitingCutover || attempt == 20 {
			return d
		}
		last := d.Audit[len(d.Audit)-1]
		if !strings.Contains(last.Comment, migrate.ErrNotInSync.Error()) {
			t.Fatalf("cutover refused for another reason than the lag: %+v", last)
		}
	}
}

func count(d *workflow.Detail, action workflow.Action, to workflow.State) int {
	n := 0
	for _, a := range d.Audit {
		if a.Action == action && a.To == to {
			n++
		}
	}
	return n
}

// TestLiveMoveFlow takes a live-move ticket through its life while the
// application writes to the moved tables: submitted and reviewed by the
// Sync's dry run, approved by a DBA, run in the background; a cutover
// asked for while it copies is refused and recorded; once in sync it
// awaits a cutover, which its submitter may not approve; a cutover that
// the drain refuses (a session of the application holds a transaction) is
// recorded and the ticket goes on awaiting one; the next cutover succeeds
// and its report is the ticket's. The target then holds what the source
// holds, every write applied once.
func TestLiveMoveFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	database, target := moveTables(t, 20000)
	user, appDB := appAccount(t, database)
	w := startWriters(ctx, appDB, 2)
	defer w.stop()

	rec := &workflowtest.Recorder{}
	kind := workflow.LiveMoveKind(workflow.LiveMoveOptions{Switch: w.switched, Sync: []migrate.SyncOption{
		// The copy is slow enough to ask for a cutover during it.
		migrate.WithChunkRows(500), migrate.WithRateLimit(6000, 0), migrate.WithThreads(1),
		migrate.WithDrainWait(3*time.Second, false), migrate.WithProgressInterval(100 * time.Millisecond),
	}})
	e := newEngine(t, workflow.NewMemoryStore(), rec, liveMoveChain, workflow.WithKind(workflow.KindLiveMove, kind))

	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindLiveMove, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: database, Fence: "accounts", Accounts: []string{user + "@%"}}})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if tk.Plan == nil || tk.Plan.Executor != "sync" || len(tk.Plan.Tables) != 3 || tk.Migration.Method != workflow.MethodSync {
		t.Fatalf("review: plan %+v, migration %+v", tk.Plan, tk.Migration)
	}
	if _, err := e.Cutover(ctx, tk.ID, "carol", "too early"); !errors.As(err, new(*workflow.TransitionError)) {
		t.Fatalf("cutover of a ticket pending approval: %v, want a TransitionError", err)
	}
	if tk, err = e.Approve(ctx, tk.ID, "bob", "ok"); err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("approve: %v, %v", tk, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// Asked for while it copies: refused, and recorded.
	waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool {
		return tk.State == workflow.StateRunning && tk.Progress != nil && tk.Progress.Phase == migrate.PhaseCopying
	})
	if _, err := e.Cutover(ctx, tk.ID, "carol", "now please"); !errors.Is(err, migrate.ErrNotInSync) {
		t.Fatalf("cutover while copying: %v, want ErrNotInSync", err)
	}
	d := mustGet(t, e, tk.ID)
	if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionCutover || last.Actor != "carol" || last.To != workflow.StateRunning ||
		!strings.HasPrefix(last.Comment, "refused: the sync is not in sync yet (copying") || !strings.HasSuffix(last.Comment, "now please") {
		t.Fatalf("refused cutover in the audit: %+v", last)
	}

	// In sync: it awaits a cutover, which its submitter cannot approve.
	d = waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
	if p := d.Ticket.Progress; p == nil || p.Phase == migrate.PhaseCopying || p.StreamPosition == "" {
		t.Fatalf("progress awaiting the cutover: %+v", p)
	}
	if _, err := e.Cutover(ctx, tk.ID, "alice", "mine"); !errors.Is(err, workflow.ErrSelfApproval) {
		t.Fatalf("cutover by the submitter: %v", err)
	}
	if _, err := e.Cutover(ctx, tk.ID, "mallory", "ok"); !errors.Is(err, workflow.ErrNotApprover) {
		t.Fatalf("cutover by an outsider: %v", err)
	}

	// The drain refuses the cutover while a session of the application
	// holds a transaction; the sync goes on.
	holder, err := appDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, stmt := range []string{"BEGIN", "UPDATE held SET v = v + 1 WHERE id = 1"} {
		if _, err := holder.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if tk, err := e.Cutover(ctx, tk.ID, "carol", "go"); err != nil || tk.State != workflow.StateCuttingOver || tk.Worker == "" {
		t.Fatalf("cutover: %v, %v", tk, err)
	}
	d = waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State != workflow.StateCuttingOver })
	last := d.Audit[len(d.Audit)-1]
	if d.Ticket.State != workflow.StateAwaitingCutover || last.Action != workflow.ActionCutoverFailed || last.Actor != workflow.SystemActor ||
		!strings.Contains(last.Comment, "session(s) of the accounts still active") {
		t.Fatalf("cutover refused by the drain: %s, last audit entry %+v", d.Ticket.State, last)
	}
	if d.Ticket.Error != last.Comment || d.Ticket.ErrorCode != workflow.CodeDrain || !errors.Is(d.Ticket.Err(), migrate.ErrDrain) {
		t.Fatalf("error of the ticket whose cutover the drain refused: %q, code %q", d.Ticket.Error, d.Ticket.ErrorCode)
	}
	if _, err := holder.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}

	d = cutOver(t, e, tk.ID)
	tk = d.Ticket
	if tk.State != workflow.StateSucceeded || tk.Report == nil || tk.Report.Cutover == nil || tk.Worker != "" || tk.Err() != nil || tk.ErrorCode != "" {
		t.Fatalf("after the cutover: %s %q, report %+v, audit %v", tk.State, tk.Error, tk.Report, actions(d))
	}
	c := tk.Report.Cutover
	if c.Method != "accounts" || c.Pause <= 0 || c.SourcePosition == "" || c.VerifiedTables != 3 {
		t.Fatalf("cutover report %+v", c)
	}
	last = d.Audit[len(d.Audit)-1]
	if last.Action != workflow.ActionSucceed || !strings.HasPrefix(last.Comment, "cut over: writes to the source stopped for ") {
		t.Fatalf("last audit entry %+v", last)
	}
	var approved []string
	for _, a := range d.Audit {
		if a.Action == workflow.ActionCutover && a.To == workflow.StateCuttingOver {
			approved = append(approved, a.Actor+": "+a.Comment)
		}
	}
	if approved[0] != "carol: go" || count(d, workflow.ActionCutoverFailed, workflow.StateAwaitingCutover) != len(approved)-1 ||
		count(d, workflow.ActionSynced, workflow.StateAwaitingCutover) != 1 || count(d, workflow.ActionStart, workflow.StateRunning) != 1 {
		t.Fatalf("audit %v, cutovers approved %v", actions(d), approved)
	}
	t.Logf("commits %d (failed %d), %s", w.commits.Load(), w.failures.Load(), last.Comment)

	w.stop()
	assertMoved(t, database, target)
	var n int64
	if err := sandboxtest.Open(t, servers[1], target).QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil || n != w.commits.Load() {
		t.Fatalf("counter on the target %d, %v; %d commits", n, err, w.commits.Load())
	}
	// The application's grants are back on the source.
	if _, err := appDB.Exec("UPDATE held SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatalf("the application's writes after the cutover: %v", err)
	}

	// People were told: in sync (the DBAs, the submitter), the refusals,
	// the approval, and the end with the cutover's report.
	var kinds []workflow.EventKind
	for _, ev := range ticketEvents(t, rec, tk.ID, workflow.EventFinished) {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == workflow.EventInSync && !slices.Equal(ev.Recipients, []string{"alice", "bob", "carol"}) {
			t.Errorf("in-sync event to %v", ev.Recipients)
		}
	}
	for _, k := range []workflow.EventKind{workflow.EventInSync, workflow.EventCutoverApproved, workflow.EventCutoverFailed, workflow.EventFinished} {
		if !slices.Contains(kinds, k) {
			t.Errorf("no %s event: %v", k, kinds)
		}
	}
	if kinds[len(kinds)-1] != workflow.EventFinished {
		t.Errorf("events %v", kinds)
	}
}

// ticketEvents returns the events of ticket id once one of kind last was
// delivered.
func ticketEvents(t *testing.T, rec *workflowtest.Recorder, id int64, last workflow.EventKind) []workflow.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var evs []workflow.Event
		for _, ev := range rec.Events() {
			if ev.TicketID == id {
				evs = append(evs, ev)
			}
		}
		if slices.ContainsFunc(evs, func(ev workflow.Event) bool { return ev.Kind == last }) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket #%d: no %s event among %d", id, last, len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func progressDump(p *migrate.Progress) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("phase %q lag %s applied %d rows %d position %s", p.Phase, p.Lag, p.AppliedRows, p.Rows, p.StreamPosition)
}

// TestLiveMoveWorkerKilled runs a live move in a child worker process and
// kills it with SIGKILL while the ticket awaits its cutover, the
// application writing; a cutover is approved before the reaper notices.
// The reaper requeues it, another engine resumes the sync from its
// checkpoint (never copying again), and the ticket awaits a cutover anew,
// which then moves the tables with every write applied once.
func TestLiveMoveWorkerKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	store, storeDB := newMySQLStore(t)
	r, secrets := registry(t)
	database, target := moveTables(t, 3000)
	user, appDB := appAccount(t, database)
	w := startWriters(ctx, appDB, 2)
	defer w.stop()
	parent, err := engineFor(store, r, secrets, workflow.WithWorkerID("parent"),
		workflow.WithKind(workflow.KindLiveMove, workflow.LiveMoveKind(workflow.LiveMoveOptions{Switch: w.switched})))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := parent.Submit(ctx, workflow.Request{Kind: workflow.KindLiveMove, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: database, Fence: "accounts", Accounts: []string{user}}})
	if err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if tk, err = parent.Approve(ctx, tk.ID, "bob", "ok"); err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("approve: %v, %v", tk, err)
	}

	worker := startChild(t, childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: plainSecrets(secrets)})
	waitFor(t, parent, tk.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
	worker.kill()
	if d := mustGet(t, parent, tk.ID); !strings.HasPrefix(d.Ticket.Worker, "child/") {
		t.Fatalf("at the kill: worker %q, audit %v", d.Ticket.Worker, actions(d))
	}

	// A cutover approved for the dead worker is not made: the ticket is
	// requeued, and awaits another cutover once in sync again.
	if tk, err := parent.Cutover(ctx, tk.ID, "carol", "before the reaper"); err != nil || tk.State != workflow.StateCuttingOver {
		t.Fatalf("cutover after the kill: %v, %v", tk, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = parent.Run(runCtx) }()
	defer func() { stop(); <-done }()

	waitFor(t, parent, tk.ID, func(tk *workflow.Ticket) bool { return tk.Attempts == 2 })
	d := cutOver(t, parent, tk.ID)
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Attempts != 2 || d.Ticket.Report == nil || d.Ticket.Report.Cutover == nil {
		t.Fatalf("after the kill: %s %q, %d attempts, report %+v, audit %v", d.Ticket.State, d.Ticket.Error, d.Ticket.Attempts, d.Ticket.Report, actions(d))
	}
	// The second run resumed the stream: it copied nothing.
	if rep := d.Ticket.Report; len(rep.Tables) != 0 || rep.Rows != 0 {
		t.Fatalf("the resumed run copied again: %d table(s), %d row(s)", len(rep.Tables), rep.Rows)
	}
	want := []string{"submit>submitted", "review>pending_approval", "await>pending_approval", "approve>approved", "enqueue>queued",
		"start>running", "synced>awaiting_cutover", "cutover>cutting_over", "requeue>queued", "start>running", "synced>awaiting_cutover", "cutover>cutting_over"}
	if got := actions(d); !slices.Equal(got[:len(want)], want) || got[len(got)-1] != "succeed>succeeded" {
		t.Fatalf("audit %v", got)
	}
	w.stop()
	assertMoved(t, database, target)
	t.Logf("commits %d, %s", w.commits.Load(), d.Audit[len(d.Audit)-1].Comment)
}

// TestLiveMoveCanceled cancels a live move that awaits its cutover: the
// sync stops, the target keeps what it holds, and no cutover can follow.
func TestLiveMoveCanceled(t *testing.T) {
	ctx := t.Context()
	database, target := moveTables(t, 500)
	e := newEngine(t, workflow.NewMemoryStore(), nil, liveMoveChain)
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindLiveMove, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: database, Tables: []string{"items"}}})
	if err != nil || tk.State != workflow.StatePendingApproval || len(tk.Plan.Tables) != 1 {
		t.Fatalf("submit: %v, %v", tk, err)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", "ok"); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitFor(t, e, tk.ID, func(tk *workflow.Ticket) bool { return tk.State == workflow.StateAwaitingCutover })
	if tk, err = e.Cancel(ctx, tk.ID, "alice", "not today"); err != nil || tk.State != workflow.StateCanceled {
		t.Fatalf("cancel: %v, %v", tk, err)
	}
	if _, err := e.Cutover(ctx, tk.ID, "carol", "go"); !errors.As(err, new(*workflow.TransitionError)) {
		t.Fatalf("cutover of a canceled ticket: %v", err)
	}
	if _, err := e.EndWindow(ctx, tk.ID, "carol", "go"); !errors.As(err, new(*workflow.TransitionError)) {
		t.Fatalf("end of the rollback window of a canceled ticket: %v", err)
	}
	// The sync stopped: the source has no binary log reader left, and the
	// target keeps its rows.
	src := sandboxtest.Open(t, servers[0], "")
	deadline := time.Now().Add(time.Minute)
	for {
		var readers int
		if err := src.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Scan(&readers); err != nil {
			t.Fatal(err)
		}
		if readers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d binary log reader(s) still on the source after the cancel", readers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var n int
	if err := sandboxtest.Open(t, servers[1], target).QueryRow("SELECT COUNT(*) FROM items").Scan(&n); err != nil || n != 500 {
		t.Fatalf("the target after the cancel: %d rows, %v", n, err)
	}
	if d := mustGet(t, e, tk.ID); count(d, workflow.ActionCancel, workflow.StateCanceled) != 1 || d.Ticket.State != workflow.StateCanceled {
		t.Fatalf("audit %v", actions(d))
	}
}

// TestLiveMoveRequestChecked: bad live-move requests fail at Submit,
// before anything is stored.
func TestLiveMoveRequestChecked(t *testing.T) {
	e := newEngine(t, workflow.NewMemoryStore(), nil, liveMoveChain)
	for name, r := range map[string]workflow.Request{
		"unknown fence":                       {Kind: workflow.KindLiveMove, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Fence: "bogus"}},
		"copier method":                       {Kind: workflow.KindLiveMove, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Method: workflow.MethodCopier}},
		"no migration":                        {Kind: workflow.KindLiveMove},
		"SQL":                                 {Kind: workflow.KindLiveMove, SQL: "DO 1", Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop"}},
		"fenced copy":                         {Kind: workflow.KindDataMigration, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Fence: "accounts"}},
		"sync copy":                           {Kind: workflow.KindDataMigration, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Method: workflow.MethodSync}},
		"reverse copy":                        {Kind: workflow.KindDataMigration, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Reverse: true}},
		"reverse with the flush-tables fence": {Kind: workflow.KindLiveMove, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Reverse: true}},
		"unknown pending switch":              {Kind: workflow.KindLiveMove, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", PendingSwitch: "maybe"}},
		"pending switch with accounts":        {Kind: workflow.KindLiveMove, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", Fence: "accounts", Accounts: []string{"app@%"}, PendingSwitch: "finish"}},
		"pending switch of a copy":            {Kind: workflow.KindDataMigration, Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: "shop", PendingSwitch: "abandon"}},
	} {
		r.Submitter, r.Instance, r.Database = "alice", "test", "shop"
		if _, err := e.Submit(t.Context(), r); !errors.Is(err, workflow.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if got, err := e.List(t.Context(), workflow.Filter{}); err != nil || len(got) != 0 {
		t.Fatalf("stored: %v, %v", got, err)
	}
	// Only a kind with a cutover has one.
	testDB, _ := shopDB(t, servers[1], 20)
	tk, err := e.Submit(t.Context(), workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "UPDATE orders SET amount = 0 WHERE id = 1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cutover(t.Context(), tk.ID, "carol", "go"); !errors.Is(err, workflow.ErrNoCutover) {
		t.Fatalf("cutover of a SQL change: %v, want ErrNoCutover", err)
	}
	if _, err := e.CutBack(t.Context(), tk.ID, "carol", "back"); !errors.Is(err, workflow.ErrNoCutover) {
		t.Fatalf("cut-back of a SQL change: %v, want ErrNoCutover", err)
	}
}
