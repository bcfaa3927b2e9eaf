package workflow_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
)

// childEnv makes the test binary a child process (see child); its value
// is the JSON of a childConfig.
const childEnv = "SHIFTGATE_WORKFLOW_CHILD"

type childConfig struct {
	StoreDSN  string
	Instances []workflow.Instance
	// Secrets are the instances' credentials as plain fields: Credentials
	// hide their password from encoding/json.
	Secrets map[string][2]string
	// Submit, if set, is submitted by the child, with the chain autoSteps;
	// otherwise the child runs an engine's workers.
	Submit *workflow.Request
	// PauseAt, if set, names the store write after which the child stops
	// for good (see pausingStore), for the parent to kill it there.
	PauseAt string
}

// pausedLine starts the line a paused child prints, followed by the
// ticket's id.
const pausedLine = "child paused at"

// slowMigrations copies in small, throttled chunks, so that a test can
// kill a worker in the middle of a copy.
var slowMigrations = workflow.WithKind(workflow.KindDataMigration, workflow.DataMigrationKind(workflow.MigrationOptions{
	Copier: []migrate.CopierOption{migrate.WithChunkRows(500), migrate.WithRateLimit(6000, 0), migrate.WithThreads(1)}}))

// autoSteps approves small DML outside prod automatically, in two steps,
// so that a ticket passes every point where the engine decides alone.
var autoSteps = func() workflow.Option {
	auto := &workflow.AutoApprover{MaxRisk: review.RiskModerate, MaxAffectedRows: 1000, Unless: map[string]string{"env": "prod"}}
	return workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "auto-1", Approver: auto}, workflow.Step{Name: "auto-2", Approver: auto})
}()

func engineFor(store workflow.Store, r *workflow.Registry, secrets workflow.SecretResolver, extra ...workflow.Option) (*workflow.Engine, error) {
	review, err := workflow.LiveReview()
	if err != nil {
		return nil, err
	}
	return workflow.New(store, r, secrets, review, append([]workflow.Option{
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas}), liveMoveChain,
		workflow.WithLease(time.Second), workflow.WithPollInterval(50 * time.Millisecond), slowMigrations,
	}, extra...)...)
}

// pausingStore stops the child for good right after the write named at
// commits: it prints pausedLine and the ticket's id, and never releases
// the lock every call takes, so that no later write of the child's
// commits before the parent kills it.
type pausingStore struct {
	workflow.Store
	at string
	mu *sync.Mutex
}

func (s pausingStore) pauseIf(point string, id int64) {
	if point != s.at {
		return
	}
	fmt.Println(pausedLine, id)
	for {
		time.Sleep(time.Hour)
	}
}

func (s pausingStore) Create(ctx context.Context, t *workflow.Ticket, at time.Time) (*workflow.Ticket, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got, created, err := s.Store.Create(ctx, t, at)
	if err == nil && created {
		s.pauseIf("created", got.ID)
	}
	return got, created, err
}

func (s pausingStore) Transition(ctx context.Context, c workflow.Change) (*workflow.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.Store.Transition(ctx, c)
	if err == nil {
		s.pauseIf(string(c.Action)+">"+next.State.String(), next.ID)
	}
	return next, err
}

func (s pausingStore) Heartbeat(ctx context.Context, b workflow.Beat) (workflow.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.Store.Heartbeat(ctx, b)
	if err == nil && len(b.Results) > 0 && !slices.ContainsFunc(b.Results, func(r migrate.StatementResult) bool { return r.Status != migrate.StatementSucceeded }) {
		s.pauseIf("all-done", b.Ticket)
	}
	return st, err
}

func (s pausingStore) Claim(ctx context.Context, worker string, now time.Time, lease time.Duration) (*workflow.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store.Claim(ctx, worker, now, lease)
}

func (s pausingStore) Get(ctx context.Context, id int64) (*workflow.Detail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store.Get(ctx, id)
}

func (s pausingStore) List(ctx context.Context, f workflow.Filter) ([]*workflow.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store.List(ctx, f)
}

