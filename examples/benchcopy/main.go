//go:build linux

// Command benchcopy measures what migrate.Pipe costs compared with the shell
// pipe it replaces,
//
//	mariadb-dump <flags> shop | mariadb <flags> --database=...
//
// run in the same process, on the same servers and the same data.
//
// It starts two throwaway MariaDB servers, creates the sample "shop"
// database on the first (at the default scale 4.2 million rows and several
// hundred MiB; it refuses to measure less than 1 million rows or 300 MiB
// unless -small is given), and then copies it to the second one -runs
// times each way, alternating raw, pipe, raw, pipe... so that neither gets
// a warm-cache advantage. The raw pipe runs through /bin/sh exactly as a
// user would type it, with the credentials in option files and the same
// client flags migrate.Pipe uses. Every copy is verified (row count and
// CHECKSUM TABLE of every table equal to the source) and then dropped.
//
// It prints, per run and as medians, the seconds and dump MiB/s of both, the
// ratio pipe/raw (goal: at most 1.05) and the peak resident memory of this
// Go process during the Pipe runs (goal: below 64 MiB), measured as VmHWM
// after resetting it through /proc/self/clear_refs. A missed goal is
// reported as MISS but is not an error: the exit status is non-zero only
// when the benchmark itself fails. Progress goes to stderr, results to
// stdout.
//
// Run it with "make bench" (which installs the MariaDB packages), or
//
//	go run ./examples/benchcopy [-runs 3] [-scale 1000000] [-buffer-pool 1G]
//	go run ./examples/benchcopy -small -scale 20000   # a quick trial
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/procmem"
	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
)

const (
	database = "shop"
	mib      = 1 << 20

	// The dataset must be at least this large unless -small is given.
	minRows  = 1_000_000
	minBytes = 300 * mib

	// The goals.
	maxRatio   = 1.05
	maxPeakRSS = 64 * mib
)

type config struct {
	scale      int
	runs       int
	small      bool
	bufferPool string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.scale, "scale", 1_000_000, "orders in the sample database (rows: 4.2 x scale)")
	flag.IntVar(&cfg.runs, "runs", 1, "copies each way, alternating raw, pipe, raw, pipe...")
	flag.BoolVar(&cfg.small, "small", false, "allow a dataset below 1M rows or 300 MiB, for quick trials")
	flag.StringVar(&cfg.bufferPool, "buffer-pool", "1G", "innodb_buffer_pool_size of both servers")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchcopy: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if cfg.runs < 1 || cfg.scale < 1 {
		fmt.Fprintln(os.Stderr, "benchcopy: -runs and -scale must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "benchcopy: %v\n", err)
		os.Exit(1)
	}
}

// result is one copy.
type result struct {
	seconds float64
	bytes   int64 // dump bytes, as counted by Pipe
	peakKiB int64 // pipe: VmHWM of this process during the run; raw: the shell's and clients' peak
}

// bench holds what the copies share.
type bench struct {
	src, dst       *sandbox.Server
	srcDB, dstDB   *sql.DB
	tables         []string // base tables of the source, by name
	want           map[string][2]int64
	like           schema.Database
	srcOpts        *mysqlcli.Options // credentials of the raw pipe and mydumper
	dstOpts        *mysqlcli.Options
	rawScript      func(target, srcArg, dstArg string) string
	peakIsolated   bool // VmHWM can be reset: the Pipe peak is the Pipe's alone
	rawShownScript bool
	target         targetMeter // what a native way costs the target (native.go)
}

