// Command dualwritedemo runs stories 3 and 4 of shiftgate end to end on
// throwaway servers: an application keeps writing while its table moves
// from an old database to a new one, first through a binlog sync, then
// through dual writes, and the switch walks every phase with
// verification, without pausing the writer for longer than the handoff
// and the final drain.
//
// It starts two MariaDB servers (old and new), creates shop.accounts on
// the old one, and runs a writer that updates random accounts at a steady
// rate. The writer takes its route in its transaction (Tx.Route): which
// database to write, and whether to capture the row in the outbox. A
// binlog sync (migrate.Sync) copies the table to the new database and
// follows the old one's binary log. Then the handoff moves from the sync
// to dual writes with the writer running: BeginHandoff pauses the relays
// and switches to dual_write (the writer captures from its next
// transaction on), CompleteHandoff fences the commits, waits for the sync
// to hold the old database's position, stops it and resumes the relays;
// the relay, a child process, delivers the outbox to the new database and
// is killed with SIGKILL once and started again. The phases follow:
// verified (package verify compares both sides while writes go on),
// read_new, write_new (the writer moves to the new database, whose outbox
// relays back to the old one) and done, printing the outbox metrics at
// each step. At the end it verifies both sides equal.
//
// The story runs once per transport (-transport, default both, each on
// servers of its own): direct, where the relays write the other database
// themselves, then nats, the seeds' message queue: the demo also starts a
// throwaway nats-server (Debian package nats-server), the relays publish
// the outbox to NATS JetStream, and a consumer applies the messages to the
// other database, acknowledging them after commit. The nats run also
// restarts the broker while the writer writes. The outbox counts an entry
// in the broker as not applied until the consumer committed it on the
// other database, so the switch to write_new waits for the consumer as it
// waits for the relays, with either transport.
//
//	go run ./examples/dualwritedemo [-transport direct|nats|both] [-rows 5000] [-rate 300] [-step 2s]
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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shiftgate/shiftgate/dualwrite"
	"github.com/shiftgate/shiftgate/internal/natsbox"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

const (
	database = "shop"
	// outboxDatabase holds the old database's outbox tables, out of the
	// sync's way.
	outboxDatabase = "shop_outbox"
	ddl            = "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance DECIMAL(12,2) NOT NULL, updates BIGINT NOT NULL)"
)

var tables = []dualwrite.Table{{Name: "accounts"}}

// The transports, the values of -transport besides both.
const (
	transportDirect = "direct"
	transportNATS   = "nats"
)

// options are the demo's settings.
type options struct {
	rows      int
	rate      int           // the writer's transactions per second
	step      time.Duration // how long each phase runs
	transport string        // transportDirect or transportNATS
}

