package workflowtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// TestStore is the conformance suite for workflow.Store implementations.
// newStore is called once per subtest and must return an empty store.
//
// The suite checks that the store keeps every field of a ticket, makes
// Create idempotent by client key (also under concurrency), applies
// transitions atomically with the optimistic version check and the
// transition table, writes an audit entry for each, lets exactly one of
// several concurrent transitions or claims win, claims only queued tickets
// whose window is open, oldest first, keeps leases to their worker, and
// filters and pages List as workflow.Filter documents.
func TestStore(t *testing.T, newStore func(t *testing.T) workflow.Store) {
	t.Helper()
	t.Run("CreateAndGet", func(t *testing.T) { testCreateAndGet(t, newStore(t)) })
	t.Run("IdempotentClientKey", func(t *testing.T) { testIdempotent(t, newStore(t)) })
	t.Run("Transition", func(t *testing.T) { testTransition(t, newStore(t)) })
	t.Run("ConcurrentTransitionsOneWins", func(t *testing.T) { testConcurrentTransitions(t, newStore(t)) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, newStore(t)) })
	t.Run("ConcurrentClaimsOneWins", func(t *testing.T) { testConcurrentClaims(t, newStore(t)) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
}

// base is the suite's clock: whole microseconds, as databases keep them.
var base = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func sample(i int) *workflow.Ticket {
	return &workflow.Ticket{
		Kind: workflow.KindSQLChange, Title: fmt.Sprintf("变更 %d", i), Submitter: "alice",
		CC: []string{"carol"}, Instance: "prod-1", Database: "shop",
		SQL: fmt.Sprintf("UPDATE orders SET status = 'x' WHERE id = %d", i),
	}
}

func create(t *testing.T, s workflow.Store, tk *workflow.Ticket, at time.Time) *workflow.Ticket {
	t.Helper()
	got, created, err := s.Create(context.Background(), tk, at)
	if err != nil || !created {
		t.Fatalf("Create: created %v, %v", created, err)
	}
	return got
}

func step(t *testing.T, s workflow.Store, tk *workflow.Ticket, a workflow.Action, to workflow.State, at time.Time) *workflow.Ticket {
	t.Helper()
	got, err := s.Transition(context.Background(), workflow.Change{Ticket: tk.ID, Version: tk.Version, Action: a, To: to, Actor: "bob", At: at})
	if err != nil {
		t.Fatalf("Transition %s to %s: %v", a, to, err)
	}
	return got
}

// queue drives a new ticket to queued.
func queue(t *testing.T, s workflow.Store, tk *workflow.Ticket, at time.Time) *workflow.Ticket {
	t.Helper()
	tk = create(t, s, tk, at)
	tk = step(t, s, tk, workflow.ActionReview, workflow.StatePendingApproval, at)
	tk = step(t, s, tk, workflow.ActionApprove, workflow.StateApproved, at)
	return step(t, s, tk, workflow.ActionEnqueue, workflow.StateQueued, at)
}

func get(t *testing.T, s workflow.Store, id int64) *workflow.Detail {
	t.Helper()
	d, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return d
}

func testCreateAndGet(t *testing.T, s workflow.Store) {
	in := sample(1)
	in.ClientKey = "key-1"
	in.Window = &workflow.Window{NotBefore: base.Add(time.Hour), NotAfter: base.Add(2 * time.Hour)}
	in.Migration = &workflow.Migration{SourceInstance: "prod-2", SourceDatabase: "shop", Tables: []string{"a", "b"}, Method: workflow.MethodCopier}
	got := create(t, s, in, base)
	if got.ID == 0 || got.Version != 1 || got.State != workflow.StateSubmitted || !got.CreatedAt.Equal(base) {
		t.Fatalf("created ticket: id %d, version %d, state %s, created %v", got.ID, got.Version, got.State, got.CreatedAt)
	}
	d := get(t, s, got.ID)
	tk := d.Ticket
	if tk.Title != in.Title || tk.SQL != in.SQL || tk.Submitter != "alice" || tk.Kind != workflow.KindSQLChange ||
		!slices.Equal(tk.CC, in.CC) || tk.ClientKey != "key-1" || tk.Instance != "prod-1" || tk.Database != "shop" {
		t.Errorf("stored ticket differs: %+v", tk)
	}
	if tk.Window == nil || !tk.Window.NotBefore.Equal(in.Window.NotBefore) || !tk.Window.NotAfter.Equal(in.Window.NotAfter) {
		t.Errorf("window: %+v", tk.Window)
	}
	if tk.Migration == nil || !slices.Equal(tk.Migration.Tables, []string{"a", "b"}) || tk.Migration.SourceInstance != "prod-2" {
		t.Errorf("migration: %+v", tk.Migration)
	}
	if len(d.Audit) != 1 || d.Audit[0].Action != workflow.ActionSubmit || d.Audit[0].To != workflow.StateSubmitted ||
		d.Audit[0].Actor != "alice" || !d.Audit[0].At.Equal(base) {
		t.Errorf("audit after create: %+v", d.Audit)
	}
	if _, err := s.Get(context.Background(), got.ID+1000); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrNotFound", err)
	}
	second := create(t, s, sample(2), base)
	if second.ID == got.ID {
		t.Error("two tickets got the same id")
	}
}

