package dualwrite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// notifyingTransport tells delivered about each entry it delivered.
type notifyingTransport struct {
	Transport
	delivered chan Entry
}

func (n *notifyingTransport) Deliver(ctx context.Context, bucket int, entries []Entry) error {
	if err := n.Transport.Deliver(ctx, bucket, entries); err != nil {
		return err
	}
	for _, e := range entries {
		n.delivered <- e
	}
	return nil
}

// runRelay runs a relay of o to f's secondary that polls once an hour, so
// that only a wakeup ends its idle waits, until the test ends.
func runRelay(t *testing.T, o *Outbox, f *relayFixture) (*Relay, chan Entry) {
	t.Helper()
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "wake")
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyingTransport{Transport: tr, delivered: make(chan Entry, 100)}
	r, err := o.NewRelay(n, WithPoll(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = tr.Close()
	})
	return r, n.delivered
}

// itemsOutbox is the outbox of items in a new relay fixture.
func itemsOutbox(t *testing.T) (*Outbox, *relayFixture) {
	t.Helper()
	f := newRelayFixture(t)
	o, err := Open(t.Context(), f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	return o, f
}

func putItem(ctx context.Context, o *Outbox, id int) error {
	return o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (?, 'x', 1) ON DUPLICATE KEY UPDATE v = v + 1", id); err != nil {
			return err
		}
		return tx.Changed("items", id)
	})
}

// TestRelayWakesOnCommit: a relay waiting for its poll delivers a change
// committed in its process without waiting for the poll (here an hour):
// the commit wakes it. Before, Run slept the whole poll whenever a pass
// found nothing, which at the default 100ms added up to a poll to the lag
// of every change committed while the relay was idle.
func TestRelayWakesOnCommit(t *testing.T) {
	ctx := t.Context()
	o, f := itemsOutbox(t)
	r, delivered := runRelay(t, o, f)
	for id := 1; id <= 4; id++ {
		// Let the relay finish its pass and wait idle: the commit must
		// wake it (on a slow machine it may still be in its pass, and the
		// next pass delivers the change: the test then proves less, never
		// fails wrongly).
		time.Sleep(100 * time.Millisecond)
		if err := putItem(ctx, o, id); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-delivered:
			if e.Key != fmt.Sprintf(`["%d"]`, id) {
				t.Fatalf("delivered key %s, want %d", e.Key, id)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("change %d not delivered 30s after its commit (relay stats %+v): the commit did not wake the idle relay", id, r.Stats())
		}
	}
	if s := r.Stats(); s.Wakeups < 1 {
		t.Errorf("relay stats %+v: no wakeup counted for the commits while it was idle", s)
	}
}

// TestRelayWakeupsWhilePaused: commits while the outbox is paused wake the
// relay twice at most before its poll: a relay that cannot deliver is not
// driven by the writers' commits.
func TestRelayWakeupsWhilePaused(t *testing.T) {
	ctx := t.Context()
	o, f := itemsOutbox(t)
	if err := o.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	r, delivered := runRelay(t, o, f)
	for id := 1; id <= 20; id++ {
		if err := putItem(ctx, o, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // let the relay wake between commits
	}
	select {
	case e := <-delivered:
		t.Fatalf("paused outbox delivered entry %d", e.ID)
	default:
	}
	if s := r.Stats(); s.Wakeups > 2 {
		t.Errorf("relay stats %+v: %d wakeups while paused, want 2 at most before the poll", s, s.Wakeups)
	}
}
