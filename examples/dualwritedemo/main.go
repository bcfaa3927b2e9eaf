// Command dualwritedemo runs stories 3 and 4 of shiftgate end to end on
// throwaway servers: an application keeps writing while its table moves
// from an old database to a new one through dual writes, and the switch
// walks every phase with verification, without pausing the writer for
// longer than the final drain.
//
// It starts two MariaDB servers (old and new), creates shop.accounts on
// both with rows on the old one only, and runs a writer that updates
// random accounts at a steady rate, asking dualwrite.Outbox.Route before every transaction
// where to write. Then it walks the phases: dual_write (capture on;
// Outbox.Backfill captures the rows that existed before; the relay, a
// child process, delivers the outbox to the new database and is killed
// with SIGKILL once and started again), verified (package verify compares
// both sides while writes go on), read_new, write_new (the writer moves
// to the new database, whose outbox relays back to the old one) and done,
// printing the outbox metrics at each step. At the end it verifies both
// sides equal.
//
//	go run ./examples/dualwritedemo [-rows 5000] [-rate 300] [-step 2s]
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/dualwrite"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/verify"
)

const (
	database = "shop"
	ddl      = "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance DECIMAL(12,2) NOT NULL, updates BIGINT NOT NULL)"
)

var tables = []dualwrite.Table{{Name: "accounts"}}

func main() {
	relayConfig := flag.String("relay", "", "run as the relay child process, configured by this file (used by the demo itself)")
	rows := flag.Int("rows", 5000, "accounts on the old database")
	stepTime := flag.Duration("step", 2*time.Second, "how long each phase runs before the next switch")
	rate := flag.Int("rate", 300, "the writer's transactions per second")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *relayConfig != "" {
		err = runRelay(ctx, *relayConfig)
	} else {
		err = run(ctx, *rows, *rate, *stepTime)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dualwritedemo: %v\n", err)
		os.Exit(1)
	}
}

// relaySpec is the relay child's configuration, passed in a file readable
// by its owner only (it holds passwords).
type relaySpec struct {
	Primary, Secondary string // DSNs
}

// runRelay is the child: it relays the old database's outbox to the new
// one until killed.
func runRelay(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s relaySpec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	primary, err := sql.Open("mysql", s.Primary)
	if err != nil {
		return err
	}
	secondary, err := sql.Open("mysql", s.Secondary)
	if err != nil {
		return err
	}
	o, err := dualwrite.Open(ctx, primary, database, tables)
	if err != nil {
		return err
	}
	tr, err := dualwrite.NewDirectTo(o, secondary, database, "shiftgate_dualwrite", "demo")
	if err != nil {
		return err
	}
	r, err := o.NewRelay(tr, dualwrite.WithPoll(20*time.Millisecond))
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func run(ctx context.Context, rows, rate int, stepTime time.Duration) error {
	step("starting two throwaway MariaDB servers: old and new")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	oldSrv, newSrv := servers[0], servers[1]
	oldDB, newDB, err := prepare(ctx, oldSrv, newSrv, rows)
	if err != nil {
		return err
	}
	defer oldDB.Close()
	defer newDB.Close()

	forward, err := dualwrite.Open(ctx, oldDB, database, tables)
	if err != nil {
		return err
	}
	reverse, err := dualwrite.Open(ctx, newDB, database, tables, dualwrite.WithReverse())
	if err != nil {
		return err
	}

	step("phase off: the application writes the old database")
	w := &writer{forward: forward, reverse: reverse, old: oldDB, new: newDB, rows: rows, every: time.Second / time.Duration(max(rate, 1))}
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.run(wctx) }()
	defer stopWriter()
	sleep(ctx, stepTime)

	step("phase dual_write: capture on, relay started, backfill of the existing rows")
	if err := forward.Switch(ctx, dualwrite.PhaseDualWrite); err != nil {
		return err
	}
	relay, err := startRelay(oldSrv, newSrv)
	if err != nil {
		return err
	}
	defer relay.stop()
	if err := forward.Backfill(ctx, "accounts", 500); err != nil {
		return err
	}
	printMetrics(ctx, forward, "old->new")
	if err := waitPending(ctx, forward, 2000); err != nil {
		return err
	}
	step("killing the relay process with SIGKILL while it delivers, then starting it again")
	relay.stop()
	printMetrics(ctx, forward, "old->new")
	sleep(ctx, stepTime/2)
	if relay, err = startRelay(oldSrv, newSrv); err != nil {
		return err
	}
	defer relay.stop()
	if err := waitPending(ctx, forward, 100); err != nil {
		return err
	}
	printMetrics(ctx, forward, "old->new")

	step("verifying new against old while writes continue")
	res, err := forward.Verify(ctx, newDB, database)
	if err != nil {
		return err
	}
	fmt.Printf("  %d rows compared, %d differences (%d of them in flight), %d rows settled on recheck\n",
		res.Report.Rows(), res.Report.Differences(), res.InFlight, settled(res.Report.Tables))
	for _, p := range []dualwrite.Phase{dualwrite.PhaseVerified, dualwrite.PhaseReadNew} {
		step("phase " + string(p))
		if err := forward.Switch(ctx, p, dualwrite.WithMaxPending(1000)); err != nil {
			return err
		}
		sleep(ctx, stepTime)
		printMetrics(ctx, forward, "old->new")
	}

	step("phase write_new: old writes wait while the relay drains, then the writer moves to the new database")
	begin := time.Now()
	if err := forward.Switch(ctx, dualwrite.PhaseWriteNew); err != nil {
		return err
	}
	fmt.Printf("  switched in %s\n", time.Since(begin).Round(time.Millisecond))
	back, err := dualwrite.NewDirectTo(reverse, oldDB, database, "shiftgate_dualwrite_back", "demo-back")
	if err != nil {
		return err
	}
	backRelay, err := reverse.NewRelay(back, dualwrite.WithPoll(20*time.Millisecond))
	if err != nil {
		return err
	}
	rctx, stopBack := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = backRelay.Run(rctx) })
	defer func() { stopBack(); bg.Wait() }()
	sleep(ctx, stepTime)
	printMetrics(ctx, reverse, "new->old")

	step("the writer stops; its last changes reach the old database; phase done")
	stopWriter()
	if err := <-writerDone; err != nil {
		return err
	}
	if err := waitPending(ctx, reverse, 0); err != nil {
		return err
	}
	if err := forward.Switch(ctx, dualwrite.PhaseDone); err != nil {
		return err
	}
	printMetrics(ctx, reverse, "new->old")
	fmt.Printf("  writer: %d transactions on old, %d on new, %d retried after the switch\n", w.onOld.Load(), w.onNew.Load(), w.moved.Load())

	step("verifying both sides at rest")
	if res, err = reverse.Verify(ctx, oldDB, database); err != nil {
		return err
	}
	fmt.Printf("  %d rows compared, %d differences\n", res.Report.Rows(), res.Report.Differences())
	if res.Report.Differences() != 0 {
		return errors.New("the databases differ")
	}
	return nil
}

