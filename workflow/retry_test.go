package workflow_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// TestRetryReview: a ticket whose review failed because the target's
// credentials could not be resolved is reviewed again by Retry once they
// can, and goes on to approval; Retry of a ticket whose review did not
// fail is an impossible transition.
func TestRetryReview(t *testing.T) {
	ctx := t.Context()
	r, secrets := registry(t)
	good := secrets["vault/prod"]
	delete(secrets, "vault/prod")
	rec := &workflowtest.Recorder{}
	e, err := workflow.New(workflow.NewMemoryStore(), r, secrets, liveReview(t), options(rec)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	db, _ := shopDB(t, servers[0], 10)
	tk, err := e.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Submitter: "alice", Instance: "prod", Database: db,
		SQL: "UPDATE orders SET amount = 1 WHERE id = 1"})
	if err != nil || tk.State != workflow.StateReviewFailed {
		t.Fatalf("submit without credentials: %+v, %v", tk, err)
	}
	secrets["vault/prod"] = good
	tk, err = e.Retry(ctx, tk.ID, "alice", "credentials fixed")
	if err != nil || tk.State != workflow.StatePendingApproval || tk.Error != "" || tk.Review == nil || !tk.Review.Summary.Pass {
		t.Fatalf("retry: %+v, %v", tk, err)
	}
	got := actions(mustGet(t, e, tk.ID))
	want := []string{"submit>submitted", "review>review_failed", "retry>submitted", "review>pending_approval", "await>pending_approval"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	if _, err := e.Retry(ctx, tk.ID, "alice", ""); !errors.Is(err, workflow.ErrTransition) {
		t.Fatalf("retry of a pending ticket: %v", err)
	}
	var kinds []workflow.EventKind
	for _, ev := range ticketEvents(t, rec, tk.ID, workflow.EventApprovalRequested) {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == workflow.EventRetried && (ev.Actor != "alice" || ev.Comment != "credentials fixed") {
			t.Errorf("retry event %+v", ev)
		}
	}
	if !slices.Contains(kinds, workflow.EventRetried) {
		t.Errorf("events %v: no %s", kinds, workflow.EventRetried)
	}
	who, err := e.Approvers(ctx, tk)
	if err != nil || !slices.Equal(who, []string{"bob", "carol"}) {
		t.Fatalf("approvers: %v, %v", who, err)
	}
}

// TestCheck: the self-service check reviews against the target's catalog
// and stores nothing; bad input names what is wrong.
func TestCheck(t *testing.T) {
	ctx := t.Context()
	store := workflow.NewMemoryStore()
	e := newEngine(t, store, nil)
	db, _ := shopDB(t, servers[0], 10)
	res, err := e.Check(ctx, "prod", db, "UPDATE orders SET amount = 1 WHERE id = 1;\nDELETE FROM nosuch WHERE id = 1")
	if err != nil || res.Summary.Pass || len(res.Statements) != 2 || len(res.Statements[1].Findings) == 0 {
		t.Fatalf("check: %+v, %v", res, err)
	}
	if l, _ := store.List(ctx, workflow.Filter{}); len(l) != 0 {
		t.Fatalf("check stored %d tickets", len(l))
	}
	if _, err := e.Check(ctx, "nowhere", db, "DO 1"); !errors.Is(err, workflow.ErrUnknownInstance) {
		t.Errorf("unknown instance: %v", err)
	}
	if _, err := e.Check(ctx, "prod", db, " "); !errors.Is(err, workflow.ErrEmptySQL) {
		t.Errorf("empty SQL: %v", err)
	}
	if _, err := e.Check(ctx, "prod", "", "DO 1"); !errors.Is(err, workflow.ErrInvalidRequest) {
		t.Errorf("bad database: %v", err)
	}
}