func testIdempotent(t *testing.T, s workflow.Store) {
	in := sample(1)
	in.ClientKey = "same"
	first := create(t, s, in, base)
	again := sample(2)
	again.ClientKey = "same"
	got, created, err := s.Create(context.Background(), again, base.Add(time.Second))
	if err != nil || created || got.ID != first.ID || got.Title != first.Title {
		t.Fatalf("second Create with the same key: created %v, id %d (first %d), %v", created, got.ID, first.ID, err)
	}
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	var createdN int
	var mu sync.Mutex
	for i := range ids {
		wg.Go(func() {
			tk := sample(10 + i)
			tk.ClientKey = "race"
			got, created, err := s.Create(context.Background(), tk, base)
			if err != nil {
				t.Errorf("concurrent Create: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[i] = got.ID
			if created {
				createdN++
			}
		})
	}
	wg.Wait()
	if createdN != 1 || len(slices.Compact(slices.Clone(ids))) != 1 {
		t.Fatalf("8 concurrent Creates with one key: %d created, ids %v", createdN, ids)
	}
}

func testTransition(t *testing.T, s workflow.Store) {
	tk := create(t, s, sample(1), base)
	at := base.Add(time.Minute)
	next, err := s.Transition(context.Background(), workflow.Change{
		Ticket: tk.ID, Version: 1, Action: workflow.ActionReview, To: workflow.StatePendingApproval,
		Actor: workflow.SystemActor, Comment: "review passed", At: at,
		Update: func(t *workflow.Ticket) error { t.Step = 1; t.Error = "note"; return nil },
	})
	if err != nil {
		t.Fatalf("Transition: %v", err)
	}
	if next.Version != 2 || next.State != workflow.StatePendingApproval || next.Step != 1 || next.Error != "note" || !next.UpdatedAt.Equal(at) {
		t.Fatalf("after transition: version %d, state %s, step %d, updated %v", next.Version, next.State, next.Step, next.UpdatedAt)
	}
	d := get(t, s, tk.ID)
	if d.Ticket.Step != 1 || d.Ticket.Version != 2 {
		t.Fatalf("stored after transition: %+v", d.Ticket)
	}
	want := workflow.AuditEntry{Ticket: tk.ID, Actor: workflow.SystemActor, Action: workflow.ActionReview,
		From: workflow.StateSubmitted, To: workflow.StatePendingApproval, Comment: "review passed", At: at}
	if len(d.Audit) != 2 || !auditEqual(d.Audit[1], want) {
		t.Fatalf("audit: %+v", d.Audit)
	}

	// An old version conflicts and changes nothing.
	_, err = s.Transition(context.Background(), workflow.Change{Ticket: tk.ID, Version: 1, Action: workflow.ActionApprove, To: workflow.StateApproved, At: at})
	var ce *workflow.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, workflow.ErrConflict) || ce.Current.Version != 2 {
		t.Fatalf("stale version: %v, want a *ConflictError", err)
	}
	// An impossible transition is a *TransitionError naming the ticket.
	_, err = s.Transition(context.Background(), workflow.Change{Ticket: tk.ID, Version: 2, Action: workflow.ActionStart, To: workflow.StateRunning, At: at})
	var te *workflow.TransitionError
	if !errors.As(err, &te) || te.Ticket != tk.ID || te.State != workflow.StatePendingApproval || te.Action != workflow.ActionStart {
		t.Fatalf("impossible transition: %v, want a *TransitionError", err)
	}
	// Update's error aborts the change.
	boom := errors.New("boom")
	_, err = s.Transition(context.Background(), workflow.Change{Ticket: tk.ID, Version: 2, Action: workflow.ActionReject, To: workflow.StateRejected, At: at,
		Update: func(t *workflow.Ticket) error { t.Error = "changed"; return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error: %v", err)
	}
	if _, err := s.Transition(context.Background(), workflow.Change{Ticket: tk.ID + 1000, Version: 1, Action: workflow.ActionReview, To: workflow.StateReviewFailed, At: at}); !errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("unknown ticket: %v", err)
	}
	d = get(t, s, tk.ID)
	if d.Ticket.Version != 2 || d.Ticket.State != workflow.StatePendingApproval || d.Ticket.Error != "note" || len(d.Audit) != 2 {
		t.Fatalf("failed transitions changed the ticket: %+v, %d audit entries", d.Ticket, len(d.Audit))
	}
}

func auditEqual(a, b workflow.AuditEntry) bool {
	return a.Ticket == b.Ticket && a.Actor == b.Actor && a.Action == b.Action && a.From == b.From && a.To == b.To && a.Comment == b.Comment && a.At.Equal(b.At)
}

func testConcurrentTransitions(t *testing.T, s workflow.Store) {
	tk := create(t, s, sample(1), base)
	tk = step(t, s, tk, workflow.ActionReview, workflow.StatePendingApproval, base)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			to, a := workflow.StateApproved, workflow.ActionApprove
			if i%2 == 1 {
				to, a = workflow.StateRejected, workflow.ActionReject
			}
			_, errs[i] = s.Transition(context.Background(), workflow.Change{Ticket: tk.ID, Version: tk.Version, Action: a, To: to,
				Actor: fmt.Sprintf("approver-%d", i), At: base})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, workflow.ErrConflict):
			t.Errorf("loser's error %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent transitions won, want 1", wins)
	}
	if d := get(t, s, tk.ID); len(d.Audit) != 3 || d.Ticket.Version != 3 {
		t.Fatalf("after the race: version %d, %d audit entries", d.Ticket.Version, len(d.Audit))
	}
}

