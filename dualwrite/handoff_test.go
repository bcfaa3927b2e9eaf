package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// TestHandoffFromSync: a migrate.Sync streams the primary's binary log
// into the secondary while writers insert, update and delete the same
// keys (each write takes the key's next version from key_seq); the
// handoff moves to dual writes while they go on. At the end verify finds
// the two sides equal (key_seq holds each key's count of writes: none
// lost), and the secondary applied each key's versions in order, through
// the sync and then the relay (applied_log).
func TestHandoffFromSync(t *testing.T) {
	// Keys enough that a write lost at the handoff is not overwritten by
	// a later one.
	const handoffKeys = 1000
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	pdb := sandboxtest.NewDatabase(t, src, "dw_handoff")
	obdb := sandboxtest.NewDatabase(t, src, "dw_handoff_ob")
	tdb := sandboxtest.NewDatabase(t, dst, "dw_handoff")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+tdb+"`")
	cpdb := sandboxtest.NewDatabase(t, dst, "dw_handoff_cp")
	primary := sandboxtest.Open(t, src, pdb)
	var seed []string
	for i := 1; i <= handoffKeys; i++ {
		seed = append(seed, fmt.Sprintf("(%d, 'n1', 1)", i))
	}
	sandboxtest.Exec(t, primary,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, v BIGINT NOT NULL)",
		"CREATE TABLE key_seq (id INT PRIMARY KEY, n BIGINT NOT NULL)",
		"INSERT INTO items VALUES "+strings.Join(seed, ","),
		"INSERT INTO key_seq SELECT id, 1 FROM items")
	o, err := Open(ctx, primary, pdb, []Table{{Name: "items"}, {Name: "key_seq"}}, WithOutboxDatabase(obdb))
	if err != nil {
		t.Fatal(err)
	}

	// The sync, in sync.
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), pdb, migrate.WithTargetDatabase(tdb),
		migrate.WithTables("items", "key_seq"), migrate.WithProgressInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var applied atomic.Value
	sctx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	syncDone := make(chan struct{})
	var syncErr error
	go func() {
		defer close(syncDone)
		_, syncErr = s.Run(sctx, func(p migrate.Progress) {
			if p.StreamPosition != "" {
				applied.Store(p.StreamPosition)
			}
		})
	}()
	waitFor(t, "the sync to be in sync", func() bool {
		select {
		case <-syncDone:
			t.Fatalf("sync ended: %v", syncErr)
		default:
		}
		return s.Phase() == migrate.PhaseInSync
	})
	secondary := sandboxtest.Open(t, dst, tdb)
	sandboxtest.Exec(t, secondary,
		"CREATE TABLE applied_log (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id INT NOT NULL, v BIGINT NOT NULL)",
		"CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO applied_log (id, v) VALUES (NEW.id, NEW.v)",
		"CREATE TRIGGER items_au AFTER UPDATE ON items FOR EACH ROW INSERT INTO applied_log (id, v) VALUES (NEW.id, NEW.v)",
		"CREATE TRIGGER items_ad AFTER DELETE ON items FOR EACH ROW INSERT INTO applied_log (id, v) VALUES (OLD.id, OLD.v)")

	// A relay runs throughout; the writers take their route in their
	// transaction and capture when it says so.
	tr, err := NewDirectTo(o, secondary, tdb, cpdb, "handoff")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	r, err := o.NewRelay(tr, WithPoll(10*time.Millisecond), WithBatch(50))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	var relays sync.WaitGroup
	relays.Go(func() { _ = r.Run(rctx) })
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	var commits, captured atomic.Int64
	for w := range 3 {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for wctx.Err() == nil {
				var capture bool
				err := o.Run(wctx, func(tx *Tx) error {
					route, err := tx.Route()
					if err != nil {
						return err
					}
					capture = route.Capture
					return writeKeys(wctx, tx, rng, handoffKeys, capture)
				})
				switch {
				case err == nil:
					commits.Add(1)
					if capture {
						captured.Add(1)
					}
				case wctx.Err() != nil, retryable(err):
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	progress := func(n int64) {
		t.Helper()
		from := commits.Load()
		waitFor(t, "writes", func() bool { return commits.Load() >= from+n })
	}

	progress(100)
	if err := o.BeginHandoff(ctx); err != nil {
		t.Fatal(err)
	}
	progress(200)
	if m, err := o.Metrics(ctx); err != nil || !m.Paused || m.Pending == 0 {
		t.Fatalf("after BeginHandoff: metrics %+v (%v), want captures held", m, err)
	}
	// The sync falls behind: its applier waits for a lock on the secondary
	// for a while, and the handoff waits for it.
	block, err := secondary.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := block.ExecContext(ctx, "SELECT * FROM key_seq FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	progress(50)
	time.AfterFunc(500*time.Millisecond, func() { _ = block.Rollback() })
	rep, err := o.CompleteHandoff(ctx, SyncControl{
		Applied: func(context.Context) (string, error) {
			p, _ := applied.Load().(string)
			return p, nil
		},
		Stop: func(ctx context.Context) error {
			stopSync()
			select {
			case <-syncDone:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}, WithRouteDelay(0))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(syncErr, context.Canceled) {
		t.Errorf("sync ended with %v, want it stopped", syncErr)
	}
	if rep.Covered == 0 || rep.Position == "" {
		t.Errorf("handoff %+v: want entries covered by the sync", rep)
	}
	progress(100)
	stopWriting()
	writers.Wait()
	waitFor(t, "the outbox to drain", func() bool {
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m.Pending == 0 && !m.Paused
	})
	stopRelay()
	relays.Wait()
	t.Logf("commits %d (%d captured), handoff %+v, relayed %d", commits.Load(), captured.Load(), rep, r.Stats().Delivered)

	v, err := verify.New(primary, secondary)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := v.Verify(ctx,
		verify.TablePair{SourceDatabase: pdb, SourceTable: "items", TargetDatabase: tdb},
		verify.TablePair{SourceDatabase: pdb, SourceTable: "key_seq", TargetDatabase: tdb})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.Clean() {
		t.Errorf("verify: %d differences: %+v", vr.Differences(), vr.Tables)
	}
	checkOrder(t, secondary)
}

// TestHandoffRefused: each step refused out of order, and a sync that
// does not catch up in time leaves the handoff to be tried again, the
// captures still held and writes going on.
func TestHandoffRefused(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	stale := SyncControl{
		Applied: func(context.Context) (string, error) { return "0-1-1", nil },
		Stop:    func(context.Context) error { t.Error("a sync that did not catch up was stopped"); return nil },
	}
	if _, err := o.CompleteHandoff(ctx, stale, WithRouteDelay(0)); !errors.Is(err, ErrHandoff) {
		t.Errorf("CompleteHandoff before BeginHandoff: %v, want ErrHandoff", err)
	}
	if err := o.BeginHandoff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.BeginHandoff(ctx); err != nil {
		t.Errorf("BeginHandoff again: %v, want nothing done", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		if err := write(ctx, o, rng, 10); err != nil {
			t.Fatal(err)
		}
	}
	before, err := o.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.CompleteHandoff(ctx, stale, WithRouteDelay(0), WithHandoffTimeout(300*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "call CompleteHandoff again") {
		t.Errorf("CompleteHandoff with a sync behind: %v, want a timeout", err)
	}
	after, err := o.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Paused || after.Pending != before.Pending {
		t.Errorf("after a failed handoff: metrics %+v, want %+v", after, before)
	}
	if err := write(ctx, o, rng, 10); err != nil {
		t.Errorf("write after a failed handoff: %v", err)
	}
	if err := o.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.BeginHandoff(ctx); !errors.Is(err, ErrHandoff) {
		t.Errorf("BeginHandoff in dual writes, relays running: %v, want ErrHandoff", err)
	}
}

// TestHandoffBarriers: Pause returns only once the batch a relay is
// delivering is marked, and a phase switch waits for the transactions
// that took their route with Tx.Route.
func TestHandoffBarriers(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	if err := write(ctx, o, rng, 1); err != nil {
		t.Fatal(err)
	}
	slow := &blockingTransport{block: make(chan struct{}), started: make(chan int, 1)}
	r, err := o.NewRelay(slow)
	if err != nil {
		t.Fatal(err)
	}
	stepped := make(chan error, 1)
	go func() {
		_, err := r.Step(ctx)
		stepped <- err
	}()
	<-slow.started
	paused := make(chan error, 1)
	go func() { paused <- o.Pause(ctx) }()
	select {
	case err := <-paused:
		t.Errorf("Pause returned (%v) while a batch was being delivered", err)
		paused <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(slow.block)
	if err := <-stepped; err != nil {
		t.Fatal(err)
	}
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
	if m, err := o.Metrics(ctx); err != nil || m.Pending != 0 || !m.Paused {
		t.Errorf("after Pause: metrics %+v (%v), want the batch marked", m, err)
	}

	tx, err := o.Begin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if route, err := tx.Route(); err != nil || route.Capture {
		t.Fatalf("route %+v (%v), want phase off", route, err)
	}
	switched := make(chan error, 1)
	go func() { switched <- o.Switch(ctx, PhaseDualWrite) }()
	select {
	case err := <-switched:
		t.Errorf("Switch returned (%v) while a transaction held its route", err)
		switched <- err
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	if err := o.Run(ctx, func(tx *Tx) error {
		route, err := tx.Route()
		if err == nil && !route.Capture {
			err = fmt.Errorf("route %+v after the switch, want capture", route)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
}