// TestReviewByTags: the prod policy on the instance tagged env=prod, the
// default elsewhere, from one line of configuration.
func TestReviewByTags(t *testing.T) {
	r, secrets := registry(t)
	rv, err := workflow.LiveReviewByTags([]workflow.TagReview{{Tags: map[string]string{"env": "prod"},
		Options: []review.Option{review.WithPolicy(review.ProdPolicy())}}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := workflow.New(workflow.NewMemoryStore(), r, secrets, rv, options(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{0: "prod", 1: "default"} {
		db, _ := shopDB(t, servers[i], 10)
		res, err := e.Check(t.Context(), []string{"prod", "test"}[i], db, "UPDATE orders SET amount = 1 WHERE id = 1")
		if err != nil || res.Summary.Policy != want {
			t.Errorf("instance %d: policy %v, %v; want %s", i, res, err, want)
		}
	}
	if _, err := workflow.LiveReviewByTags([]workflow.TagReview{{Options: nil}}); err == nil {
		t.Error("a rule without tags was accepted")
	}
}

// waitProgress is an executor that reports progress, then waits until
// its ticket's stored progress shows it (or its context ends).
type waitProgress struct {
	seen chan struct{}
}

func (w waitProgress) Plan(context.Context) (*migrate.Plan, error) { return &migrate.Plan{}, nil }

func (w waitProgress) Run(ctx context.Context, progress migrate.ProgressFunc) (*migrate.Report, error) {
	progress(migrate.Progress{TablesDone: 1, TablesTotal: 4, Rows: 42})
	select {
	case <-w.seen:
		return &migrate.Report{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestProgressStoredPromptly: a run's progress reaches the store long
// before the next heartbeat (a third of a one-minute lease).
func TestProgressStoredPromptly(t *testing.T) {
	ctx := t.Context()
	seen := make(chan struct{})
	r, secrets := registry(t)
	e, err := workflow.New(workflow.NewMemoryStore(), r, secrets, liveReview(t),
		workflow.WithKind("slow", workflow.KindSpec{Executor: func(context.Context, *workflow.Ticket, workflow.Endpoints) (migrate.Executor, error) {
			return waitProgress{seen: seen}, nil
		}}),
		workflow.WithChain("slow", workflow.Step{Name: "dba", Approver: dbas}), workflow.WithLease(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := e.Submit(ctx, workflow.Request{Kind: "slow", Submitter: "alice", Instance: "test", Database: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(seen)
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if d, err := e.Get(ctx, tk.ID); err == nil && d.Ticket.Progress != nil && d.Ticket.Progress.Rows == 42 {
				return
			}
		}
		t.Error("the progress was not stored within 15s")
	}()
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatal(ran, err)
	}
	if d := mustGet(t, e, tk.ID); d.Ticket.State != workflow.StateSucceeded {
		t.Fatalf("state %s: %s", d.Ticket.State, d.Ticket.Error)
	}
}

// TestRegistryOpen: an instance of the registry becomes an open
// connection; failures name the instance and never the password.
func TestRegistryOpen(t *testing.T) {
	r, secrets := registry(t)
	name, _ := shopDB(t, servers[1], 5)
	db, err := r.Open(t.Context(), secrets, "test", name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 5 {
		t.Fatalf("orders on test: %d, %v", n, err)
	}
	if _, err := r.Open(t.Context(), secrets, "nowhere", ""); !errors.Is(err, workflow.ErrUnknownInstance) {
		t.Errorf("unknown instance: %v", err)
	}
	wrong := workflow.StaticSecrets{"vault/prod": {User: servers[0].User(), Password: "wrong-secret"}}
	_, err = r.Open(t.Context(), wrong, "prod", "")
	if err == nil || !strings.Contains(err.Error(), "instance prod") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong password: %v", err)
	}
}

// resumed is a resumable executor whose first run lasts until its
// context ends (the worker shuts down) and whose second succeeds.
type resumed struct{ runs *int }

func (r resumed) Plan(context.Context) (*migrate.Plan, error) { return &migrate.Plan{}, nil }

func (r resumed) Run(ctx context.Context, _ migrate.ProgressFunc) (*migrate.Report, error) {
	*r.runs++
	if *r.runs == 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &migrate.Report{Duration: time.Millisecond}, nil
}

// TestFinishedAfterResume: the end of a ticket run twice reports the
// attempts and the time since the first start, not only the last run's.
func TestFinishedAfterResume(t *testing.T) {
	ctx := t.Context()
	runs := 0
	r, secrets := registry(t)
	e, err := workflow.New(workflow.NewMemoryStore(), r, secrets, liveReview(t),
		workflow.WithKind("resumable", workflow.KindSpec{
			Executor: func(context.Context, *workflow.Ticket, workflow.Endpoints) (migrate.Executor, error) {
				return resumed{runs: &runs}, nil
			},
			Resumable: func(*workflow.Ticket) bool { return true }}),
		workflow.WithChain("resumable", workflow.Step{Name: "dba", Approver: dbas}))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := e.Submit(ctx, workflow.Request{Kind: "resumable", Submitter: "alice", Instance: "test", Database: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(ctx, tk.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	first, stop := context.WithCancel(ctx)
	go func() {
		for mustGet(t, e, tk.ID).Ticket.State != workflow.StateRunning {
			time.Sleep(10 * time.Millisecond)
		}
		stop() // the worker shuts down mid-run
	}()
	if ran, err := e.RunOnce(first); !ran || err != nil {
		t.Fatal(ran, err)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatal(ran, err)
	}
	d := mustGet(t, e, tk.ID)
	last := d.Audit[len(d.Audit)-1]
	if d.Ticket.State != workflow.StateSucceeded || !strings.Contains(last.Comment, "2 attempts") || !strings.Contains(last.Comment, "since the first started") {
		t.Fatalf("%s: %q (audit %v)", d.Ticket.State, last.Comment, actions(d))
	}
}

// TestNotEmptyTargetHint: a migration onto tables holding rows fails its
// review with a hint naming the ticket's field, not a Go option.
func TestNotEmptyTargetHint(t *testing.T) {
	e := newEngine(t, workflow.NewMemoryStore(), nil)
	source, _ := shopDB(t, servers[0], 10)
	target, _ := shopDB(t, servers[1], 10)
	tk, err := e.Submit(t.Context(), workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: source}})
	if err != nil || tk.State != workflow.StateReviewFailed {
		t.Fatalf("submit: %+v, %v", tk, err)
	}
	if !strings.Contains(tk.Error, "resubmit with the migration's replace set") || strings.Contains(tk.Error, "WithReplace") ||
		tk.ErrorCode != workflow.CodeNotEmpty || !errors.Is(tk.Err(), migrate.ErrNotEmpty) {
		t.Errorf("error %q", tk.Error)
	}
}

// nopCopy is a copy that copies nothing.
type nopCopy struct{}

func (nopCopy) Plan(context.Context) (*migrate.Plan, error) { return &migrate.Plan{}, nil }
func (nopCopy) Run(context.Context, migrate.ProgressFunc) (*migrate.Report, error) {
	return &migrate.Report{}, nil
}

// TestVerifiedCopy: a data migration ends with the verification of its
// copy; a copy whose target differs from its source fails its ticket,
// with the verification kept.
func TestVerifiedCopy(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, workflow.NewMemoryStore(), nil, workflow.WithKind("nocopy", workflow.Verified(workflow.KindSpec{
		Executor: func(context.Context, *workflow.Ticket, workflow.Endpoints) (migrate.Executor, error) {
			return nopCopy{}, nil
		}})),
		workflow.WithChain("nocopy", workflow.Step{Name: "dba", Approver: dbas}))
	source, _ := shopDB(t, servers[0], 10)
	run := func(r workflow.Request) *workflow.Ticket {
		t.Helper()
		tk, err := e.Submit(ctx, r)
		if err != nil || tk.State != workflow.StatePendingApproval {
			t.Fatalf("submit: %+v, %v", tk, err)
		}
		if _, err := e.Approve(ctx, tk.ID, "bob", ""); err != nil {
			t.Fatal(err)
		}
		if ran, err := e.RunOnce(ctx); !ran || err != nil {
			t.Fatal(ran, err)
		}
		return mustGet(t, e, tk.ID).Ticket
	}
	target := sandboxtest.NewDatabase(t, servers[1], "wfcopy")
	tk := run(workflow.Request{Kind: workflow.KindDataMigration, Submitter: "alice", Instance: "test", Database: target,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: source}})
	if tk.State != workflow.StateSucceeded || tk.Verification == nil || !tk.Verification.Clean() || len(tk.Verification.Tables) != 2 {
		t.Fatalf("copy: %s %s, verification %+v", tk.State, tk.Error, tk.Verification)
	}
	// The target's orders hold 5 rows, the source's 10: nothing copied
	// them.
	differs, _ := shopDB(t, servers[1], 5)
	tk = run(workflow.Request{Kind: "nocopy", Submitter: "alice", Instance: "test", Database: differs,
		Migration: &workflow.Migration{SourceInstance: "prod", SourceDatabase: source, Tables: []string{"orders"}}})
	if tk.State != workflow.StateFailed || !strings.Contains(tk.Error, "5 row(s) differ") || tk.Verification == nil || tk.Verification.Differences() != 5 ||
		!errors.Is(tk.Err(), migrate.ErrNotVerified) {
		t.Fatalf("differing copy: %s %q, verification %+v", tk.State, tk.Error, tk.Verification)
	}
}
