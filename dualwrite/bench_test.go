package dualwrite

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// BenchmarkWrite is the host's write transaction of 1 and 10 rows with
// capture off (a plain transaction) and on: the ratio of the two is the
// write overhead of dual writes.
func BenchmarkWrite(b *testing.B) {
	ctx := b.Context()
	database := sandboxtest.NewDatabase(b, servers[0], "bench")
	db := sandboxtest.Open(b, servers[0], database)
	sandboxtest.Exec(b, db, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)")
	o, err := Open(ctx, db, database, []Table{{Name: "items"}})
	if err != nil {
		b.Fatal(err)
	}
	const upsert = "INSERT INTO items VALUES (?, 'name', 1) ON DUPLICATE KEY UPDATE v = v + 1"
	for _, rows := range []int{1, 10} {
		b.Run(fmt.Sprintf("off/%drows", rows), func(b *testing.B) {
			next := 0
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for range rows {
					next++
					if _, err := tx.ExecContext(ctx, upsert, next%10000); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("capture/%drows", rows), func(b *testing.B) {
			next := 0
			for b.Loop() {
				err := o.Run(ctx, func(tx *Tx) error {
					for range rows {
						next++
						if _, err := tx.ExecContext(ctx, upsert, next%10000); err != nil {
							return err
						}
						if err := tx.Changed("items", next%10000); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDrain is the relays' delivery rate (entries/s) of an outbox
// of 20,000 single-row changes to the secondary, with one and two relays
// in steady state (their bucket appliers started by a first drain).
func BenchmarkDrain(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("relays=%d", n), func(b *testing.B) {
			const entries = 20000
			o, f := drainFixture(b)
			var relays []*Relay
			for range n {
				tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "bench")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tr.Close() })
				r, err := o.NewRelay(tr)
				if err != nil {
					b.Fatal(err)
				}
				relays = append(relays, r)
			}
			next := prefill(b, o, 0, 2000)
			drain(b, relays)
			for b.Loop() {
				b.StopTimer()
				next = prefill(b, o, next, entries)
				b.StartTimer()
				begin := time.Now()
				drain(b, relays)
				b.ReportMetric(entries/time.Since(begin).Seconds(), "entries/s")
			}
		})
	}
}

// drain runs the relays until the outbox is empty.
func drain(b *testing.B, relays []*Relay) {
	var wg sync.WaitGroup
	for _, r := range relays {
		wg.Go(func() {
			for {
				n, err := r.Step(b.Context())
				if err != nil {
					b.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
}

func drainFixture(b *testing.B) (*Outbox, *relayFixture) {
	f := &relayFixture{
		pdb:  sandboxtest.NewDatabase(b, servers[0], "drain_primary"),
		sdb:  sandboxtest.NewDatabase(b, servers[1], "drain_secondary"),
		cpdb: sandboxtest.NewDatabase(b, servers[1], "drain_cp"),
	}
	f.primary = sandboxtest.Open(b, servers[0], f.pdb)
	f.secondary = sandboxtest.Open(b, servers[1], f.sdb)
	const ddl = "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)"
	sandboxtest.Exec(b, f.primary, ddl)
	sandboxtest.Exec(b, f.secondary, ddl)
	o, err := Open(b.Context(), f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		b.Fatal(err)
	}
	return o, f
}

// prefill captures n single-row inserts of keys from start on, in
// transactions of 100, and returns the next key.
func prefill(b *testing.B, o *Outbox, start, n int) int {
	ctx := b.Context()
	for first := start; first < start+n; first += 100 {
		err := o.Run(ctx, func(tx *Tx) error {
			for id := first; id < first+100; id++ {
				if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (?, 'name', 1)", id); err != nil {
					return err
				}
				if err := tx.Changed("items", id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return start + n
}