func run(ctx context.Context, cfg config) error {
	begin := time.Now()
	logf("starting two throwaway MariaDB servers (innodb_buffer_pool_size %s)", cfg.bufferPool)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger, BufferPool: cfg.bufferPool})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			if err := s.Close(); err != nil {
				logf("closing %s: %v", s.Addr(), err)
			}
		}
	}()
	b := &bench{src: servers[0], dst: servers[1]}
	if b.srcDB, err = b.src.Open(""); err != nil {
		return err
	}
	defer b.srcDB.Close()
	if b.dstDB, err = b.dst.Open(""); err != nil {
		return err
	}
	defer b.dstDB.Close()
	logf("source %s, target %s", b.src.Addr(), b.dst.Addr())

	customers, products, orders, items := sampledata.Size(cfg.scale)
	logf("creating database %s on the source: %d customers, %d products, %d orders, %d order items",
		database, customers, products, orders, items)
	start := time.Now()
	done := alive("generating data")
	err = sampledata.Create(ctx, b.srcDB, database, cfg.scale)
	done()
	if err != nil {
		return err
	}
	logf("generated in %v", since(start))

	rows, size, err := b.measureSource(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("dataset: %s at scale %d: %d rows in %d tables, %.1f MiB data+index (information_schema after ANALYZE TABLE)\n",
		database, cfg.scale, rows, len(b.tables), float64(size)/mib)
	if rows < minRows || size < minBytes {
		if !cfg.small {
			return fmt.Errorf("dataset too small to measure: %d rows and %.1f MiB, need at least %d rows and %d MiB (raise -scale, or give -small for a quick trial)",
				rows, float64(size)/mib, minRows, minBytes/mib)
		}
		fmt.Println("dataset: below 1M rows or 300 MiB, allowed by -small: the numbers are not the benchmark's")
	}

	err = b.prepareRaw(ctx)
	if err != nil {
		return err
	}

	// Read before the first reset, which lowers ru_maxrss too.
	selfBefore := maxRSSKiB(syscall.RUSAGE_SELF)
	childrenBefore := maxRSSKiB(syscall.RUSAGE_CHILDREN)
	if err := procmem.ResetPeak(); err != nil {
		logf("cannot reset the peak RSS (%v): the Pipe peak is this process's lifetime peak", err)
	} else {
		b.peakIsolated = true
	}

	if verifyOnly() { // -verify only: the verify benchmark alone (verify.go)
		return benchVerify(ctx, b, cfg.scale)
	}
	raw := make([]result, cfg.runs)
	pipe := make([]result, cfg.runs)
	for i := range cfg.runs {
		if raw[i], err = b.runRaw(ctx, i+1); err != nil {
			return err
		}
		if pipe[i], err = b.runPipe(ctx, i+1); err != nil {
			return err
		}
	}

	report(cfg, b, raw, pipe, selfBefore, childrenBefore)
	if err := benchNative(ctx, b, cfg, raw); err != nil { // native.go
		return err
	}
	if err := benchVerify(ctx, b, cfg.scale); err != nil { // verify.go
		return err
	}
	fmt.Printf("\ntotal wall time %v (servers, data generation, %d copies with verification)\n", since(begin), 2*cfg.runs)
	return nil
}