func main() {
	relayConfig := flag.String("relay", "", "run as the relay child process, configured by this file (used by the demo itself)")
	rows := flag.Int("rows", 5000, "accounts on the old database")
	stepTime := flag.Duration("step", 2*time.Second, "how long each phase runs before the next switch")
	rate := flag.Int("rate", 300, "the writer's transactions per second")
	transport := flag.String("transport", "both", "how the relays deliver: direct (to the other database), nats (through NATS JetStream and a consumer) or both, one run after the other")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *relayConfig != "" {
		err = runRelay(ctx, *relayConfig)
	} else {
		err = runAll(ctx, options{rows: *rows, rate: *rate, step: *stepTime, transport: *transport})
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
	NATS               string // the broker's URL for the nats transport, "" for direct
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
	o, err := dualwrite.Open(ctx, primary, database, tables, dualwrite.WithOutboxDatabase(outboxDatabase))
	if err != nil {
		return err
	}
	var js jetstream.JetStream
	if s.NATS != "" {
		nc, err := connect(s.NATS)
		if err != nil {
			return err
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return err
		}
	}
	tr, closeTr, err := transportTo(ctx, o, secondary, js, forwardName)
	for err != nil && js != nil && ctx.Err() == nil {
		// The broker may be restarting: a relay waits for it.
		fmt.Fprintf(os.Stderr, "dualwritedemo: relay: %v; trying again\n", err)
		sleep(ctx, 100*time.Millisecond)
		tr, closeTr, err = transportTo(ctx, o, secondary, js, forwardName)
	}
	if err != nil {
		return err
	}
	defer closeTr()
	r, err := o.NewRelay(tr, relayOptions...)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// The dual writes' names: the checkpoint of the direct transport, the
// stream and the consumer of the nats one.
const (
	forwardName = "demo"      // old -> new
	reverseName = "demo-back" // new -> old, from write_new on
)

// relayOptions: a short poll and backoff, so that the demo moves on quickly
// after the relay's restart and the broker's.
var relayOptions = []dualwrite.RelayOption{
	dualwrite.WithPoll(20 * time.Millisecond), dualwrite.WithBackoff(20*time.Millisecond, time.Second),
	dualwrite.WithDeliveryTimeout(5 * time.Second),
}

// transportTo returns the transport of the dual write called name from
// o's database to secondary: direct when js is nil, else publishing to
// NATS JetStream, where a consumer (startConsumer) applies it. release
// releases it.
func transportTo(ctx context.Context, o *dualwrite.Outbox, secondary *sql.DB, js jetstream.JetStream, name string) (tr dualwrite.Transport, release func(), err error) {
	if js == nil {
		d, err := dualwrite.NewDirectTo(o, secondary, database, checkpointDatabase(name), name)
		if err != nil {
			return nil, nil, err
		}
		return d, func() { _ = d.Close() }, nil
	}
	n, err := dualwrite.NewNATS(ctx, js, name)
	if err != nil {
		return nil, nil, err
	}
	return n, func() {}, nil
}

// checkpointDatabase is where the secondary records what the dual write
// called name applied.
func checkpointDatabase(name string) string {
	if name == reverseName {
		return "shiftgate_dualwrite_back"
	}
	return "shiftgate_dualwrite"
}

// connect connects to the broker, at once or in the background, and
// reconnects without limit (the demo restarts it).
func connect(url string) (*nats.Conn, error) {
	return nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
}

// runAll runs the story once per transport that opts.transport names.
func runAll(ctx context.Context, opts options) error {
	var transports []string
	switch opts.transport {
	case transportDirect, transportNATS:
		transports = []string{opts.transport}
	case "both":
		transports = []string{transportDirect, transportNATS}
	default:
		return fmt.Errorf("-transport %q: want direct, nats or both", opts.transport)
	}
	for _, t := range transports {
		opts.transport = t
		fmt.Printf("\n######## transport %s\n", t)
		if err := run(ctx, opts); err != nil {
			return fmt.Errorf("transport %s: %w", t, err)
		}
	}
	return nil
}

// run runs the story on servers of its own, with the transport
// opts.transport.
func run(ctx context.Context, opts options) error {
	rows, stepTime := opts.rows, opts.step
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
	var broker *natsbox.Server
	var js jetstream.JetStream
	if opts.transport == transportNATS {
		step("starting a throwaway nats-server with JetStream: the relays publish to it, a consumer applies the messages")
		if broker, err = natsbox.Start(ctx, ""); err != nil {
			return err
		}
		defer func() { _ = broker.Close() }()
		nc, err := connect(broker.URL())
		if err != nil {
			return err
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return err
		}
		fmt.Printf("  nats-server at %s\n", broker.URL())
	}
	oldDB, err := prepare(ctx, oldSrv, rows)
	if err != nil {
		return err
	}
	defer oldDB.Close()
	forward, err := dualwrite.Open(ctx, oldDB, database, tables, dualwrite.WithOutboxDatabase(outboxDatabase))
	if err != nil {
		return err
	}

	step("phase off: the application writes the old database; a binlog sync copies it to the new one and follows it")
	w := &writer{forward: forward, old: oldDB, rows: rows, every: time.Second / time.Duration(max(opts.rate, 1)), ready: make(chan struct{})}
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.run(wctx) }()
	defer stopWriter()
	sc, err := startSync(ctx, oldSrv, newSrv)
	if err != nil {
		return err
	}
	defer sc.stop()
	newDB, err := newSrv.Open(database)
	if err != nil {
		return err
	}
	defer newDB.Close()
	sleep(ctx, stepTime)
	fmt.Printf("  sync %s, at %s\n", sc.sync.Phase(), sc.position())

	step("handoff, step 1: relays paused, phase dual_write: the writer captures its rows while the sync still applies them")
	fwd := &link{o: forward, what: "old->new"}
	if js != nil {
		var stopCons func()
		if stopCons, err = startConsumer(ctx, js, forward, newDB, forwardName, logger); err != nil {
			return err
		}
		defer stopCons()
		fmt.Println("  consumer started: it applies the broker's messages to the new database")
	}
	natsURL := ""
	if broker != nil {
		natsURL = broker.URL()
	}
	relay, err := startRelay(oldSrv, newSrv, natsURL)
	if err != nil {
		return err
	}
	defer relay.stop()
	if err := forward.BeginHandoff(ctx); err != nil {
		return err
	}
	sleep(ctx, stepTime/2)
	fwd.printMetrics(ctx)

	step("handoff, step 2: commits fenced, the sync reaches the old database's position and stops, the relays resume")
	rep, err := forward.CompleteHandoff(ctx, dualwrite.SyncControl{Applied: sc.applied, Stop: sc.stopAndWait}, dualwrite.WithRouteDelay(0))
	if err != nil {
		return err
	}
	fmt.Printf("  handed over at %s: %d captured changes the sync had applied, writes paused %s\n", rep.Position, rep.Covered, rep.Pause.Round(time.Millisecond))
	fwd.printMetrics(ctx)
	if err := fwd.waitPending(ctx, 100); err != nil {
		return err
	}
	step("killing the relay process with SIGKILL while it delivers, then starting it again")
	relay.stop()
	sleep(ctx, stepTime/2)
	fwd.printMetrics(ctx)
	if relay, err = startRelay(oldSrv, newSrv, natsURL); err != nil {
		return err
	}
	defer relay.stop()
	if err := fwd.waitPending(ctx, 100); err != nil {
		return err
	}
	fwd.printMetrics(ctx)
	if broker != nil {
		step("stopping nats-server while the writer writes, then starting it again on its store: the relay and the consumer wait and go on")
		broker.Stop()
		fmt.Println("  nats-server stopped")
		sleep(ctx, stepTime/2)
		fwd.printMetrics(ctx)
		if err := broker.Restart(ctx); err != nil {
			return err
		}
		fmt.Println("  nats-server started again")
		if err := fwd.waitPending(ctx, 100); err != nil {
			return err
		}
		fwd.printMetrics(ctx)
	}

	step("verifying new against old while writes continue")
	// Rows still on their way (in the outbox or, with NATS, in the
	// broker) differ; the switch to verified needs a clean verification,
	// so catch up and verify again, as an operator would, a few times.
	for attempt := 1; ; attempt++ {
		if err := fwd.waitPending(ctx, 10); err != nil {
			return err
		}
		res, err := forward.Verify(ctx, newDB, database)
		if err != nil {
			return err
		}
		fmt.Printf("  %d rows compared, %d differences (%d of them in flight), %d rows settled on recheck\n",
			res.Report.Rows(), res.Report.Differences(), res.InFlight, settled(res.Report.Tables))
		if res.Report.Differences() == 0 || attempt == 5 {
			break
		}
	}
	for _, p := range []dualwrite.Phase{dualwrite.PhaseVerified, dualwrite.PhaseReadNew} {
		step("phase " + string(p))
		if err := forward.Switch(ctx, p, dualwrite.WithMaxPending(1000)); err != nil {
			return err
		}
		sleep(ctx, stepTime)
		fwd.printMetrics(ctx)
	}

	step("phase write_new: old writes wait while the new database applies the outbox, then the writer moves to the new database")
	reverse, err := dualwrite.Open(ctx, newDB, database, tables, dualwrite.WithReverse())
	if err != nil {
		return err
	}
	w.setNew(reverse, newDB)
	begin := time.Now()
	if err := forward.Switch(ctx, dualwrite.PhaseWriteNew); err != nil {
		return err
	}
	close(w.ready)
	fmt.Printf("  switched in %s\n", time.Since(begin).Round(time.Millisecond))
	back := &link{o: reverse, what: "new->old"}
	if js != nil {
		var stopCons func()
		if stopCons, err = startConsumer(ctx, js, reverse, oldDB, reverseName, logger); err != nil {
			return err
		}
		defer stopCons()
	}
	backTr, closeBackTr, err := transportTo(ctx, reverse, oldDB, js, reverseName)
	if err != nil {
		return err
	}
	defer closeBackTr()
	backRelay, err := reverse.NewRelay(backTr, relayOptions...)
	if err != nil {
		return err
	}
	rctx, stopBack := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = backRelay.Run(rctx) })
	defer func() { stopBack(); bg.Wait() }()
	sleep(ctx, stepTime)
	back.printMetrics(ctx)

	step("the writer stops; its last changes reach the old database; phase done")
	stopWriter()
	if err := <-writerDone; err != nil {
		return err
	}
	if err := back.waitPending(ctx, 0); err != nil {
		return err
	}
	if err := forward.Switch(ctx, dualwrite.PhaseDone); err != nil {
		return err
	}
	back.printMetrics(ctx)
	fmt.Printf("  writer: %d transactions on old, %d on new, %d retried after the switch\n", w.onOld.Load(), w.onNew.Load(), w.moved.Load())

	step("verifying both sides at rest")
	res, err := reverse.Verify(ctx, oldDB, database)
	if err != nil {
		return err
	}
	fmt.Printf("  %d rows compared, %d differences\n", res.Report.Rows(), res.Report.Differences())
	if res.Report.Differences() != 0 {
		return errors.New("the databases differ")
	}
	return nil
}

