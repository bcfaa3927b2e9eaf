package dualwrite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shiftgate/shiftgate/internal/natsbox"
)

// TestNATS relays concurrent writes through NATS JetStream while the
// broker is stopped and started again; the consumer applies them; at the
// end the secondary equals the primary apart from the poison change,
// which the consumer recorded as a dead letter, and no key was applied
// out of order.
func TestNATS(t *testing.T) {
	ctx := t.Context()
	ns, err := natsbox.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	connect := func() jetstream.JetStream {
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
	if err := writePoison(ctx, o, 1000); err != nil {
		t.Fatal(err)
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
		return m.Pending == 0 && err == nil && n == 0
	})
	f.check(t, o, []int{1000})
}