// child submits a ticket or runs an engine's workers, as its config
// says, until it is killed.
func child() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := mysql.ParseDSN(cfg.StoreDSN)
	if err != nil {
		return fail(err)
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return fail(err)
	}
	mysqlStore, err := workflow.NewMySQLStore(ctx, sql.OpenDB(conn))
	if err != nil {
		return fail(err)
	}
	var store workflow.Store = mysqlStore
	if cfg.PauseAt != "" {
		store = pausingStore{Store: mysqlStore, at: cfg.PauseAt, mu: &sync.Mutex{}}
	}
	r, err := workflow.NewRegistry(cfg.Instances...)
	if err != nil {
		return fail(err)
	}
	secrets := workflow.StaticSecrets{}
	for ref, c := range cfg.Secrets {
		secrets[ref] = workflow.Credentials{User: c[0], Password: c[1]}
	}
	e, err := engineFor(store, r, secrets, workflow.WithWorkerID("child"), autoSteps)
	if err != nil {
		return fail(err)
	}
	if cfg.Submit != nil {
		t, err := e.Submit(ctx, *cfg.Submit)
		fmt.Printf("child's submit returned: %v, %v\n", t, err)
		return 3
	}
	fmt.Println("child worker running")
	_ = e.Run(ctx)
	return 0
}

// childProc is a child process of the test.
type childProc struct {
	cmd    *exec.Cmd
	paused chan int64
	once   sync.Once
	mu     sync.Mutex
	out    strings.Builder
}

// startChild starts the test binary as a child with cfg; the test kills
// it at its end at the latest.
// plainSecrets turns secrets into childConfig.Secrets.
func plainSecrets(secrets workflow.StaticSecrets) map[string][2]string {
	out := map[string][2]string{}
	for ref, c := range secrets {
		out[ref] = [2]string{c.User, c.Password}
	}
	return out
}

func startChild(t *testing.T, cfg childConfig) *childProc {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &childProc{cmd: exec.Command(os.Args[0], "-test.run=^$"), paused: make(chan int64, 1)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	c.cmd.Stderr = &lockedWriter{c}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)
	go func() {
		defer close(c.paused)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = c.write([]byte(line + "\n"))
			var id int64
			if _, err := fmt.Sscanf(line, pausedLine+" %d", &id); err == nil {
				c.paused <- id
			}
		}
	}()
	return c
}

type lockedWriter struct{ c *childProc }

func (w *lockedWriter) Write(b []byte) (int, error) { return w.c.write(b) }

func (c *childProc) write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(b)
}

func (c *childProc) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// waitPaused returns the id of the ticket the child paused at; it fails
// the test if the child ends first.
func (c *childProc) waitPaused(t *testing.T) int64 {
	t.Helper()
	id, ok := <-c.paused
	if !ok {
		t.Fatalf("the child ended without reaching its pause point; its output:\n%s", c.output())
	}
	return id
}

// kill kills the child with SIGKILL and waits for it.
func (c *childProc) kill() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	})
}

// TestWorkerKilled runs a SQL change and a migration in a child worker
// process, kills it with SIGKILL in the middle of both, and checks that the
// reaper fails the SQL change as abandoned (never re-running it) and
// requeues the migration, which then resumes and finishes.
func TestWorkerKilled(t *testing.T) {
	ctx := t.Context()
	store, storeDB := newMySQLStore(t)
	r, secrets := registry(t)
	parent, err := engineFor(store, r, secrets, workflow.WithWorkerID("parent"))
	if err != nil {
		t.Fatal(err)
	}
	srcDB, src := shopDB(t, servers[0], 40000)
	dstDB := sandboxtest.NewDatabase(t, servers[1], "wfcopy")
	changeDB, cdb := shopDB(t, servers[1], 20)

	submitApproved := func(req workflow.Request) *workflow.Ticket {
		t.Helper()
		tk, err := parent.Submit(ctx, req)
		if err != nil || tk.State != workflow.StatePendingApproval {
			t.Fatalf("submit: %v, %v", tk, err)
		}
		if tk, err = parent.Approve(ctx, tk.ID, "bob", "ok"); err != nil || tk.State != workflow.StateQueued {
			t.Fatalf("approve: %v, %v", tk, err)
		}
		return tk
	}
	change := submitApproved(workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: changeDB,
		SQL: "UPDATE orders SET amount = -1 WHERE id = 1; DO SLEEP(60); UPDATE orders SET amount = -2 WHERE id = 2"})
	move := submitApproved(workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test", Database: dstDB,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: srcDB, Method: workflow.MethodCopier}})

	worker := startChild(t, childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: plainSecrets(secrets)})
	kill := worker.kill

	waitFor(t, parent, change.ID, func(tk *workflow.Ticket) bool {
		return len(tk.Results) == 3 && tk.Results[1].Status == migrate.StatementRunning
	})
	waitFor(t, parent, move.ID, func(tk *workflow.Ticket) bool {
		return tk.State == workflow.StateRunning && tk.Progress != nil && tk.Progress.Rows > 0
	})
	kill()
	if d := mustGet(t, parent, move.ID); d.Ticket.Progress.Rows >= 40000 {
		t.Fatalf("the copy finished before the kill; the test proves nothing (child output: %s)", worker.output())
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = parent.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// The worker died during statement 2: whether it changed the target
	// is unknown, and the ticket's state says so.
	d := waitFor(t, parent, change.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	tk := d.Ticket
	if tk.State != workflow.StateOutcomeUnknown || !strings.Contains(tk.Error, "abandoned by worker child/") || !errors.Is(tk.Err(), workflow.ErrAbandoned) {
		t.Fatalf("SQL change after the kill: %s, %q", tk.State, tk.Error)
	}
	if tk.Results[0].Status != migrate.StatementSucceeded || tk.Results[1].Status != migrate.StatementFailed ||
		!strings.Contains(tk.Results[1].Error, "worker died") || tk.Results[2].Status != migrate.StatementPending {
		t.Fatalf("results after the kill: %+v", tk.Results)
	}
	if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionAbandon || last.Actor != workflow.SystemActor || last.To != workflow.StateOutcomeUnknown {
		t.Fatalf("last audit entry %+v", last)
	}
	if got, err := parent.List(ctx, workflow.Filter{States: []workflow.State{workflow.StateOutcomeUnknown}}); err != nil || len(got) != 1 || got[0].ID != change.ID {
		t.Fatalf("List of outcome_unknown: %v, %v", got, err)
	}
	// Resubmitting its SQL needs a confirmation.
	again := workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: changeDB, SQL: " " + change.SQL + "\n"}
	if _, err := parent.Submit(ctx, again); !errors.Is(err, workflow.ErrOutcomeUnknown) || !strings.Contains(err.Error(), fmt.Sprintf("#%d", change.ID)) {
		t.Fatalf("resubmitting a change of unknown outcome: %v, want ErrOutcomeUnknown naming #%d", err, change.ID)
	}
	again.ConfirmOutcomeUnknown = true
	if tk, err := parent.Submit(ctx, again); err != nil || tk.State != workflow.StatePendingApproval {
		t.Fatalf("confirmed resubmission: %v, %v", tk, err)
	}

	d = waitFor(t, parent, move.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Attempts != 2 || d.Ticket.Report == nil || !d.Ticket.Report.Resumed {
		t.Fatalf("migration after the kill: %s, %d attempts, report %+v, error %q, audit %v", d.Ticket.State, d.Ticket.Attempts, d.Ticket.Report, d.Ticket.Error, actions(d))
	}
	want := []string{"submit>submitted", "review>pending_approval", "await>pending_approval", "approve>approved", "enqueue>queued",
		"start>running", "requeue>queued", "start>running", "succeed>succeeded"}
	if got := actions(d); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("migration audit %v", got)
	}
	dst := sandboxtest.Open(t, servers[1], dstDB)
	for _, table := range []string{"orders", "notes"} {
		var a, b string
		if err := src.QueryRow("CHECKSUM TABLE "+table).Scan(new(string), &a); err != nil {
			t.Fatal(err)
		}
		if err := dst.QueryRow("CHECKSUM TABLE "+table).Scan(new(string), &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("table %s: checksum %s on the source, %s on the target", table, a, b)
		}
	}
	// The abandoned change was never re-run: its third statement did not run.
	var amount int
	if err := cdb.QueryRow("SELECT amount FROM orders WHERE id = 2").Scan(&amount); err != nil || amount != 2 {
		t.Fatalf("statement 3 ran: amount %d, %v", amount, err)
	}
}

// TestConcurrentApprovers: two approvers decide at once; exactly one wins
// and the other gets a typed error.
func TestConcurrentApprovers(t *testing.T) {
	ctx := t.Context()
	store, _ := newMySQLStore(t)
	e := newEngine(t, store, nil)
	prodDB, _ := shopDB(t, servers[0], 20)
	for range 3 {
		tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "prod", Database: prodDB,
			SQL: "UPDATE orders SET amount = 0 WHERE id = 3"})
		if err != nil || tk.State != workflow.StatePendingApproval {
			t.Fatalf("submit: %v %v", tk, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, who := range []string{"bob", "carol"} {
			wg.Go(func() {
				if i == 0 {
					_, errs[i] = e.Approve(ctx, tk.ID, who, "ok")
				} else {
					_, errs[i] = e.Reject(ctx, tk.ID, who, "no")
				}
			})
		}
		wg.Wait()
		var te *workflow.TransitionError
		var ce *workflow.ConflictError
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.As(err, &te), errors.As(err, &ce):
			default:
				t.Fatalf("loser's error: %v", err)
			}
		}
		d := mustGet(t, e, tk.ID)
		decisions := 0
		for _, a := range d.Audit {
			if a.Action == workflow.ActionApprove || a.Action == workflow.ActionReject {
				decisions++
			}
		}
		if wins != 1 || decisions != 1 {
			t.Fatalf("%d wins, %d decisions in the audit (errors %v)", wins, decisions, errs)
		}
	}
}

// TestTwoEnginesShareWork: two engines (two host replicas) on one MySQL
// store run every ticket exactly once.
func TestTwoEnginesShareWork(t *testing.T) {
	ctx := t.Context()
	store, _ := newMySQLStore(t)
	testDB, db := shopDB(t, servers[1], 20)
	a := newEngine(t, store, nil, workflow.WithWorkerID("a"), workflow.WithWorkers(2))
	b := newEngine(t, store, nil, workflow.WithWorkerID("b"), workflow.WithWorkers(2))
	var ids []int64
	for i := range 8 {
		tk, err := a.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
			SQL: fmt.Sprintf("UPDATE orders SET amount = amount + 1000 WHERE id = %d", i+1)})
		if err != nil || tk.State != workflow.StateQueued {
			t.Fatalf("submit: %v %v", tk, err)
		}
		ids = append(ids, tk.ID)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(runCtx) })
	wg.Go(func() { _ = b.Run(runCtx) })
	for _, id := range ids {
		d := waitFor(t, a, id, func(tk *workflow.Ticket) bool { return tk.State.Final() })
		starts := 0
		for _, e := range d.Audit {
			if e.Action == workflow.ActionStart {
				starts++
			}
		}
		if d.Ticket.State != workflow.StateSucceeded || starts != 1 {
			t.Errorf("ticket #%d: %s after %d starts", id, d.Ticket.State, starts)
		}
	}
	stop()
	wg.Wait()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM orders WHERE amount > 1000").Scan(&n); err != nil || n != 8 {
		t.Fatalf("%d rows updated once, %v", n, err)
	}
	var sum int
	if err := db.QueryRow("SELECT SUM(amount) FROM orders WHERE id <= 8").Scan(&sum); err != nil || sum != 8036 {
		t.Fatalf("sum %d: some ticket ran twice", sum)
	}
}

// TestSubmitterKilled kills the submitting process with SIGKILL at each
// point between two of the engine's own steps: after the ticket is stored,
// after its review, after the first of two automatic approvals, after the
// last one; and an engine that took a ticket over, right after its claim.
// Two other engines on the same store (replicas running their workers)
// take each ticket over and finish it, once.
func TestSubmitterKilled(t *testing.T) {
	ctx := t.Context()
	store, storeDB := newMySQLStore(t)
	r, secrets := registry(t)
	testDB, db := shopDB(t, servers[1], 20)
	points := []struct {
		name string
		left workflow.State
	}{
		{"created", workflow.StateSubmitted},
		{"review>pending_approval", workflow.StatePendingApproval},
		{"approve>pending_approval", workflow.StatePendingApproval},
		{"approve>approved", workflow.StateApproved},
	}
	var engines []*workflow.Engine
	for _, name := range []string{"a", "b"} {
		e, err := engineFor(store, r, secrets, workflow.WithWorkerID(name), autoSteps)
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
	}
	ids := make([]int64, len(points))
	for i, p := range points {
		c := startChild(t, childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: plainSecrets(secrets), PauseAt: p.name,
			Submit: &workflow.Request{ClientKey: p.name, Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
				SQL: fmt.Sprintf("UPDATE orders SET amount = amount + 1000 WHERE id = %d", i+1)}})
		ids[i] = c.waitPaused(t)
		c.kill()
		d := mustGet(t, engines[0], ids[i])
		if d.Ticket.State != p.left || d.Ticket.Awaiting {
			t.Fatalf("killed at %s: ticket #%d is %s (awaiting %v), audit %v", p.name, ids[i], d.Ticket.State, d.Ticket.Awaiting, actions(d))
		}
		if i == 0 {
			// The engine that takes it over dies right after its claim;
			// the claim lapses after a lease.
			w := startChild(t, childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: plainSecrets(secrets), PauseAt: "resume>submitted"})
			if id := w.waitPaused(t); id != ids[0] {
				t.Fatalf("the recovering child paused at ticket #%d, want #%d", id, ids[0])
			}
			w.kill()
			if got := actions(mustGet(t, engines[0], ids[0])); !slices.Equal(got, []string{"submit>submitted", "resume>submitted"}) {
				t.Fatalf("after the recovering engine died: audit %v", got)
			}
		}
	}
	// A repeated Submit by the client also finishes its ticket.
	repeat, err := engines[0].Submit(ctx, workflow.Request{ClientKey: points[1].name, Kind: workflow.KindSQLChange, Submitter: "alice",
		Instance: "test", Database: testDB, SQL: "UPDATE orders SET amount = amount + 1000 WHERE id = 2"})
	if err != nil || repeat.ID != ids[1] || repeat.State != workflow.StateQueued {
		t.Fatalf("repeated submit of a ticket left pending: %v, %v", repeat, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() { _ = e.Run(runCtx) })
	}
	defer func() { stop(); wg.Wait() }()
	for i, id := range ids {
		d := waitFor(t, engines[0], id, func(tk *workflow.Ticket) bool { return tk.State.Final() })
		count := map[workflow.Action]int{}
		for _, a := range d.Audit {
			count[a.Action]++
		}
		if d.Ticket.State != workflow.StateSucceeded || count[workflow.ActionReview] != 1 || count[workflow.ActionApprove] != 2 ||
			count[workflow.ActionStart] != 1 || (i != 1 && count[workflow.ActionResume] == 0) {
			t.Errorf("killed at %s: ticket #%d is %s %q, audit %v", points[i].name, id, d.Ticket.State, d.Ticket.Error, actions(d))
		}
	}
	var sum int
	if err := db.QueryRow("SELECT SUM(amount) FROM orders WHERE id <= 4").Scan(&sum); err != nil || sum != 4010 {
		t.Fatalf("sum %d, %v: some change did not run, or ran twice", sum, err)
	}
}

