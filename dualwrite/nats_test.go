package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shiftgate/shiftgate/internal/natsbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestNATS relays concurrent writes through NATS JetStream while the
// broker is stopped and started again; the consumer applies them; at the
// end the secondary equals the primary apart from the poison change,
// which the consumer recorded as a dead letter, and no key was applied
// out of order.
func TestNATS(t *testing.T) {
	ctx := t.Context()
	ns, connect := startNATS(t)
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewNATS(ctx, connect(), "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewRelay(pub, WithBatch(20), WithBackoff(10*time.Millisecond, 200*time.Millisecond), WithPoll(10*time.Millisecond), WithDeliveryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "nats")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	c, err := o.NewConsumer(ctx, connect(), "test", d, WithMaxAttempts(2), WithBackoff(10*time.Millisecond, 100*time.Millisecond), WithPoll(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	bg.Go(func() { _ = c.Run(rctx) })
	defer func() { stopRelay(); bg.Wait() }()

	wctx, stop := context.WithCancel(ctx)
	var writes sync.WaitGroup
	for w := range 3 {
		writes.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 6))
			for wctx.Err() == nil {
				if err := write(wctx, o, rng, 100); err != nil && wctx.Err() == nil && !retryable(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	for {
		err := writePoison(ctx, o, 1000)
		if err == nil {
			break
		}
		if !retryable(err) {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	ns.Stop()
	time.Sleep(time.Second)
	if err := ns.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	writes.Wait()
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last seen: %s", last)
		}
	}()
	waitFor(t, "the relay and the consumer to catch up", func() bool {
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Pending(ctx)
		last = fmt.Sprintf("outbox %+v; consumer pending %d (err %v)", m, n, err)
		return m.Pending == 0 && m.InTransit == 0 && err == nil && n == 0
	})
	f.check(t, o, []int{1000})
}

// startNATS starts a nats-server for the test, and returns it and a
// function that connects to it.
func startNATS(t *testing.T) (*natsbox.Server, func() jetstream.JetStream) {
	ns, err := natsbox.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	return ns, func() jetstream.JetStream {
		nc, err := nats.Connect(ns.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
}

// TestSwitchWaitsForConsumer: with the NATS transport, an entry the relay
// published and the consumer has not applied (a lock on the secondary's
// row holds it back) keeps the switch to write_new from passing: it
// refuses after its drain wait, naming the bucket, and passes once the
// consumer applied the entry, which the new database then holds.
func TestSwitchWaitsForConsumer(t *testing.T) {
	ctx := t.Context()
	_, connect := startNATS(t)
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewNATS(ctx, connect(), "switch")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewRelay(pub, WithPoll(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "switch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	c, err := o.NewConsumer(ctx, connect(), "switch", d, WithPoll(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	bg.Go(func() { _ = c.Run(rctx) })
	defer func() { stop(); bg.Wait() }()

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
	secondaryV := func() int {
		t.Helper()
		var v int
		if err := f.secondary.QueryRowContext(ctx, "SELECT v FROM items WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, p := range []Phase{PhaseDualWrite, PhaseVerified, PhaseReadNew} {
		if p == PhaseVerified {
			// The verification is not what this test is about.
			sandboxtest.Exec(t, f.primary, "UPDATE dualwrite_state SET verified_at = UTC_TIMESTAMP(6), verified_clean = 1")
		}
		if err := o.Switch(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	put(1)
	waitFor(t, "the consumer to apply the first write", func() bool {
		var n int
		err := f.secondary.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE id = 1").Scan(&n)
		return err == nil && n == 1
	})

	// Hold the consumer back: a transaction on the secondary locks the row.
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
	waitFor(t, "the relay to publish the second write", func() bool {
		m, err := o.Metrics(ctx)
		return err == nil && m.Pending == 0
	})
	var pe *PreconditionError
	err = o.Switch(ctx, PhaseWriteNew, WithDrainWait(300*time.Millisecond))
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "1 delivered and not applied on the secondary") || !strings.Contains(pe.Reason, "is 1 entries behind") {
		t.Fatalf("switch to write_new with the consumer held back: %v, want a refusal naming the bucket behind", err)
	}

	switched := make(chan error, 1)
	go func() { switched <- o.Switch(ctx, PhaseWriteNew, WithDrainWait(time.Minute)) }()
	time.Sleep(200 * time.Millisecond) // the switch waits for the consumer
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	if v := secondaryV(); v != 2 {
		t.Fatalf("the new database holds v %d at the switch, want 2", v)
	}
}

// TestConsumerBatches: messages that wait in the broker are applied many
// to a transaction, each key in order, the poison message alone to the
// dead-letter table.
func TestConsumerBatches(t *testing.T) {
	ctx := t.Context()
	_, connect := startNATS(t)
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewNATS(ctx, connect(), "batch")
	if err != nil {
		t.Fatal(err)
	}
	// One entry a message.
	r, err := o.NewRelay(pub, WithBatch(1), WithPoll(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 8))
	for i := range 300 {
		if i == 150 {
			if err := writePoison(ctx, o, 1000); err != nil {
				t.Fatal(err)
			}
		}
		if err := write(ctx, o, rng, 50); err != nil {
			t.Fatal(err)
		}
	}
	messages := 0
	for {
		n, err := r.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		messages += n
	}
	d, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "batch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	c, err := o.NewConsumer(ctx, connect(), "batch", d, WithMaxAttempts(2), WithBackoff(10*time.Millisecond, 50*time.Millisecond), WithPoll(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = c.Run(cctx) })
	defer func() { stop(); bg.Wait() }()
	waitFor(t, "the consumer to apply every message", func() bool {
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Pending(ctx)
		return m.Pending == 0 && m.InTransit == 0 && m.DeadLetters == 1 && err == nil && n == 0
	})
	f.check(t, o, []int{1000})
	// The consumer's transactions are the saves of the dual write's
	// streams.
	var txns int
	if err := f.secondary.QueryRowContext(ctx, "SELECT SUM(version) FROM "+f.cpdb+".stream_positions WHERE stream LIKE 'batch.b%'").Scan(&txns); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages applied in %d transactions", messages, txns)
	if txns*5 > messages {
		t.Errorf("%d messages applied in %d transactions, want at least 5 a transaction", messages, txns)
	}
}