// prepare creates shop.accounts on the old server, with rows, and the
// outbox's database.
func prepare(ctx context.Context, oldSrv *sandbox.Server, rows int) (*sql.DB, error) {
	admin, err := oldSrv.Open("")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{database, outboxDatabase} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+d); err != nil {
			admin.Close()
			return nil, err
		}
	}
	admin.Close()
	db, err := oldSrv.Open(database)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		db.Close()
		return nil, err
	}
	fmt.Printf("  %d accounts on old\n", rows)
	if _, err := db.ExecContext(ctx, "SET STATEMENT max_recursive_iterations = 10000000 FOR INSERT INTO accounts WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i, CONCAT('owner ', i), 100, 0 FROM n", rows); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// syncRun is the binlog sync of shop.accounts from old to new, running.
type syncRun struct {
	sync   *migrate.Sync
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	held   atomic.Value // the GTID position the new database holds
}

// startSync starts the sync and returns once it is in sync.
func startSync(ctx context.Context, oldSrv, newSrv *sandbox.Server) (*syncRun, error) {
	s, err := migrate.NewSync(oldSrv.DSN(""), newSrv.DSN(""), database, migrate.WithTables("accounts"), migrate.WithProgressInterval(50*time.Millisecond))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	sc := &syncRun{sync: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sc.done)
		_, sc.err = s.Run(sctx, func(p migrate.Progress) {
			if p.StreamPosition != "" {
				sc.held.Store(p.StreamPosition)
			}
		})
	}()
	for s.Phase() != migrate.PhaseInSync {
		select {
		case <-sc.done:
			return nil, fmt.Errorf("sync ended: %w", sc.err)
		case <-ctx.Done():
			sc.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return sc, nil
}

func (sc *syncRun) position() string {
	p, _ := sc.held.Load().(string)
	return p
}

// applied is the handoff's SyncControl.Applied.
func (sc *syncRun) applied(context.Context) (string, error) { return sc.position(), nil }

// stopAndWait is the handoff's SyncControl.Stop.
func (sc *syncRun) stopAndWait(ctx context.Context) error {
	sc.cancel()
	select {
	case <-sc.done:
		if sc.err != nil && !errors.Is(sc.err, context.Canceled) {
			return sc.err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop stops the sync if it still runs.
func (sc *syncRun) stop() {
	sc.cancel()
	<-sc.done
}

// writer updates random accounts where the phase's route says, one
// transaction at a time. On the old database it takes its route inside
// its transaction (Tx.Route), so that a switch waits for it and the
// handoff needs no delay for writers acting on an outdated route.
type writer struct {
	forward             *dualwrite.Outbox
	old                 *sql.DB
	rows                int
	every               time.Duration // between transactions
	onOld, onNew, moved atomic.Int64
	// ready is closed once the new database may be written: the old
	// database's changes are all applied to it.
	ready chan struct{}

	mu      sync.Mutex
	reverse *dualwrite.Outbox // the new database's outbox, from write_new on
	new     *sql.DB
}

// errRouteMoved: the transaction on the old database found the writes
// moved to the new one.
var errRouteMoved = errors.New("writes moved to the new database")

// setNew gives the writer the new database, before the switch to write_new.
func (w *writer) setNew(reverse *dualwrite.Outbox, db *sql.DB) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reverse, w.new = reverse, db
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
		err := w.write(ctx, 1+rng.IntN(w.rows))
		var me *mysql.MySQLError
		switch {
		case errors.Is(err, dualwrite.ErrWriteMoved), errors.Is(err, errRouteMoved):
			w.moved.Add(1) // the switch happened: ask the route again
		case errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205):
			// A deadlock or lock wait: run it again.
		case err != nil && ctx.Err() == nil:
			return err
		}
	}
	return nil
}

const update = "UPDATE accounts SET balance = balance + 1, updates = updates + 1 WHERE id = ?"

func (w *writer) write(ctx context.Context, id int) error {
	// Where the writes go: the old database's answer (the phase lives
	// there), read in the transaction that writes it.
	route, err := w.forward.Route(ctx)
	if err != nil {
		return err
	}
	if route.Write == dualwrite.New {
		return w.writeNew(ctx, route, id)
	}
	err = w.forward.Run(ctx, func(tx *dualwrite.Tx) error {
		route, err := tx.Route()
		if err != nil {
			return err
		}
		if route.Write == dualwrite.New {
			return errRouteMoved
		}
		if _, err := tx.ExecContext(ctx, update, id); err != nil {
			return err
		}
		if route.Capture {
			return tx.Changed("accounts", id)
		}
		return nil
	})
	if err == nil {
		w.onOld.Add(1)
	}
	return err
}

// writeNew writes the new database, captured for the way back while the
// old one may be needed (write_new), plainly once done.
func (w *writer) writeNew(ctx context.Context, route dualwrite.Route, id int) error {
	select {
	case <-w.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	reverse, db := w.reverse, w.new
	w.mu.Unlock()
	var err error
	if route.Capture {
		err = reverse.Run(ctx, func(tx *dualwrite.Tx) error {
			if _, err := tx.ExecContext(ctx, update, id); err != nil {
				return err
			}
			return tx.Changed("accounts", id)
		})
	} else {
		_, err = db.ExecContext(ctx, update, id)
	}
	if err == nil {
		w.onNew.Add(1)
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
// natsURL is the broker's for the nats transport, "" for direct.
func startRelay(oldSrv, newSrv *sandbox.Server, natsURL string) (*relayProcess, error) {
	dir, err := os.MkdirTemp("", "dualwritedemo-*")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(relaySpec{Primary: oldSrv.DSN(database), Secondary: newSrv.DSN(database), NATS: natsURL})
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

// link is one direction of the dual write: its outbox.
type link struct {
	o    *dualwrite.Outbox
	what string // "old->new" or "new->old"
}

// waitPending waits until at most n outbox entries are not applied on the
// other database: pending, or (nats) in the broker.
func (l *link) waitPending(ctx context.Context, n int64) error {
	for {
		m, err := l.o.Metrics(ctx)
		if err != nil {
			return err
		}
		if m.Pending+m.InTransit <= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *link) printMetrics(ctx context.Context) {
	m, err := l.o.Metrics(ctx)
	if err != nil {
		fmt.Printf("  outbox %s: %v\n", l.what, err)
		return
	}
	fmt.Printf("  outbox %s: %d pending, oldest %s, %d in transit (delivered, not applied), %d dead letters\n",
		l.what, m.Pending, m.OldestPending.Round(time.Millisecond), m.InTransit, m.DeadLetters)
}

// startConsumer runs the consumer of the dual write called name, which
// applies the broker's messages to secondary, until stop is called.
func startConsumer(ctx context.Context, js jetstream.JetStream, o *dualwrite.Outbox, secondary *sql.DB, name string, logger *slog.Logger) (stop func(), err error) {
	d, err := dualwrite.NewDirectTo(o, secondary, database, checkpointDatabase(name), name)
	if err != nil {
		return nil, err
	}
	c, err := o.NewConsumer(ctx, js, name, d, dualwrite.WithPoll(100*time.Millisecond),
		dualwrite.WithBackoff(20*time.Millisecond, time.Second), dualwrite.WithRelayLogger(logger))
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(cctx) })
	return func() { cancel(); wg.Wait(); _ = d.Close() }, nil
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
