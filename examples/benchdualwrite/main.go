// Command benchdualwrite measures dual writes on two throwaway MariaDB
// servers, in one run:
//
//   - write overhead: the application's transactions of 1 and 10 rows
//     with capture off and on (transactions/s and the ratio);
//   - drain: entries/s the relay delivers to the secondary from a full
//     outbox, with one and two relays (goal: at least 5,000/s);
//   - end-to-end lag: from the capture (on the primary, in the writer's
//     transaction) to the commit on the secondary, p50 and p99, at a steady
//     rate of writes (default 1,000/s) with one relay running.
//
// Progress goes to stderr, results to stdout.
//
//	go run ./examples/benchdualwrite [-seconds 5] [-entries 50000] [-rate 1000]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/dualwrite"
	"github.com/shiftgate/shiftgate/internal/sandbox"
)

const ddl = "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)"

var tables = []dualwrite.Table{{Name: "items"}}

func main() {
	seconds := flag.Duration("seconds", 5*time.Second, "how long each write measurement runs")
	entries := flag.Int("entries", 50000, "outbox entries each drain measurement delivers")
	rate := flag.Int("rate", 1000, "writes per second of the lag measurement")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *seconds, *entries, *rate); err != nil {
		fmt.Fprintf(os.Stderr, "benchdualwrite: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, seconds time.Duration, entries, rate int) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger, BufferPool: "512M"})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	fmt.Println("write overhead (transactions/s)")
	for _, rows := range []int{1, 10} {
		f, err := newFixture(ctx, servers, fmt.Sprintf("write%d", rows))
		if err != nil {
			return err
		}
		off, err := writes(ctx, f, rows, false, seconds)
		if err != nil {
			return err
		}
		on, err := writes(ctx, f, rows, true, seconds)
		if err != nil {
			return err
		}
		fmt.Printf("  %2d-row transactions: capture off %8.0f/s, on %8.0f/s, on/off %.2f\n", rows, off, on, on/off)
	}
	fmt.Println("drain (entries/s delivered to the secondary)")
	for _, relays := range []int{1, 2} {
		f, err := newFixture(ctx, servers, fmt.Sprintf("drain%d", relays))
		if err != nil {
			return err
		}
		perSec, err := drain(ctx, f, relays, entries)
		if err != nil {
			return err
		}
		verdict := "ok"
		if perSec < 5000 {
			verdict = "MISS (goal 5000/s)"
		}
		fmt.Printf("  %d relay(s): %8.0f entries/s  %s\n", relays, perSec, verdict)
	}
	f, err := newFixture(ctx, servers, "lag")
	if err != nil {
		return err
	}
	p50, p99, n, err := lag(ctx, f, rate, seconds)
	if err != nil {
		return err
	}
	fmt.Printf("end-to-end lag at %d writes/s (%d changes): p50 %s, p99 %s\n", rate, n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
	return nil
}

// fixture is a table on the primary and its copy on the secondary.
type fixture struct {
	primary, secondary *sql.DB
	name               string
	o                  *dualwrite.Outbox
}

func newFixture(ctx context.Context, servers []*sandbox.Server, name string) (*fixture, error) {
	f := &fixture{name: name}
	for i, s := range servers {
		admin, err := s.Open("")
		if err != nil {
			return nil, err
		}
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
		admin.Close()
		if err != nil {
			return nil, err
		}
		db, err := s.Open(name)
		if err != nil {
			return nil, err
		}
		db.SetMaxIdleConns(100)
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return nil, err
		}
		if i == 0 {
			f.primary = db
		} else {
			f.secondary = db
		}
	}
	o, err := dualwrite.Open(ctx, f.primary, name, tables)
	if err != nil {
		return nil, err
	}
	f.o = o
	return f, nil
}

// transaction writes rows rows from key first on, captured or not.
func (f *fixture) transaction(ctx context.Context, first, rows int, capture bool) error {
	const upsert = "INSERT INTO items VALUES (?, 'name', 1) ON DUPLICATE KEY UPDATE v = v + 1"
	if !capture {
		tx, err := f.primary.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		for id := first; id < first+rows; id++ {
			if _, err := tx.ExecContext(ctx, upsert, id); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	return f.o.Run(ctx, func(tx *dualwrite.Tx) error {
		for id := first; id < first+rows; id++ {
			if _, err := tx.ExecContext(ctx, upsert, id); err != nil {
				return err
			}
			if err := tx.Changed("items", id); err != nil {
				return err
			}
		}
		return nil
	})
}

// writes runs transactions from one connection for d and returns their
// rate.
func writes(ctx context.Context, f *fixture, rows int, capture bool, d time.Duration) (float64, error) {
	begin := time.Now()
	n := 0
	for time.Since(begin) < d {
		if err := f.transaction(ctx, (n*rows)%100000, rows, capture); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(begin).Seconds(), nil
}

// drain fills the outbox with entries changes, then delivers them with
// relays relays (their bucket appliers warmed up by a first drain) and
// returns the entries/s.
func drain(ctx context.Context, f *fixture, relays, entries int) (float64, error) {
	var rs []*dualwrite.Relay
	for range relays {
		tr, err := dualwrite.NewDirectTo(f.o, f.secondary, f.name, f.name+"_cp", "bench")
		if err != nil {
			return 0, err
		}
		r, err := f.o.NewRelay(tr)
		if err != nil {
			return 0, err
		}
		rs = append(rs, r)
	}
	fill := func(from, n int) error {
		for id := from; id < from+n; id += 100 {
			if err := f.transaction(ctx, id, 100, true); err != nil {
				return err
			}
		}
		return nil
	}
	run := func() error {
		var wg sync.WaitGroup
		errs := make(chan error, len(rs))
		for _, r := range rs {
			wg.Go(func() {
				for {
					n, err := r.Step(ctx)
					if err != nil {
						errs <- err
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := fill(1000000, 5000); err != nil {
		return 0, err
	}
	if err := run(); err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "filling the outbox with %d entries\n", entries)
	if err := fill(0, entries); err != nil {
		return 0, err
	}
	begin := time.Now()
	if err := run(); err != nil {
		return 0, err
	}
	return float64(entries) / time.Since(begin).Seconds(), nil
}

// timing is a transport that records, for each entry, the time from its
// capture to the commit of its delivery.
type timing struct {
	dualwrite.Transport
	mu   sync.Mutex
	lags []time.Duration
}

func (t *timing) Deliver(ctx context.Context, bucket int, entries []dualwrite.Entry) error {
	if err := t.Transport.Deliver(ctx, bucket, entries); err != nil {
		return err
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range entries {
		t.lags = append(t.lags, now.Sub(e.Created))
	}
	return nil
}

// lag writes single-row transactions at rate per second for d while a
// relay runs, and returns the p50 and p99 of capture-to-secondary lag.
func lag(ctx context.Context, f *fixture, rate int, d time.Duration) (p50, p99 time.Duration, n int, err error) {
	tr, err := dualwrite.NewDirectTo(f.o, f.secondary, f.name, f.name+"_cp", "lag")
	if err != nil {
		return 0, 0, 0, err
	}
	t := &timing{Transport: tr}
	r, err := f.o.NewRelay(t, dualwrite.WithPoll(time.Millisecond))
	if err != nil {
		return 0, 0, 0, err
	}
	rctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	// Writers from several connections keep the rate when one waits.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	work := make(chan int, rate)
	errs := make(chan error, 8)
	var writers sync.WaitGroup
	for range 8 {
		writers.Go(func() {
			for id := range work {
				if err := f.transaction(ctx, id, 1, true); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	end := time.Now().Add(d)
	for id := 0; time.Now().Before(end); id++ {
		<-tick.C
		work <- id % 100000
	}
	close(work)
	writers.Wait()
	for {
		m, err := f.o.Metrics(ctx)
		if err != nil {
			stop()
			return 0, 0, 0, err
		}
		if m.Pending == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	bg.Wait()
	select {
	case err := <-errs:
		return 0, 0, 0, err
	default:
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.Sort(t.lags)
	if len(t.lags) == 0 {
		return 0, 0, 0, fmt.Errorf("nothing delivered")
	}
	return t.lags[len(t.lags)/2], t.lags[len(t.lags)*99/100], len(t.lags), nil
}
