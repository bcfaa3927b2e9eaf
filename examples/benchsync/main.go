//go:build linux

// Command benchsync measures migrate.Sync, the live move, against what a
// user would otherwise run: a native MariaDB replica applying the same
// binary log.
//
// It starts three throwaway MariaDB servers (source, shiftgate's target, a
// native replica), loads sysbench's tables on the source, copies them to
// both (the Sync's copy; the Copier for the replica, whose GTID position
// starts the replica), and then, in one run:
//
//   - catch-up: with both appliers stopped, sysbench oltp_write_only builds
//     a backlog on the source for -backlog; then shiftgate applies it, and
//     then the replica does (default settings, then with
//     slave_parallel_threads=2 on a second backlog), each timed until it
//     holds the source's position. Goal: shiftgate's rate at least the
//     replica's best.
//   - steady state: sysbench at its full rate for -steady while the Sync
//     follows; the lag of every source position sampled every 20 ms, until
//     the target holds it, p50 and p99. Goal: p99 under 1 s.
//   - memory: one transaction deleting -big-rows rows (200,000 by default)
//     while the Sync follows; the peak resident memory of this process
//     meanwhile (VmHWM, reset before). Goal: under 128 MiB.
//   - cutover under load: sysbench running (errors ignored) and a probe
//     writer that writes the source until the switch and the target after
//     it; the write pause the Sync measures, the probe's longest stall and
//     sysbench's errors. Goal: under 2 s.
//
// A missed goal is reported as MISS, not an error. Progress goes to stderr,
// results to stdout. sysbench runs as a passwordless account of the
// throwaway source that only loopback can reach, so no password is on its
// command line.
//
//	go run ./examples/benchsync [-backlog 20s] [-steady 30s] [-table-size 100000]
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/procmem"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/migrate"
)

const (
	database = "sbtest"
	mib      = 1 << 20

	// The goals.
	maxLagP99  = time.Second
	maxPause   = 2 * time.Second
	maxPeakRSS = 128 * mib
)

type config struct {
	tables, tableSize, threads, bigRows int
	backlog, steady                     time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.tables, "tables", 4, "sysbench tables")
	flag.IntVar(&cfg.tableSize, "table-size", 100_000, "rows per sysbench table")
	flag.IntVar(&cfg.threads, "threads", 2, "sysbench threads")
	flag.IntVar(&cfg.bigRows, "big-rows", 200_000, "rows of the one large transaction (memory)")
	flag.DurationVar(&cfg.backlog, "backlog", 20*time.Second, "how long sysbench builds each backlog")
	flag.DurationVar(&cfg.steady, "steady", 30*time.Second, "how long the steady-state lag is measured")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchsync:", err)
		os.Exit(1)
	}
}

// bench holds the servers and pools the phases share.
type bench struct {
	cfg                 config
	src, dst, replica   *sandbox.Server
	srcDB, dstDB, repDB *sql.DB
	sync                *migrate.Sync
}

