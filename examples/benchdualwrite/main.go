// Command benchdualwrite measures dual writes on two throwaway MariaDB
// servers, in one run:
//
//   - write overhead: the application's transactions of 1 and 10 rows
//     with capture off and on (transactions/s and the ratio);
//   - drain: entries/s the relay delivers to the secondary from a full
//     outbox, with one and two relays (goal: at least 5,000/s);
//   - end-to-end lag: from the commit of the writer's transaction on the
//     primary to the commit of its delivery on the secondary, p50 and p99
//     (goal: under 10 ms and 100 ms), at a steady rate of writes (default
//     1,000/s, on a fixed schedule) with one relay of default options
//     running in the writers' process, its bucket appliers started; also
//     split at the relay's delivery (pick-up, then delivery).
//
// Progress goes to stderr, results to stdout. -only runs some of the
// measurements (write, drain, lag).
//
//	go run ./examples/benchdualwrite [-seconds 5] [-entries 50000] [-rate 1000] [-only lag]
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
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
	measure := flag.String("only", "write,drain,lag", "the measurements to run, comma-separated")
	flag.Parse()
	only := map[string]bool{}
	for _, m := range strings.Split(*measure, ",") {
		if m != "write" && m != "drain" && m != "lag" {
			fmt.Fprintf(os.Stderr, "benchdualwrite: -only: unknown measurement %q (want write, drain or lag)\n", m)
			os.Exit(2)
		}
		only[m] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *seconds, *entries, *rate, only); err != nil {
		fmt.Fprintf(os.Stderr, "benchdualwrite: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, seconds time.Duration, entries, rate int, only map[string]bool) error {
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
	for _, rows := range []int{1, 10} {
		if !only["write"] {
			break
		}
		if rows == 1 {
			fmt.Println("write overhead (transactions/s)")
		}
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
	for _, relays := range []int{1, 2} {
		if !only["drain"] {
			break
		}
		if relays == 1 {
			fmt.Println("drain (entries/s delivered to the secondary)")
		}
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
	if !only["lag"] {
		return nil
	}
	f, err := newFixture(ctx, servers, "lag")
	if err != nil {
		return err
	}
	res, err := lag(ctx, f, rate, seconds)
	if err != nil {
		return err
	}
	fmt.Printf("end-to-end lag, commit on the primary to commit on the secondary, at %d writes/s (%d writes at %.0f/s, %d started late):\n",
		rate, res.writes, res.rate, res.late)
	fmt.Printf("  total     %s  (goal p50 < 10ms, p99 < 100ms)\n", res.total)
	fmt.Printf("  pick-up   %s  (commit to the relay's delivery)\n", res.pickup)
	fmt.Printf("  delivery  %s  (delivery to its commit on the secondary)\n", res.delivery)
	batches := float64(max(res.batches, 1))
	fmt.Printf("  relay: %d batches (%.1f entries each), %d wakeups by a commit; statements per batch: primary %.1f, secondary %.1f\n",
		res.batches, float64(res.writes)/batches, res.wakeups, res.primaryStatements/batches, res.secondaryStatements/batches)
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

// timing is a transport that records when the relay hands each entry of
// the lag measurement to the secondary and when that delivery committed,
// by the entry's key (each transaction of the measurement writes its own
// key once).
type timing struct {
	dualwrite.Transport
	mu        sync.Mutex
	seen      map[int]time.Time // Deliver called
	committed map[int]time.Time // Deliver returned: committed on the secondary
	batches   int               // Deliver calls that returned nil
}

func (t *timing) Deliver(ctx context.Context, bucket int, entries []dualwrite.Entry) error {
	seen := time.Now()
	if err := t.Transport.Deliver(ctx, bucket, entries); err != nil {
		return err
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batches++
	for _, e := range entries {
		var key []string
		if err := json.Unmarshal([]byte(e.Key), &key); err != nil || len(key) != 1 {
			continue
		}
		id, err := strconv.Atoi(key[0])
		if err != nil {
			continue
		}
		if _, ok := t.committed[id]; !ok { // the first delivery counts
			t.seen[id], t.committed[id] = seen, now
		}
	}
	return nil
}

// lagResult is what lag measured.
type lagResult struct {
	writes   int           // transactions committed on the primary
	rate     float64       // their rate, per second
	late     int           // transactions started more than 5ms after their slot
	total    percentiles   // commit on the primary to commit on the secondary
	pickup   percentiles   // commit on the primary to the relay's Deliver
	delivery percentiles   // Deliver to its commit on the secondary
	wall     time.Duration // the measurement's length
	batches  int           // batches the relay delivered
	wakeups  int64         // the relay's idle waits ended by a commit
	// The relay's statements on each server (the primary's net of the
	// writers' and the measurement's own).
	primaryStatements, secondaryStatements float64
}

type percentiles struct{ p50, p99, max time.Duration }

func (p percentiles) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("p50 %s, p99 %s, max %s", r(p.p50), r(p.p99), r(p.max))
}

func percentilesOf(ds []time.Duration) percentiles {
	slices.Sort(ds)
	return percentiles{p50: ds[len(ds)/2], p99: ds[len(ds)*99/100], max: ds[len(ds)-1]}
}

// lag writes single-row transactions, each its own key, at rate per second
// for d while a relay runs with its default options (its bucket appliers
// started by a first delivery to every bucket), and measures each
// change from the commit of its transaction on the primary (Commit
// returned) to the commit of its delivery on the secondary. The writes
// follow a fixed schedule (transaction i starts at i/rate), from enough
// connections that one waiting does not hold the others: the rate is the
// one asked for, not what the writers manage; the result says how many
// started late.
func lag(ctx context.Context, f *fixture, rate int, d time.Duration) (lagResult, error) {
	tr, err := dualwrite.NewDirectTo(f.o, f.secondary, f.name, f.name+"_cp", "lag")
	if err != nil {
		return lagResult{}, err
	}
	defer tr.Close()
	t := &timing{Transport: tr, seen: map[int]time.Time{}, committed: map[int]time.Time{}}
	r, err := f.o.NewRelay(t)
	if err != nil {
		return lagResult{}, err
	}
	// The statements of one writer's transaction, to tell the relay's
	// statements on the primary from the writers'.
	q0, _, err := f.questions(ctx)
	if err != nil {
		return lagResult{}, err
	}
	for id := 2000000; id < 2000200; id++ {
		if err := f.transaction(ctx, id, 1, true); err != nil {
			return lagResult{}, err
		}
	}
	q1, _, err := f.questions(ctx)
	if err != nil {
		return lagResult{}, err
	}
	perWrite := float64(q1-q0-1) / 200 // the primary's count read once in between
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	defer bg.Wait()
	// Steady state: every bucket's applier started (its connection, the
	// tables' definitions) before the measurement.
	for first := 1000000; first < 1001000; first += 100 {
		if err := f.transaction(ctx, first, 100, true); err != nil {
			return lagResult{}, err
		}
	}
	if _, err := drained(ctx, f.o); err != nil {
		return lagResult{}, err
	}
	t.mu.Lock()
	t.batches = 0
	t.mu.Unlock()
	wakeups := r.Stats().Wakeups
	p0, s0, err := f.questions(ctx)
	if err != nil {
		return lagResult{}, err
	}

	n := int(d.Seconds() * float64(rate))
	commits := make([]time.Time, n)
	slots := make(chan int, n)
	errs := make(chan error, 1)
	var late sync.Map
	begin := time.Now().Add(50 * time.Millisecond)
	var writers sync.WaitGroup
	for range 16 {
		writers.Go(func() {
			for i := range slots {
				at := begin.Add(time.Duration(i) * time.Second / time.Duration(rate))
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				} else if wait < -5*time.Millisecond {
					late.Store(i, true)
				}
				if err := f.transaction(ctx, i, 1, true); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				commits[i] = time.Now()
			}
		})
	}
	for i := range n {
		slots <- i
	}
	close(slots)
	writers.Wait()
	wall := time.Since(begin)
	select {
	case err := <-errs:
		return lagResult{}, err
	default:
	}
	polls, err := drained(ctx, f.o)
	if err != nil {
		return lagResult{}, err
	}
	stop()
	bg.Wait()
	p1, s1, err := f.questions(ctx)
	if err != nil {
		return lagResult{}, err
	}
	res := lagResult{writes: n, rate: float64(n) / wall.Seconds(), wall: wall, wakeups: r.Stats().Wakeups - wakeups,
		primaryStatements:   float64(p1-p0-1-polls) - perWrite*float64(n),
		secondaryStatements: float64(s1 - s0 - 1)}
	late.Range(func(any, any) bool { res.late++; return true })
	var total, pickup, delivery []time.Duration
	t.mu.Lock()
	defer t.mu.Unlock()
	res.batches = t.batches
	for i, c := range commits {
		done, ok := t.committed[i]
		if !ok {
			return lagResult{}, fmt.Errorf("key %d: committed on the primary, never delivered", i)
		}
		seen := t.seen[i]
		// The relay can deliver a change before its writer's Commit
		// returns (the server committed, the reply is on its way): 0.
		total = append(total, max(done.Sub(c), 0))
		pickup = append(pickup, max(seen.Sub(c), 0))
		delivery = append(delivery, done.Sub(seen))
	}
	res.total, res.pickup, res.delivery = percentilesOf(total), percentilesOf(pickup), percentilesOf(delivery)
	return res, nil
}

// drained waits until the outbox has no pending entry, and returns the
// statements it ran.
func drained(ctx context.Context, o *dualwrite.Outbox) (int64, error) {
	for n := int64(1); ; n++ {
		m, err := o.Metrics(ctx)
		if err != nil {
			return n, err
		}
		if m.Pending == 0 {
			return n, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// questions is each server's count of statements run (the reading one
// included).
func (f *fixture) questions(ctx context.Context) (primary, secondary int64, err error) {
	var name string
	if err := f.primary.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &primary); err != nil {
		return 0, 0, err
	}
	err = f.secondary.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &secondary)
	return primary, secondary, err
}