func testClaim(t *testing.T, s workflow.Store) {
	ctx := context.Background()
	if got, err := s.Claim(ctx, "w1", base, time.Minute); got != nil || err != nil {
		t.Fatalf("Claim of an empty store: %v, %v", got, err)
	}
	later := sample(1)
	later.Window = &workflow.Window{NotBefore: base.Add(time.Hour)}
	later = queue(t, s, later, base)
	closed := sample(2)
	closed.Window = &workflow.Window{NotAfter: base.Add(-time.Minute)}
	queue(t, s, closed, base)
	pending := create(t, s, sample(3), base)
	first := queue(t, s, sample(4), base)
	second := queue(t, s, sample(5), base)

	got, err := s.Claim(ctx, "w1", base, time.Minute)
	if err != nil || got == nil || got.ID != first.ID {
		t.Fatalf("Claim: %v, %v; want ticket #%d (the oldest queued with an open window)", got, err, first.ID)
	}
	if got.State != workflow.StateRunning || got.Worker != "w1" || !got.LeaseUntil.Equal(base.Add(time.Minute)) || got.Attempts != 1 || got.Version != first.Version+1 {
		t.Fatalf("claimed ticket: state %s, worker %q, lease %v, attempts %d", got.State, got.Worker, got.LeaseUntil, got.Attempts)
	}
	d := get(t, s, got.ID)
	if last := d.Audit[len(d.Audit)-1]; last.Action != workflow.ActionStart || last.From != workflow.StateQueued || last.To != workflow.StateRunning {
		t.Fatalf("audit of the claim: %+v", last)
	}
	if got, err := s.Claim(ctx, "w2", base, time.Minute); err != nil || got == nil || got.ID != second.ID {
		t.Fatalf("second Claim: %v, %v; want #%d", got, err, second.ID)
	}
	if got, err := s.Claim(ctx, "w2", base, time.Minute); got != nil || err != nil {
		t.Fatalf("third Claim got %v, %v; the rest are outside their window or not queued", got, err)
	}
	if got, err := s.Claim(ctx, "w2", base.Add(time.Hour), time.Minute); err != nil || got == nil || got.ID != later.ID {
		t.Fatalf("Claim once the window opens: %v, %v", got, err)
	}
	if d := get(t, s, pending.ID); d.Ticket.State != workflow.StateSubmitted {
		t.Fatalf("a submitted ticket was claimed: %s", d.Ticket.State)
	}
}

func testConcurrentClaims(t *testing.T, s workflow.Store) {
	tk := queue(t, s, sample(1), base)
	var wg sync.WaitGroup
	got := make([]*workflow.Ticket, 8)
	for i := range got {
		wg.Go(func() {
			var err error
			got[i], err = s.Claim(context.Background(), fmt.Sprintf("w%d", i), base, time.Minute)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, g := range got {
		if g != nil {
			n++
			if g.ID != tk.ID {
				t.Errorf("claimed #%d", g.ID)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d of 8 concurrent claims got the ticket, want 1", n)
	}
	if d := get(t, s, tk.ID); d.Ticket.Attempts != 1 || len(d.Audit) != 5 {
		t.Fatalf("after the race: %d attempts, %d audit entries", d.Ticket.Attempts, len(d.Audit))
	}
}

func testHeartbeat(t *testing.T, s workflow.Store) {
	ctx := context.Background()
	queue(t, s, sample(1), base)
	tk, err := s.Claim(ctx, "w1", base, time.Minute)
	if err != nil || tk == nil {
		t.Fatalf("Claim: %v, %v", tk, err)
	}
	results := []migrate.StatementResult{{Index: 0, Text: "UPDATE t SET a = 1", Status: migrate.StatementSucceeded, AffectedRows: 3, Duration: time.Millisecond}}
	st, err := s.Heartbeat(ctx, workflow.Beat{Ticket: tk.ID, Worker: "w1", LeaseUntil: base.Add(2 * time.Minute),
		Progress: &migrate.Progress{TablesDone: 1, TablesTotal: 2, Rows: 3}, Results: results})
	if err != nil || st != workflow.StateRunning {
		t.Fatalf("Heartbeat: %s, %v", st, err)
	}
	d := get(t, s, tk.ID)
	if !d.Ticket.LeaseUntil.Equal(base.Add(2*time.Minute)) || d.Ticket.Progress == nil || d.Ticket.Progress.Rows != 3 ||
		len(d.Ticket.Results) != 1 || d.Ticket.Results[0].AffectedRows != 3 || d.Ticket.Version != tk.Version {
		t.Fatalf("after heartbeat: lease %v, progress %+v, results %+v, version %d (was %d)",
			d.Ticket.LeaseUntil, d.Ticket.Progress, d.Ticket.Results, d.Ticket.Version, tk.Version)
	}
	if _, err := s.Heartbeat(ctx, workflow.Beat{Ticket: tk.ID, Worker: "w2", LeaseUntil: base.Add(time.Hour)}); !errors.Is(err, workflow.ErrLeaseLost) {
		t.Fatalf("Heartbeat by another worker: %v, want ErrLeaseLost", err)
	}
	// Canceled while running: the worker still holds it, learns of the
	// cancellation, and can store its last results.
	tk = step(t, s, tk, workflow.ActionCancel, workflow.StateCanceled, base)
	st, err = s.Heartbeat(ctx, workflow.Beat{Ticket: tk.ID, Worker: "w1", Results: append(results, results[0])})
	if err != nil || st != workflow.StateCanceled {
		t.Fatalf("Heartbeat after cancel: %s, %v", st, err)
	}
	if d := get(t, s, tk.ID); len(d.Ticket.Results) != 2 {
		t.Fatalf("results after cancel: %+v", d.Ticket.Results)
	}
	// A live move awaiting or making its cutover is still leased: its
	// heartbeats extend the lease.
	queue(t, s, sample(3), base)
	move, err := s.Claim(ctx, "w1", base, time.Minute)
	if err != nil || move == nil {
		t.Fatalf("Claim: %v, %v", move, err)
	}
	move = step(t, s, move, workflow.ActionSynced, workflow.StateAwaitingCutover, base)
	for i, to := range []workflow.State{workflow.StateAwaitingCutover, workflow.StateCuttingOver} {
		if to == workflow.StateCuttingOver {
			move = step(t, s, move, workflow.ActionCutover, to, base)
		}
		until := base.Add(time.Duration(2+i) * time.Minute)
		if st, err := s.Heartbeat(ctx, workflow.Beat{Ticket: move.ID, Worker: "w1", LeaseUntil: until}); err != nil || st != to {
			t.Fatalf("Heartbeat in %s: %s, %v", to, st, err)
		}
		if d := get(t, s, move.ID); !d.Ticket.LeaseUntil.Equal(until) {
			t.Fatalf("lease in %s: %v, want %v", to, d.Ticket.LeaseUntil, until)
		}
	}
	// A ticket whose worker was cleared refuses heartbeats.
	queue(t, s, sample(2), base)
	other, err := s.Claim(ctx, "w1", base, time.Minute)
	if err != nil || other == nil {
		t.Fatalf("Claim: %v, %v", other, err)
	}
	_, err = s.Transition(ctx, workflow.Change{Ticket: other.ID, Version: other.Version, Action: workflow.ActionRequeue, To: workflow.StateQueued, At: base,
		Update: func(t *workflow.Ticket) error { t.Worker = ""; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx, workflow.Beat{Ticket: other.ID, Worker: "w1"}); !errors.Is(err, workflow.ErrLeaseLost) {
		t.Fatalf("Heartbeat after requeue: %v, want ErrLeaseLost", err)
	}
}

func testList(t *testing.T, s workflow.Store) {
	ctx := context.Background()
	var all []*workflow.Ticket
	for i := range 7 {
		tk := sample(i)
		if i%2 == 1 {
			tk.Submitter = "dave"
		}
		if i == 3 {
			tk.Kind, tk.SQL = workflow.KindDataMigration, ""
			tk.Migration = &workflow.Migration{SourceInstance: "prod-9", SourceDatabase: "crm", Method: workflow.MethodPipe}
			tk.Instance = "test-2"
		}
		if i == 5 {
			tk.SQL = "ALTER TABLE Customers ADD COLUMN vip TINYINT"
		}
		all = append(all, create(t, s, tk, base.Add(time.Duration(i)*time.Hour)))
	}
	if _, err := s.Transition(ctx, workflow.Change{Ticket: all[2].ID, Version: all[2].Version, Action: workflow.ActionReview, To: workflow.StateReviewFailed,
		Actor: "bob", At: base, Update: func(tk *workflow.Ticket) error {
			tk.Error, tk.ErrorCode = "review failed: statement 1: no_drop: DROP TABLE", workflow.CodeReviewRefused
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	ids := func(f workflow.Filter) []int64 {
		t.Helper()
		got, err := s.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		var out []int64
		for _, tk := range got {
			out = append(out, tk.ID)
		}
		return out
	}
	id := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, all[i].ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    workflow.Filter
		want []int64
	}{
		{"all, newest first", workflow.Filter{}, id(6, 5, 4, 3, 2, 1, 0)},
		{"submitter", workflow.Filter{Submitter: "dave"}, id(5, 3, 1)},
		{"state", workflow.Filter{States: []workflow.State{workflow.StateReviewFailed}}, id(2)},
		{"states", workflow.Filter{States: []workflow.State{workflow.StateReviewFailed, workflow.StateSubmitted}, Limit: 2}, id(6, 5)},
		{"target instance", workflow.Filter{Instance: "test-2"}, id(3)},
		{"source instance", workflow.Filter{Instance: "prod-9"}, id(3)},
		{"kind", workflow.Filter{Kind: workflow.KindDataMigration}, id(3)},
		{"error code", workflow.Filter{ErrorCode: workflow.CodeReviewRefused}, id(2)},
		{"error code none has", workflow.Filter{ErrorCode: workflow.CodeNotVerified}, nil},
		{"time range", workflow.Filter{CreatedFrom: base.Add(2 * time.Hour), CreatedTo: base.Add(4 * time.Hour)}, id(3, 2)},
		{"keyword, any case", workflow.Filter{Keyword: "customers"}, id(5)},
		{"keyword with LIKE metacharacters", workflow.Filter{Keyword: "%"}, nil},
		{"keyword in title", workflow.Filter{Keyword: "变更 4"}, id(4)},
		{"page 1", workflow.Filter{Limit: 3}, id(6, 5, 4)},
		{"page 2", workflow.Filter{Limit: 3, BeforeID: all[4].ID}, id(3, 2, 1)},
		{"page 3", workflow.Filter{Limit: 3, BeforeID: all[1].ID}, id(0)},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	// The error's code comes back with it, and its identity.
	if got, err := s.List(ctx, workflow.Filter{ErrorCode: workflow.CodeReviewRefused}); err != nil || len(got) != 1 ||
		!errors.Is(got[0].Err(), workflow.ErrReviewRefused) {
		t.Errorf("ticket refused by its review: %v, %v", got, err)
	}
	if _, err := s.List(ctx, workflow.Filter{Limit: -1}); err == nil {
		t.Error("List with a negative limit: no error")
	}
}