func run(ctx context.Context, cfg config) error {
	if _, err := exec.LookPath("sysbench"); err != nil {
		return errors.New("sysbench is not installed (make bench-sync installs it)")
	}
	logf("starting three throwaway MariaDB servers")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 3, sandbox.Options{Logger: logger, BufferPool: "512M"})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	b := &bench{cfg: cfg, src: servers[0], dst: servers[1], replica: servers[2]}
	for _, p := range []struct {
		db **sql.DB
		s  *sandbox.Server
	}{{&b.srcDB, b.src}, {&b.dstDB, b.dst}, {&b.repDB, b.replica}} {
		if *p.db, err = p.s.Open(""); err != nil {
			return err
		}
		defer (*p.db).Close()
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	catchUp, err := b.catchUp(ctx)
	if err != nil {
		return err
	}
	p50, p99, samples, err := b.steadyLag(ctx)
	if err != nil {
		return err
	}
	peak, err := b.bigTransaction(ctx)
	if err != nil {
		return err
	}
	cut, err := b.cutover(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("\nbenchsync: sysbench oltp_write_only, %d tables x %d rows, %d threads\n\n", cfg.tables, cfg.tableSize, cfg.threads)
	fmt.Println("catch-up of a backlog (transactions/s applied):")
	best := 0.0
	for _, r := range catchUp {
		fmt.Printf("  backlog %-2d %7d txns   shiftgate %8.0f/s (%6.2fs)   %-28s %8.0f/s (%6.2fs)   ratio %.2f\n",
			r.round, r.txns, r.shiftgateRate(), r.shiftgate.Seconds(), r.native, r.nativeRate(), r.nativeTime.Seconds(), r.shiftgateRate()/r.nativeRate())
		best = max(best, r.nativeRate())
	}
	worst := slices.MinFunc(catchUp, func(a, b catchUpResult) int { return cmp.Compare(a.shiftgateRate(), b.shiftgateRate()) })
	fmt.Printf("  goal: shiftgate >= the replica's best (%.0f/s): %s\n\n", best, verdict(worst.shiftgateRate() >= best))
	fmt.Printf("steady state lag, sysbench at full rate for %s (%d positions sampled): p50 %s  p99 %s  (goal p99 < %s: %s)\n",
		cfg.steady, samples, p50.Round(time.Millisecond), p99.Round(time.Millisecond), maxLagP99, verdict(p99 < maxLagP99))
	fmt.Printf("peak RSS of this process during a %d-row transaction: %.1f MiB (goal < %d MiB: %s)\n",
		cfg.bigRows, float64(peak)/mib, maxPeakRSS/mib, verdict(peak < maxPeakRSS))
	sysbenchEnd := fmt.Sprintf("sysbench errors %d", cut.sysbenchErrors)
	if cut.sysbenchFailed != "" {
		sysbenchEnd = fmt.Sprintf("sysbench ended with %q after %d of its sessions queued behind the lock were killed at the switch", cut.sysbenchFailed, cut.report.KilledSessions)
	}
	fmt.Printf("cutover under load (%s): write pause %s (catch-up %s, verify %s), probe's longest stall %s, %s (goal pause < %s: %s)\n",
		cut.report.Method, cut.report.Pause.Round(time.Millisecond), cut.report.CatchUp.Round(time.Millisecond), cut.report.Verify.Round(time.Millisecond),
		cut.stall.Round(time.Millisecond), sysbenchEnd, maxPause, verdict(cut.report.Pause < maxPause))
	return nil
}

// prepare loads sysbench's tables, copies them to the target (the Sync,
// until in sync) and to the replica (the Copier, then CHANGE MASTER at its
// position), and leaves both appliers stopped.
func (b *bench) prepare(ctx context.Context) error {
	for _, stmt := range []string{
		"CREATE DATABASE " + database,
		// sysbench's account: no password, loopback only, this database only.
		"CREATE USER sbtest@'127.0.0.1'",
		"GRANT ALL ON " + database + ".* TO sbtest@'127.0.0.1'",
	} {
		if _, err := b.srcDB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("source: %s: %w", stmt, err)
		}
	}
	logf("sysbench prepare: %d tables x %d rows", b.cfg.tables, b.cfg.tableSize)
	if _, err := b.sysbench(ctx, "prepare", 0, false); err != nil {
		return err
	}
	if _, err := b.srcDB.ExecContext(ctx, "CREATE TABLE "+database+".big (id INT PRIMARY KEY, pad VARCHAR(200) NOT NULL)"); err != nil {
		return err
	}

	var err error
	b.sync, err = migrate.NewSync(b.src.DSN(""), b.dst.DSN(""), database, migrate.WithMaxLag(time.Second))
	if err != nil {
		return err
	}
	logf("shiftgate: copying to the target and following until in sync")
	if err := b.follow(ctx, func(context.Context) error { return nil }); err != nil {
		return err
	}

	logf("replica: copying with the Copier, then CHANGE MASTER at the copy's position")
	c, err := migrate.NewCopier(b.src.DSN(""), b.replica.DSN(""), database)
	if err != nil {
		return err
	}
	rep, err := c.Run(ctx, nil)
	if err != nil {
		return fmt.Errorf("replica copy: %w", err)
	}
	// The replica's account on the source: a hex password, which needs no
	// escaping in CHANGE MASTER.
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	password := hex.EncodeToString(secret)
	for _, stmt := range []string{
		"CREATE USER repl@'127.0.0.1' IDENTIFIED BY '" + password + "'",
		"GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'",
	} {
		if _, err := b.srcDB.ExecContext(ctx, stmt); err != nil {
			return errors.New("source: creating the replica's account failed")
		}
	}
	for _, stmt := range []string{
		"RESET MASTER", // the replica's own binary log (the copy's writes) would conflict with the source's GTIDs
		"SET GLOBAL gtid_slave_pos = '" + rep.Position.GTID + "'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos",
			rowcodec.String(b.src.Host()), b.src.Port(), "'repl'", "'"+password+"'"),
	} {
		if _, err := b.repDB.ExecContext(ctx, stmt); err != nil {
			// The server's message may quote the statement, password included.
			var me *mysql.MySQLError
			if errors.As(err, &me) {
				return fmt.Errorf("replica: setting up replication failed with error %d", me.Number)
			}
			return errors.New("replica: setting up replication failed")
		}
	}
	return nil
}