// prepare creates shop.accounts on both servers, with rows on the old one.
func prepare(ctx context.Context, oldSrv, newSrv *sandbox.Server, rows int) (*sql.DB, *sql.DB, error) {
	var dbs []*sql.DB
	for _, s := range []*sandbox.Server{oldSrv, newSrv} {
		admin, err := s.Open("")
		if err != nil {
			return nil, nil, err
		}
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+database)
		admin.Close()
		if err != nil {
			return nil, nil, err
		}
		db, err := s.Open(database)
		if err != nil {
			return nil, nil, err
		}
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return nil, nil, err
		}
		dbs = append(dbs, db)
	}
	fmt.Printf("  old %s, new %s; %d accounts on old\n", oldSrv.Addr(), newSrv.Addr(), rows)
	if _, err := dbs[0].ExecContext(ctx, "SET STATEMENT max_recursive_iterations = 10000000 FOR INSERT INTO accounts WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i, CONCAT('owner ', i), 100, 0 FROM n", rows); err != nil {
		return nil, nil, err
	}
	return dbs[0], dbs[1], nil
}

// writer updates random accounts where the current route says, one
// transaction at a time.
type writer struct {
	forward, reverse    *dualwrite.Outbox
	old, new            *sql.DB
	rows                int
	every               time.Duration // between transactions
	onOld, onNew, moved atomic.Int64
}

func (w *writer) run(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		route, err := w.forward.Route(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		id := 1 + rng.IntN(w.rows)
		err = w.write(ctx, route, id)
		var me *mysql.MySQLError
		switch {
		case errors.Is(err, dualwrite.ErrWriteMoved):
			w.moved.Add(1) // the switch happened: ask the route again
		case errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205):
			// A deadlock or lock wait with the backfill: run it again.
		case err != nil && ctx.Err() == nil:
			return err
		}
	}
	return nil
}

func (w *writer) write(ctx context.Context, route dualwrite.Route, id int) error {
	const update = "UPDATE accounts SET balance = balance + 1, updates = updates + 1 WHERE id = ?"
	o, db, count := w.forward, w.old, &w.onOld
	if route.Write == dualwrite.New {
		o, db, count = w.reverse, w.new, &w.onNew
	}
	var err error
	if route.Capture {
		err = o.Run(ctx, func(tx *dualwrite.Tx) error {
			if _, err := tx.ExecContext(ctx, update, id); err != nil {
				return err
			}
			return tx.Changed("accounts", id)
		})
	} else {
		_, err = db.ExecContext(ctx, update, id)
	}
	if err == nil {
		count.Add(1)
	}
	return err
}

// relayProcess is the relay child.
type relayProcess struct {
	cmd *exec.Cmd
	dir string
}

// startRelay runs this program again as the relay, its configuration in a
// file of a private temporary directory.
func startRelay(oldSrv, newSrv *sandbox.Server) (*relayProcess, error) {
	dir, err := os.MkdirTemp("", "dualwritedemo-*")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(relaySpec{Primary: oldSrv.DSN(database), Secondary: newSrv.DSN(database)})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "relay.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-relay", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	fmt.Printf("  relay process %d started\n", cmd.Process.Pid)
	return &relayProcess{cmd: cmd, dir: dir}, nil
}

// stop SIGKILLs the relay (a no-op the second time).
func (r *relayProcess) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
	_ = os.RemoveAll(r.dir)
	fmt.Printf("  relay process %d killed\n", r.cmd.Process.Pid)
}

// waitPending waits until at most n entries are pending.
func waitPending(ctx context.Context, o *dualwrite.Outbox, n int64) error {
	for {
		m, err := o.Metrics(ctx)
		if err != nil {
			return err
		}
		if m.Pending <= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func printMetrics(ctx context.Context, o *dualwrite.Outbox, what string) {
	m, err := o.Metrics(ctx)
	if err != nil {
		fmt.Printf("  outbox %s: %v\n", what, err)
		return
	}
	fmt.Printf("  outbox %s: %d pending, oldest %s, %d dead letters\n", what, m.Pending, m.OldestPending.Round(time.Millisecond), m.DeadLetters)
}

func settled(tables []*verify.TableReport) int64 {
	var n int64
	for _, t := range tables {
		n += t.SettledRows
	}
	return n
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
