package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestPhases walks the phases forward and back, each switch refused while
// its precondition fails, with the reason.
func TestPhases(t *testing.T) {
	ctx := t.Context()
	pdb := sandboxtest.NewDatabase(t, servers[0], "phase_old")
	sdb := sandboxtest.NewDatabase(t, servers[1], "phase_new")
	primary := sandboxtest.Open(t, servers[0], pdb)
	secondary := sandboxtest.Open(t, servers[1], sdb)
	sandboxtest.Exec(t, primary, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
	sandboxtest.Exec(t, secondary, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
	o, err := Open(ctx, primary, pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	route := func(want Route) {
		t.Helper()
		r, err := o.Route(ctx)
		if err != nil || r != want {
			t.Fatalf("route %+v (%v), want %+v", r, err, want)
		}
	}
	ok := func(to Phase) {
		t.Helper()
		if err := o.Switch(ctx, to); err != nil {
			t.Fatalf("switch to %s: %v", to, err)
		}
	}
	refused := func(to Phase, reason string) {
		t.Helper()
		err := o.Switch(ctx, to)
		var pe *PreconditionError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPrecondition) || !strings.Contains(pe.Reason, reason) {
			t.Fatalf("switch to %s: %v, want a refusal saying %q", to, err, reason)
		}
	}
	route(Route{PhaseOff, Old, Old, false})
	if err := o.Switch(ctx, PhaseVerified); !errors.Is(err, ErrTransition) {
		t.Fatalf("off to verified: %v, want ErrTransition", err)
	}
	ok(PhaseDualWrite)
	route(Route{PhaseDualWrite, Old, Old, true})
	refused(PhaseVerified, "no verification recorded")

	for _, id := range []int{1, 2} {
		err := o.Run(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (?, 'x')", id); err != nil {
				return err
			}
			return tx.Changed("items", id)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := o.Verify(ctx, secondary, sdb)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Differences() != 2 || res.InFlight != 0 || res.Clean {
		t.Fatalf("verify: %d differences, %d in flight, clean %v; want 2, 0, false", res.Report.Differences(), res.InFlight, res.Clean)
	}
	refused(PhaseVerified, "2 outbox entries pending")
	sandboxtest.Exec(t, primary, "UPDATE dualwrite_outbox SET delivered_at = UTC_TIMESTAMP(6), applied_at = UTC_TIMESTAMP(6)")
	refused(PhaseVerified, "found differences: 2 differing row(s), 0 of them in flight")
	// A row the application changes while a verification runs is in
	// flight.
	var since uint64
	if err := primary.QueryRowContext(ctx, "SELECT MAX(id) FROM dualwrite_outbox").Scan(&since); err != nil {
		t.Fatal(err)
	}
	err = o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE items SET name = 'y' WHERE id = 2"); err != nil {
			return err
		}
		return tx.Changed("items", 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"1": false, "2": true} {
		if got, err := o.changedSince(ctx, "items", []string{key}, since); err != nil || got != want {
			t.Errorf("key %s changed since the verification began: %v (%v), want %v", key, got, err, want)
		}
	}
	sandboxtest.Exec(t, primary, "UPDATE dualwrite_outbox SET delivered_at = UTC_TIMESTAMP(6), applied_at = UTC_TIMESTAMP(6)")
	sandboxtest.Exec(t, secondary, "INSERT INTO items VALUES (1, 'x'), (2, 'y')")
	if res, err = o.Verify(ctx, secondary, sdb); err != nil || !res.Clean {
		t.Fatalf("verify: %+v %v", res, err)
	}
	ok(PhaseVerified)

	sandboxtest.Exec(t, primary, "INSERT INTO dualwrite_dead_letters (id, bucket, key_hash, version, tbl, key_json, created_at, failed_at, attempts, error)"+
		" VALUES (99, 0, 0, 1, 'items', '[\"9\"]', NOW(), NOW(), 5, 'rejected')")
	refused(PhaseReadNew, "1 change(s) in the dead-letter table")
	sandboxtest.Exec(t, primary, "DELETE FROM dualwrite_dead_letters")
	ok(PhaseReadNew)
	route(Route{PhaseReadNew, New, Old, true})
	ok(PhaseVerified) // one step back
	ok(PhaseReadNew)
	// A change the relay has not delivered: the switch to write_new waits
	// for the drain, then refuses.
	err = o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE items SET name = 'z' WHERE id = 1"); err != nil {
			return err
		}
		return tx.Changed("items", 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	var pe *PreconditionError
	if err := o.Switch(ctx, PhaseWriteNew, WithDrainWait(100*time.Millisecond)); !errors.As(err, &pe) || !strings.Contains(pe.Reason, "1 outbox entries pending") {
		t.Fatalf("switch to write_new with a change pending: %v", err)
	}
	// Delivered and not applied (a broker's consumer behind): the switch
	// waits, then refuses, naming the bucket.
	sandboxtest.Exec(t, primary, "UPDATE dualwrite_outbox SET delivered_at = UTC_TIMESTAMP(6) WHERE delivered_at IS NULL")
	var bucket int
	if err := primary.QueryRowContext(ctx, "SELECT bucket FROM dualwrite_outbox WHERE applied_at IS NULL").Scan(&bucket); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0 outbox entries pending and 1 delivered and not applied on the secondary (at most 0 allowed in all): bucket %d is 1 entries behind", bucket)
	if err := o.Switch(ctx, PhaseWriteNew, WithDrainWait(100*time.Millisecond), WithMaxPending(10)); !errors.As(err, &pe) || !strings.Contains(pe.Reason, want) {
		t.Fatalf("switch to write_new with a change delivered and not applied: %v, want a refusal saying %q", err, want)
	}
	var unapplied uint64
	if err := primary.QueryRowContext(ctx, "SELECT id FROM dualwrite_outbox WHERE applied_at IS NULL").Scan(&unapplied); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkApplied(ctx, []uint64{unapplied}); err != nil {
		t.Fatal(err)
	}
	ok(PhaseWriteNew)
	route(Route{PhaseWriteNew, New, New, true})
	// The old database takes no more captured writes.
	if err := o.Run(ctx, func(tx *Tx) error { return tx.Changed("items", 1) }); !errors.Is(err, ErrWriteMoved) {
		t.Fatalf("commit on old in write_new: %v, want ErrWriteMoved", err)
	}
	ok(PhaseDone)
	route(Route{PhaseDone, New, New, false})
	if err := o.Switch(ctx, PhaseOff); !errors.Is(err, ErrTransition) {
		t.Fatalf("done to off: %v, want ErrTransition", err)
	}

	// Back to off and forward again: the old verification predates the
	// new dual writes.
	for _, p := range []Phase{PhaseWriteNew, PhaseReadNew, PhaseVerified, PhaseDualWrite, PhaseOff, PhaseDualWrite} {
		ok(p)
	}
	refused(PhaseVerified, "older than dual writes")
	s, err := o.State(ctx)
	if err != nil || s.Phase != PhaseDualWrite || !s.VerifiedClean {
		t.Fatalf("state %+v (%v)", s, err)
	}
}

// TestSwitchWriteNew: the switch to PhaseWriteNew while writers and a
// relay run waits for the outbox to drain, and no write commits on the
// old database after it: the writers get ErrWriteMoved, and the new
// database holds every write.
func TestSwitchWriteNew(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "switch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	r, err := o.NewRelay(tr, WithPoll(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	defer func() { stopRelay(); bg.Wait() }()

	if err := o.Switch(ctx, PhaseDualWrite); err != nil {
		t.Fatal(err)
	}
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	moved := make(chan error, 3)
	for w := range 3 {
		bg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				err := write(wctx, o, rng, 100)
				if errors.Is(err, ErrWriteMoved) || err != nil && !retryable(err) {
					moved <- err
					return
				}
			}
		})
	}
	waitFor(t, "writes", func() bool { return countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox") > 200 })
	// The verification is not what this test is about.
	sandboxtest.Exec(t, f.primary, "UPDATE dualwrite_state SET verified_at = UTC_TIMESTAMP(6), verified_clean = 1")
	for _, p := range []Phase{PhaseVerified, PhaseReadNew} {
		if err := o.Switch(ctx, p, WithMaxPending(1<<40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Switch(ctx, PhaseWriteNew, WithDrainWait(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	entries := countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox")
	for range 3 {
		select {
		case err := <-moved:
			if !errors.Is(err, ErrWriteMoved) {
				t.Errorf("writer stopped by %v, want ErrWriteMoved", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("writers still commit on the old database after the switch")
		}
	}
	if n := countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox"); n != entries {
		t.Errorf("%d outbox entries after the switch, %d at it", n, entries)
	}
	waitFor(t, "the outbox to drain", func() bool {
		return countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox WHERE delivered_at IS NULL") == 0
	})
	f.check(t, o, nil)
}

// queueTransport delivers to a queue in memory: a broker whose consumer
// applies later.
type queueTransport struct {
	mu      sync.Mutex
	buckets []int
	entries [][]Entry
}

func (q *queueTransport) Deliver(_ context.Context, bucket int, entries []Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.buckets = append(q.buckets, bucket)
	q.entries = append(q.entries, slices.Clone(entries))
	return nil
}

// TestSwitchWaitsForApply: the switch to write_new passes only once the
// secondary applied the last write, whether the relay's Direct delivery
// waits for a lock on the secondary's row or the relay's transport only
// queued the write for a consumer that applies it later.
func TestSwitchWaitsForApply(t *testing.T) {
	for _, transport := range []string{"direct", "queue"} {
		t.Run(transport, func(t *testing.T) {
			ctx := t.Context()
			f := newRelayFixture(t)
			o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "apply")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Close() })
			q := &queueTransport{}
			var tr Transport = d
			if transport == "queue" {
				tr = q
			}
			r, err := o.NewRelay(tr, WithPoll(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			rctx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			bg.Go(func() { _ = r.Run(rctx) })
			defer func() { stop(); bg.Wait() }()
			// consume applies what the queue holds, as a broker's consumer.
			consume := func() {
				t.Helper()
				q.mu.Lock()
				defer q.mu.Unlock()
				for i, b := range q.buckets {
					if err := d.Deliver(ctx, b, q.entries[i]); err != nil {
						t.Fatal(err)
					}
					var ids []uint64
					for _, e := range q.entries[i] {
						ids = append(ids, e.ID)
					}
					if err := o.MarkApplied(ctx, ids); err != nil {
						t.Fatal(err)
					}
				}
				q.buckets, q.entries = nil, nil
			}
			put := func(v int) {
				t.Helper()
				err := o.Run(ctx, func(tx *Tx) error {
					if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (1, 'n', ?) ON DUPLICATE KEY UPDATE v = VALUES(v)", v); err != nil {
						return err
					}
					return tx.Changed("items", 1)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			sandboxtest.Exec(t, f.primary, "UPDATE dualwrite_state SET phase = 'read_new'")
			put(1)
			waitFor(t, "the relay to deliver the first write", func() bool {
				return countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox WHERE delivered_at IS NULL") == 0
			})
			consume()
			lock, err := f.secondary.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = lock.Rollback() }()
			var held int
			if err := lock.QueryRowContext(ctx, "SELECT v FROM items WHERE id = 1 FOR UPDATE").Scan(&held); err != nil {
				t.Fatal(err)
			}
			put(2)
			want := "1 outbox entries pending"
			if transport == "queue" {
				waitFor(t, "the relay to deliver the second write", func() bool {
					return countRows(t, f.primary, "SELECT COUNT(*) FROM dualwrite_outbox WHERE delivered_at IS NULL") == 0
				})
				want = "0 outbox entries pending and 1 delivered and not applied on the secondary"
			}
			var pe *PreconditionError
			if err := o.Switch(ctx, PhaseWriteNew, WithDrainWait(300*time.Millisecond)); !errors.As(err, &pe) || !strings.Contains(pe.Reason, want) {
				t.Fatalf("switch to write_new before the secondary applied the write: %v, want a refusal saying %q", err, want)
			}
			switched := make(chan error, 1)
			go func() { switched <- o.Switch(ctx, PhaseWriteNew, WithDrainWait(time.Minute)) }()
			time.Sleep(200 * time.Millisecond) // the switch waits for the apply
			if err := lock.Rollback(); err != nil {
				t.Fatal(err)
			}
			if transport == "queue" {
				consume()
			}
			if err := <-switched; err != nil {
				t.Fatal(err)
			}
			var v int
			if err := f.secondary.QueryRowContext(ctx, "SELECT v FROM items WHERE id = 1").Scan(&v); err != nil || v != 2 {
				t.Fatalf("the new database holds v %d (%v) at the switch, want 2", v, err)
			}
		})
	}
}