// follow runs the Sync until until returns (called once in sync), then
// stops it; it resumes from its checkpoint at the next call.
func (b *bench) follow(ctx context.Context, until func(context.Context) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := b.sync.Run(rctx, nil); done <- err }()
	for b.sync.Phase() != migrate.PhaseInSync {
		select {
		case err := <-done:
			return fmt.Errorf("sync: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	err := until(ctx)
	cancel()
	if rerr := <-done; !errors.Is(rerr, context.Canceled) {
		err = errors.Join(err, rerr)
	}
	return err
}

type catchUpResult struct {
	round                 int
	txns                  int64
	shiftgate, nativeTime time.Duration
	native                string
}

func (r catchUpResult) shiftgateRate() float64 { return float64(r.txns) / r.shiftgate.Seconds() }
func (r catchUpResult) nativeRate() float64    { return float64(r.txns) / r.nativeTime.Seconds() }

// catchUp builds a backlog per native setting and times both appliers on
// it, shiftgate first.
func (b *bench) catchUp(ctx context.Context) ([]catchUpResult, error) {
	var out []catchUpResult
	for i, threads := range []int{0, 2} {
		logf("backlog %d: sysbench for %s with both appliers stopped", i+1, b.cfg.backlog)
		stats, err := b.sysbench(ctx, "run", b.cfg.backlog, false)
		if err != nil {
			return nil, err
		}
		pos, err := binlog.CurrentPosition(ctx, b.srcDB, binlog.MariaDB)
		if err != nil {
			return nil, err
		}
		r := catchUpResult{round: i + 1, txns: stats.transactions, native: "replica (default)"}
		if threads > 0 {
			r.native = fmt.Sprintf("replica (parallel threads %d)", threads)
		}
		logf("  shiftgate applies %d transactions", r.txns)
		begin := time.Now()
		err = b.follow(ctx, func(ctx context.Context) error {
			return waitApplied(ctx, b.dstDB, pos)
		})
		if err != nil {
			return nil, err
		}
		r.shiftgate = time.Since(begin)

		logf("  %s applies them", r.native)
		for _, stmt := range []string{fmt.Sprintf("SET GLOBAL slave_parallel_threads = %d", threads), "START SLAVE"} {
			if _, err := b.repDB.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("replica: %s: %w", stmt, err)
			}
		}
		begin = time.Now()
		if err := b.waitReplica(ctx, pos); err != nil {
			return nil, err
		}
		r.nativeTime = time.Since(begin)
		logf("  shiftgate %s, %s %s", r.shiftgate.Round(time.Millisecond), r.native, r.nativeTime.Round(time.Millisecond))
		if _, err := b.repDB.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// waitReplica waits until the replica's gtid_slave_pos holds pos, and
// fails on a replication error.
func (b *bench) waitReplica(ctx context.Context, pos string) error {
	for {
		var have string
		if err := b.repDB.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&have); err != nil {
			return err
		}
		if ok, err := binlog.PositionContains(binlog.MariaDB, have, pos); err != nil || ok {
			return err
		}
		if msg, err := b.replicaError(ctx); err != nil || msg != "" {
			return errors.Join(err, fmt.Errorf("replica stopped replicating: %s", msg))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// replicaError returns the replica's last replication error ("" if none).
func (b *bench) replicaError(ctx context.Context) (string, error) {
	rows, err := b.repDB.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || !rows.Next() {
		return "", err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	var msg []string
	for i, c := range cols {
		if (c == "Last_IO_Error" || c == "Last_SQL_Error") && vals[i].String != "" {
			msg = append(msg, c+": "+vals[i].String)
		}
	}
	return strings.Join(msg, "; "), rows.Err()
}

// waitApplied waits until the target's saved stream position holds pos.
func waitApplied(ctx context.Context, dst *sql.DB, pos string) error {
	for {
		var saved string
		err := dst.QueryRowContext(ctx, "SELECT position FROM _shiftgate.stream_positions WHERE stream = ?", "sync."+database).Scan(&saved)
		if err != nil {
			return err
		}
		if ok, err := binlog.PositionContains(binlog.MariaDB, saved, pos); err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// steadyLag runs sysbench at full rate while the Sync follows, and
// measures for each sampled source position how long the target took to
// hold it.
func (b *bench) steadyLag(ctx context.Context) (p50, p99 time.Duration, n int, err error) {
	logf("steady state: sysbench at full rate for %s while the sync follows", b.cfg.steady)
	var lags []time.Duration
	err = b.follow(ctx, func(ctx context.Context) error {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		type sample struct {
			at  time.Time
			pos string
		}
		samples := make(chan sample, 10_000)
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(samples)
			for sctx.Err() == nil {
				var pos string
				if err := b.srcDB.QueryRowContext(sctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err == nil {
					samples <- sample{time.Now(), pos}
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		var measureErr error
		wg.Go(func() {
			for s := range samples {
				if err := waitApplied(ctx, b.dstDB, s.pos); err != nil {
					measureErr = err
					return
				}
				lags = append(lags, time.Since(s.at))
			}
		})
		_, err := b.sysbench(ctx, "run", b.cfg.steady, false)
		stop()
		wg.Wait()
		return errors.Join(err, measureErr)
	})
	if err != nil || len(lags) == 0 {
		return 0, 0, 0, err
	}
	slices.Sort(lags)
	return lags[len(lags)/2], lags[len(lags)*99/100], len(lags), nil
}

// bigTransaction deletes -big-rows rows in one transaction while the sync
// follows and returns this process's peak RSS meanwhile.
func (b *bench) bigTransaction(ctx context.Context) (int64, error) {
	logf("memory: one transaction of %d rows", b.cfg.bigRows)
	if _, err := b.srcDB.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.big SELECT seq, REPEAT('x', 150) FROM %s.seq_1_to_%d", database, database, b.cfg.bigRows)); err != nil {
		return 0, err
	}
	var peak int64
	err := b.follow(ctx, func(ctx context.Context) error {
		pos, err := binlog.CurrentPosition(ctx, b.srcDB, binlog.MariaDB)
		if err != nil {
			return err
		}
		if err := waitApplied(ctx, b.dstDB, pos); err != nil { // the inserts are applied
			return err
		}
		if err := procmem.ResetPeak(); err != nil {
			return err
		}
		if _, err := b.srcDB.ExecContext(ctx, "DELETE FROM "+database+".big"); err != nil {
			return err
		}
		if pos, err = binlog.CurrentPosition(ctx, b.srcDB, binlog.MariaDB); err != nil {
			return err
		}
		if err := waitApplied(ctx, b.dstDB, pos); err != nil {
			return err
		}
		kib, err := procmem.StatusKiB("VmHWM")
		peak = kib << 10
		return err
	})
	return peak, err
}

type cutoverResult struct {
	report         *migrate.CutoverReport
	stall          time.Duration
	sysbenchErrors int64
	sysbenchFailed string // how sysbench ended when it did not finish
}

// cutover cuts over while sysbench and a probe write: the probe writes the
// source until the switch and the target after it, and its longest gap
// between two successful writes is the stall an application sees.
func (b *bench) cutover(ctx context.Context) (cutoverResult, error) {
	logf("cutover under load")
	var res cutoverResult
	var switched atomic.Bool
	probeSrc, probeDst := b.srcDB, b.dstDB
	s, err := migrate.NewSync(b.src.DSN(""), b.dst.DSN(""), database, migrate.WithMaxLag(time.Second),
		migrate.WithSwitch(func(context.Context) error { switched.Store(true); return nil }))
	if err != nil {
		return res, err
	}
	b.sync = s
	var stats sysbenchStats
	err = b.follow(ctx, func(ctx context.Context) error {
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		var wg sync.WaitGroup
		var sbErr error
		sbDone := make(chan struct{})
		wg.Go(func() {
			defer close(sbDone)
			stats, sbErr = b.sysbench(ctx, "run", 15*time.Second, true)
		})
		var stall atomic.Int64
		wg.Go(func() {
			last := time.Now()
			for lctx.Err() == nil {
				db := probeSrc
				if switched.Load() {
					db = probeDst
				}
				if _, err := db.ExecContext(lctx, "UPDATE "+database+".sbtest1 SET k = k + 1 WHERE id = 1"); err == nil {
					now := time.Now()
					if gap := now.Sub(last); gap > time.Duration(stall.Load()) {
						stall.Store(int64(gap))
					}
					last = now
				}
			}
		})
		time.Sleep(3 * time.Second) // load running
		var err error
		for range 20 {
			if res.report, err = s.Cutover(ctx); err == nil || !errors.Is(err, migrate.ErrNotInSync) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		<-sbDone // the probe writes the target meanwhile
		stop()
		wg.Wait()
		res.stall = time.Duration(stall.Load())
		if sbErr != nil && !errors.Is(sbErr, context.Canceled) {
			logf("  sysbench: %v", sbErr)
		}
		return err
	})
	res.sysbenchErrors = stats.errors
	res.sysbenchFailed = stats.failed
	return res, err
}

type sysbenchStats struct {
	transactions, errors int64
	failed               string
}

var (
	transactionsLine = regexp.MustCompile(`transactions:\s+(\d+)`)
	errorsLine       = regexp.MustCompile(`ignored errors:\s+(\d+)`)
)

// sysbench runs oltp_write_only's command (prepare or run) against the
// source for d; ignoreErrors keeps it writing through a cutover.
func (b *bench) sysbench(ctx context.Context, command string, d time.Duration, ignoreErrors bool) (sysbenchStats, error) {
	args := []string{"oltp_write_only",
		"--mysql-host=" + b.src.Host(), "--mysql-port=" + strconv.Itoa(b.src.Port()), "--mysql-user=sbtest",
		"--mysql-db=" + database, "--tables=" + strconv.Itoa(b.cfg.tables), "--table-size=" + strconv.Itoa(b.cfg.tableSize),
		"--threads=" + strconv.Itoa(b.cfg.threads), "--rand-type=uniform", "--db-ps-mode=disable"}
	if command == "run" {
		args = append(args, "--time="+strconv.Itoa(int(d.Seconds())), "--report-interval=0")
	}
	if ignoreErrors {
		args = append(args, "--mysql-ignore-errors=all")
	}
	cmd := exec.CommandContext(ctx, "sysbench", append(args, command)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	out, err := cmd.CombinedOutput()
	var st sysbenchStats
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := transactionsLine.FindStringSubmatch(sc.Text()); m != nil {
			st.transactions, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := errorsLine.FindStringSubmatch(sc.Text()); m != nil {
			st.errors, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	if err != nil && ctx.Err() == nil {
		if ignoreErrors { // writing through a cutover: report how it ended
			st.failed = err.Error()
			return st, nil
		}
		return st, fmt.Errorf("sysbench %s: %w: %s", command, err, lastLines(string(out), 5))
	}
	return st, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISS"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchsync: "+format+"\n", args...)
}