// TestWorkerKilledAfterLastStatement kills a worker with SIGKILL after its
// heartbeat recorded every statement as done, before the success
// transition: the reaper finishes the ticket as succeeded, with a note,
// and nothing runs twice.
func TestWorkerKilledAfterLastStatement(t *testing.T) {
	ctx := t.Context()
	store, storeDB := newMySQLStore(t)
	r, secrets := registry(t)
	parent, err := engineFor(store, r, secrets, workflow.WithWorkerID("parent"))
	if err != nil {
		t.Fatal(err)
	}
	testDB, db := shopDB(t, servers[1], 20)
	tk, err := parent.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "test", Database: testDB,
		SQL: "UPDATE orders SET amount = amount + 100 WHERE id = 1; UPDATE orders SET amount = amount + 100 WHERE id = 2"})
	if err != nil {
		t.Fatal(err)
	}
	if tk, err = parent.Approve(ctx, tk.ID, "bob", "ok"); err != nil || tk.State != workflow.StateQueued {
		t.Fatalf("approve: %v, %v", tk, err)
	}
	worker := startChild(t, childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: plainSecrets(secrets), PauseAt: "all-done"})
	if id := worker.waitPaused(t); id != tk.ID {
		t.Fatalf("the child paused at ticket #%d, want #%d", id, tk.ID)
	}
	worker.kill()
	if d := mustGet(t, parent, tk.ID); d.Ticket.State != workflow.StateRunning {
		t.Fatalf("at the kill: %s, audit %v", d.Ticket.State, actions(d))
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = parent.Run(runCtx) }()
	defer func() { stop(); <-done }()
	d := waitFor(t, parent, tk.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	last := d.Audit[len(d.Audit)-1]
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Error != "" || d.Ticket.Worker != "" || d.Ticket.FinishedAt.IsZero() ||
		last.Action != workflow.ActionSucceed || last.Actor != workflow.SystemActor || !strings.Contains(last.Comment, "finished by the reaper") {
		t.Fatalf("after the kill: %s %q, last audit entry %+v", d.Ticket.State, d.Ticket.Error, last)
	}
	for _, res := range d.Ticket.Results {
		if res.Status != migrate.StatementSucceeded || res.AffectedRows != 1 {
			t.Fatalf("results %+v", d.Ticket.Results)
		}
	}
	var sum int
	if err := db.QueryRow("SELECT SUM(amount) FROM orders WHERE id <= 2").Scan(&sum); err != nil || sum != 203 {
		t.Fatalf("sum %d, %v: the statements did not run exactly once", sum, err)
	}
}