// measureSource runs ANALYZE TABLE on the source tables, records every base
// table's row count and checksum to verify the copies against, and returns
// the exact row total and information_schema's data+index size.
func (b *bench) measureSource(ctx context.Context) (rows, size int64, err error) {
	logf("measuring the source: ANALYZE TABLE, row counts and CHECKSUM TABLE")
	start := time.Now()
	if b.like, err = schema.LookupDatabase(ctx, b.srcDB, database); err != nil {
		return 0, 0, err
	}
	tables, err := schema.Tables(ctx, b.srcDB, database)
	if err != nil {
		return 0, 0, err
	}
	var names []string
	for _, t := range tables {
		if !t.View {
			b.tables = append(b.tables, t.Name)
			names = append(names, schema.QualifiedName(database, t.Name))
		}
	}
	if len(b.tables) == 0 {
		return 0, 0, fmt.Errorf("source database %s has no tables", database)
	}
	if err := analyze(ctx, b.srcDB, names); err != nil {
		return 0, 0, err
	}
	err = b.srcDB.QueryRowContext(ctx, `SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0)
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, database).Scan(&size)
	if err != nil {
		return 0, 0, fmt.Errorf("source size: %w", err)
	}
	b.want = map[string][2]int64{}
	for _, t := range b.tables {
		n, sum, err := schema.Checksum(ctx, b.srcDB, database, t)
		if err != nil {
			return 0, 0, fmt.Errorf("source: %w", err)
		}
		b.want[t] = [2]int64{n, sum}
		rows += n
		logf("  %-12s %10d rows", t, n)
	}
	logf("measured in %v", since(start))
	return rows, size, nil
}

// analyze runs ANALYZE TABLE on the tables and fails on an error row.
func analyze(ctx context.Context, db *sql.DB, tables []string) error {
	rs, err := db.QueryContext(ctx, "ANALYZE TABLE "+strings.Join(tables, ", "))
	if err != nil {
		return fmt.Errorf("analyze table: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var table, op, msgType, msg string
		if err := rs.Scan(&table, &op, &msgType, &msg); err != nil {
			return fmt.Errorf("analyze table: %w", err)
		}
		if strings.EqualFold(msgType, "error") {
			return fmt.Errorf("analyze table %s: %s", table, msg)
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("analyze table: %w", err)
	}
	return nil
}

// prepareRaw prepares the credentials of the raw pipe and sets b.rawScript,
// which returns the shell command for a target database and the arguments
// naming the credentials.
func (b *bench) prepareRaw(ctx context.Context) error {
	// The same programs Pipe finds.
	dumpProgram, err := mysqlcli.Find("", "mariadb-dump", "mysqldump")
	if err != nil {
		return err
	}
	loadProgram, err := mysqlcli.Find("", "mariadb", "mysql")
	if err != nil {
		return err
	}
	binlog, err := schema.Variable(ctx, b.srcDB, "log_bin")
	if err != nil {
		return err
	}
	if b.srcOpts, err = mysqlcli.NewOptions(b.src.Config(""), 0); err != nil {
		return err
	}
	if b.dstOpts, err = mysqlcli.NewOptions(b.dst.Config(""), 0); err != nil {
		return err
	}

	// These flags must match what migrate.Pipe passes with its default
	// options (dumpArgs and loadArgs in migrate/pipe.go): all objects
	// copied, charset utf8mb4, binlog position captured when the source
	// has a binary log, and the load client's statement echo turned off
	// where it has one. Update them together.
	dumpArgs := []string{
		"--single-transaction", "--quick", "--skip-add-locks", "--comments",
		"--default-character-set=utf8mb4", "--max-allowed-packet=1G",
		"--triggers", "--routines", "--events",
	}
	if binlog == "ON" {
		dumpArgs = append(dumpArgs, "--master-data=2", "--gtid")
	}
	dumpArgs = append(dumpArgs, "--", database)
	loadArgs := []string{
		"--default-character-set=utf8mb4", "--max-allowed-packet=1G",
	}
	skipEcho := mysqlcli.Supports(ctx, loadProgram, "print-query-on-error")

	b.rawScript = func(target, srcArg, dstArg string) string {
		load := append([]string{dstArg}, loadArgs...)
		load = append(load, "--database="+target)
		if skipEcho {
			load = append(load, "--skip-print-query-on-error")
		}
		return shellJoin(append([]string{dumpProgram, srcArg}, dumpArgs...)) + " | " + shellJoin(append([]string{loadProgram}, load...))
	}
	return nil
}

// runRaw copies the source into shop_raw_N with the shell pipe.
func (b *bench) runRaw(ctx context.Context, n int) (result, error) {
	target := fmt.Sprintf("%s_raw_%d", database, n)
	// The raw pipe needs its database; Pipe creates its own (untimed here
	// as it is part of Pipe's run).
	stmt := fmt.Sprintf("CREATE DATABASE %s CHARACTER SET %s COLLATE %s", schema.QuoteIdent(target), b.like.Charset, b.like.Collation)
	if _, err := b.dstDB.ExecContext(ctx, stmt); err != nil {
		return result{}, fmt.Errorf("target: create %s: %w", target, err)
	}
	cmd := mysqlcli.Command(ctx, "/bin/sh", "-c", "")
	srcArg, err := b.srcOpts.Attach(cmd)
	if err != nil {
		return result{}, err
	}
	dstArg, err := b.dstOpts.Attach(cmd)
	if err != nil {
		return result{}, err
	}
	script := b.rawScript(target, srcArg, dstArg)
	cmd.Args[2] = script
	if !b.rawShownScript {
		logf("raw pipe: /bin/sh -c '%s'", script)
		b.rawShownScript = true
	}
	logf("run %d: raw pipe into %s", n, target)
	out := &mysqlcli.LimitedBuffer{Max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	done := alive("raw pipe")
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	done()
	if err != nil {
		return result{}, fmt.Errorf("raw pipe into %s: %w: %s", target, err, out)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		// Without pipefail (dash has none) the shell's status is the load's:
		// a failed dump only shows here and in the verification.
		logf("raw pipe printed: %s", s)
	}
	r := result{seconds: elapsed.Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakKiB = ru.Maxrss // the shell and the clients it reaped
	}
	logf("run %d: raw pipe took %.2f s", n, r.seconds)
	return r, b.verifyAndDrop(ctx, target)
}

// runPipe copies the source into shop_pipe_N with migrate.Pipe and records
// this process's peak RSS while it runs.
func (b *bench) runPipe(ctx context.Context, n int) (result, error) {
	target := fmt.Sprintf("%s_pipe_%d", database, n)
	p, err := migrate.NewPipe(b.src.DSN(""), b.dst.DSN(""), database, migrate.WithTargetDatabase(target))
	if err != nil {
		return result{}, err
	}
	logf("run %d: migrate.Pipe into %s", n, target)
	// Measure what the Pipe needs, not the garbage the verification left:
	// return freed memory to the OS, then start the high-water mark at the
	// current RSS.
	debug.FreeOSMemory()
	if b.peakIsolated {
		if err := procmem.ResetPeak(); err != nil {
			return result{}, fmt.Errorf("reset peak RSS: %w", err)
		}
	}
	done := alive("migrate.Pipe")
	start := time.Now()
	rep, err := p.Run(ctx, nil)
	elapsed := time.Since(start)
	done()
	if err != nil {
		return result{}, fmt.Errorf("migrate.Pipe into %s: %w", target, err)
	}
	r := result{seconds: elapsed.Seconds(), bytes: rep.Bytes}
	if b.peakIsolated {
		if r.peakKiB, err = procmem.StatusKiB("VmHWM"); err != nil {
			return result{}, err
		}
	} else {
		r.peakKiB = maxRSSKiB(syscall.RUSAGE_SELF)
	}
	logf("run %d: migrate.Pipe took %.2f s (report: %d rows, %.1f MiB, %v), peak RSS %.1f MiB",
		n, r.seconds, rep.Rows, float64(rep.Bytes)/mib, rep.Duration.Round(time.Millisecond), float64(r.peakKiB)/1024)
	return r, b.verifyAndDrop(ctx, target)
}

// verifyAndDrop checks that every table of target holds the source's rows
// (count and CHECKSUM TABLE), then drops target.
func (b *bench) verifyAndDrop(ctx context.Context, target string) error {
	start := time.Now()
	for _, t := range b.tables {
		n, sum, err := schema.Checksum(ctx, b.dstDB, target, t)
		if err != nil {
			return fmt.Errorf("verify %s: %w", target, err)
		}
		if want := b.want[t]; n != want[0] || sum != want[1] {
			return fmt.Errorf("verify %s: table %s has %d rows (checksum %d), the source %d rows (checksum %d)",
				target, t, n, sum, want[0], want[1])
		}
	}
	if _, err := b.dstDB.ExecContext(ctx, "DROP DATABASE "+schema.QuoteIdent(target)); err != nil {
		return fmt.Errorf("target: drop %s: %w", target, err)
	}
	logf("verified %s (%d tables equal to the source) and dropped it in %v", target, len(b.tables), since(start))
	return nil
}

// report prints the results table and the verdicts.
func report(cfg config, b *bench, raw, pipe []result, selfBefore, childrenBefore int64) {
	mbps := func(bytes int64, s float64) string {
		if bytes <= 0 || s <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(bytes)/mib/s)
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "run\traw s\traw MiB/s\tpipe s\tpipe MiB/s\tpipe/raw\tpipe peak RSS MiB\traw sh+clients peak RSS MiB\t")
	var rawS, pipeS, bytes []float64
	var peak int64
	for i := range raw {
		// Both copies stream the same dump; Pipe counts its bytes.
		fmt.Fprintf(w, "%d\t%.2f\t%s\t%.2f\t%s\t%.3f\t%.1f\t%.1f\t\n", i+1,
			raw[i].seconds, mbps(pipe[i].bytes, raw[i].seconds),
			pipe[i].seconds, mbps(pipe[i].bytes, pipe[i].seconds),
			pipe[i].seconds/raw[i].seconds,
			float64(pipe[i].peakKiB)/1024, float64(raw[i].peakKiB)/1024)
		rawS = append(rawS, raw[i].seconds)
		pipeS = append(pipeS, pipe[i].seconds)
		bytes = append(bytes, float64(pipe[i].bytes))
		peak = max(peak, pipe[i].peakKiB)
	}
	mr, mp, mb := median(rawS), median(pipeS), int64(median(bytes))
	ratio := mp / mr
	fmt.Fprintf(w, "median\t%.2f\t%s\t%.2f\t%s\t%.3f\t%.1f (max)\t\t\n", mr, mbps(mb, mr), mp, mbps(mb, mp), ratio, float64(peak)/1024)
	_ = w.Flush()

	fmt.Printf("\ndump size %.1f MiB (median of Pipe's byte counts; MiB = 2^20 bytes)\n", float64(mb)/mib)
	fmt.Printf("time ratio pipe/raw (medians of %d run(s)): %.3f  goal <= %.2f  %s\n", cfg.runs, ratio, maxRatio, verdict(ratio <= maxRatio))
	what := "VmHWM of this process, reset before each Pipe run"
	if !b.peakIsolated {
		what = "this process's lifetime peak: VmHWM could not be reset"
	}
	fmt.Printf("Pipe-phase peak RSS: %.1f MiB (%s)  goal < %d MiB  %s\n",
		float64(peak)/1024, what, maxPeakRSS/mib, verdict(peak*1024 < maxPeakRSS))
	fmt.Printf("for information: this process's peak RSS before the copies %.1f MiB (getrusage RUSAGE_SELF, data generation and verification included)\n",
		float64(selfBefore)/1024)
	fmt.Printf("for information: children's peak RSS (getrusage RUSAGE_CHILDREN, max over every reaped child) %.1f MiB before the copies, %.1f MiB after\n",
		float64(childrenBefore)/1024, float64(maxRSSKiB(syscall.RUSAGE_CHILDREN))/1024)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// maxRSSKiB returns getrusage's ru_maxrss (KiB on Linux) for who.
func maxRSSKiB(who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}

// shellJoin quotes args for /bin/sh, leaving plain words bare.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") == "" {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

// alive prints a line to stderr every 10 s until the returned function is
// called, so that a human sees a long step is still running.
func alive(what string) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				logf("  ... %s, %v", what, since(start))
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }
