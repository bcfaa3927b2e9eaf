package workflow_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// childEnv makes the test binary a worker process (see childWorker); its
// value is the JSON of a childConfig.
const childEnv = "SHIFTGATE_WORKFLOW_CHILD"

type childConfig struct {
	StoreDSN  string
	Instances []workflow.Instance
	Secrets   workflow.StaticSecrets
}

// slowMigrations copies in small, throttled chunks, so that a test can
// kill a worker in the middle of a copy.
var slowMigrations = workflow.WithKind(workflow.KindDataMigration, workflow.DataMigrationKind(workflow.MigrationOptions{
	Copier: []migrate.Option{migrate.WithChunkRows(500), migrate.WithRateLimit(6000, 0), migrate.WithThreads(1)}}))

func engineFor(store workflow.Store, r *workflow.Registry, secrets workflow.SecretResolver, extra ...workflow.Option) (*workflow.Engine, error) {
	return workflow.New(store, append([]workflow.Option{
		workflow.WithRegistry(r), workflow.WithSecrets(secrets), workflow.WithLiveReview(),
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithLease(time.Second), workflow.WithPollInterval(50 * time.Millisecond), slowMigrations,
	}, extra...)...)
}

// childWorker runs an engine's workers until it is killed.
func childWorker() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := mysql.ParseDSN(cfg.StoreDSN)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	store, err := workflow.NewMySQLStore(ctx, sql.OpenDB(conn))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	r, err := workflow.NewRegistry(cfg.Instances...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	e, err := engineFor(store, r, cfg.Secrets, workflow.WithWorkerID("child"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	fmt.Println("child worker running")
	_ = e.Run(ctx)
	return 0
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

	cfg, _ := json.Marshal(childConfig{StoreDSN: servers[0].DSN(storeDB), Instances: r.List(), Secrets: secrets})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		})
	}
	defer kill()

	waitFor(t, parent, change.ID, func(tk *workflow.Ticket) bool {
		return len(tk.Results) == 3 && tk.Results[1].Status == migrate.StatementRunning
	})
	waitFor(t, parent, move.ID, func(tk *workflow.Ticket) bool {
		return tk.State == workflow.StateRunning && tk.Progress != nil && tk.Progress.Rows > 0
	})
	kill()
	if d := mustGet(t, parent, move.ID); d.Ticket.Progress.Rows >= 40000 {
		t.Fatalf("the copy finished before the kill; the test proves nothing (child output: %s)", out.String())
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = parent.Run(runCtx) }()
	defer func() { stop(); <-done }()

	d := waitFor(t, parent, change.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	tk := d.Ticket
	if tk.State != workflow.StateFailed || !strings.Contains(tk.Error, "abandoned by worker child/") {
		t.Fatalf("SQL change after the kill: %s, %q", tk.State, tk.Error)
	}
	if tk.Results[0].Status != migrate.StatementSucceeded || tk.Results[1].Status != migrate.StatementFailed ||
		!strings.Contains(tk.Results[1].Error, "worker died") || tk.Results[2].Status != migrate.StatementPending {
		t.Fatalf("results after the kill: %+v", tk.Results)
	}
	if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionAbandon || last.Actor != workflow.SystemActor {
		t.Fatalf("last audit entry %+v", last)
	}

	d = waitFor(t, parent, move.ID, func(tk *workflow.Ticket) bool { return tk.State.Final() })
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Attempts != 2 || d.Ticket.Report == nil || !d.Ticket.Report.Resumed {
		t.Fatalf("migration after the kill: %s, %d attempts, report %+v, error %q, audit %v", d.Ticket.State, d.Ticket.Attempts, d.Ticket.Report, d.Ticket.Error, actions(d))
	}
	want := []string{"submit>submitted", "review>pending_approval", "approve>approved", "enqueue>queued", "start>running", "requeue>queued", "start>running", "succeed>succeeded"}
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
