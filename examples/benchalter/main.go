//go:build linux

// Command benchalter measures migrate.OnlineAlter, shiftgate's online
// schema change, against pt-online-schema-change (Debian percona-toolkit)
// running the same ALTER on the same table under the same write load.
//
// It starts a throwaway MariaDB server and, for each tool in turn, creates
// a sysbench-like table benchalter.t (id, k, c, pad) of -rows rows, starts
// a writer that runs one statement every 1/-rate s (half UPDATE of k, a
// quarter INSERT, a quarter DELETE, at random ids) and a reader at the
// same rate (SELECT by id), runs the ALTER with the tool, stops the load
// and checks the table: the new definition and the row count the writer's
// affected rows predict. Both tools drop the original table at the end
// (OnlineAlter with WithDropOld, pt-online-schema-change by default).
//
// Per tool it prints the total time, the server's CPU time meanwhile (less
// disturbed than the total by other processes on the machine), the
// longest write and read stall the load saw (the slowest statement), the
// statements run and their errors, for OnlineAlter the time of each phase
// (from its progress); then the ratios. shiftgate's goals: faster than pt-online-schema-change,
// longest write stall under 1 s, no error. A missed goal is reported as
// MISS, not an error. Progress goes to stderr, results to stdout.
//
// pt-online-schema-change gets the server's credentials in an option file
// it inherits as a descriptor (internal/mysqlcli), never on its command
// line; it runs with --no-version-check (no network call) and
// --recursion-method=none (the server has no replicas).
//
//	go run ./examples/benchalter [-rows 1000000] [-rate 200] [-alter "MODIFY k BIGINT NOT NULL, ..."] [-shiftgate-only] [-cpuprofile file]
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/migrate"
)

const (
	database = "benchalter"
	table    = "t"

	// The goals.
	maxStall = time.Second
)

type config struct {
	rows  int
	rate  float64
	alter string
	// shiftgateOnly skips pt-online-schema-change (quick measurements).
	shiftgateOnly bool
	cpuProfile    string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.rows, "rows", 1_000_000, "rows of the altered table")
	flag.Float64Var(&cfg.rate, "rate", 200, "writes per second of the load (and as many reads)")
	flag.StringVar(&cfg.alter, "alter", "MODIFY k BIGINT NOT NULL DEFAULT 0, ADD COLUMN extra INT NOT NULL DEFAULT 0, ADD INDEX extra_k (extra, k)",
		"the ALTER TABLE clause (the default needs a table copy on MariaDB: k changes type)")
	flag.BoolVar(&cfg.shiftgateOnly, "shiftgate-only", false, "run only shiftgate's OnlineAlter (no ratios)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (shiftgate's side) to this file")
	flag.Parse()
	if cfg.rows < 1 || cfg.rate <= 0 {
		fmt.Fprintln(os.Stderr, "benchalter: -rows and -rate must be positive")
		os.Exit(2)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchalter: -cpuprofile:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchalter:", termtext.Block(err.Error()))
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// result is one tool's run.
type result struct {
	tool  string
	total time.Duration
	// serverCPU is the CPU time the server spent while the tool ran (the
	// load's statements included): a figure that other processes on the
	// machine disturb less than the total time.
	serverCPU time.Duration
	load      loadStats
	detail    string
	rowsErr   error // the table's rows differ from what the load predicts
}

func run(ctx context.Context, cfg config) error {
	ptosc, err := mysqlcli.Find("", "pt-online-schema-change")
	if err != nil {
		return fmt.Errorf("%w (./.ci/install-packages percona-toolkit installs it)", err)
	}
	logf("starting a throwaway MariaDB server")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sandbox.Start(ctx, sandbox.Options{Logger: logger, BufferPool: "512M"})
	if err != nil {
		return err
	}
	defer srv.Close()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(8)
	server, err := serverProcess(ctx, db)
	if err != nil {
		return err
	}
	opts, err := mysqlcli.NewOptions(srv.Config(""), 0)
	if err != nil {
		return err
	}

	tools := []struct {
		name string
		run  func(ctx context.Context) (string, error)
	}{
		{"shiftgate OnlineAlter", func(ctx context.Context) (string, error) {
			a, err := migrate.NewOnlineAlter(srv.DSN(""), database, table, cfg.alter, migrate.WithDropOld(), migrate.WithLogger(logger))
			if err != nil {
				return "", err
			}
			ph := &phases{}
			rep, err := a.Run(ctx, ph.progress)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("its cut-over stall %.3f s; phases: %s, verify %.2f s", rep.Cutover.Pause.Seconds(), ph, rep.Cutover.Verify.Seconds()), nil
		}},
		{"pt-online-schema-change", func(ctx context.Context) (string, error) {
			cmd, err := opts.Command(ctx, ptosc, "--alter", cfg.alter, "--execute", "--no-version-check", "--recursion-method=none",
				"--progress=time,10", fmt.Sprintf("D=%s,t=%s", database, table))
			if err != nil {
				return "", err
			}
			out := &mysqlcli.LimitedBuffer{Max: 16 << 10}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("pt-online-schema-change: %w: %s", err, out)
			}
			return "", nil
		}},
	}
	if cfg.shiftgateOnly {
		tools = tools[:1]
	}
	var results []result
	for _, tool := range tools {
		if err := prepare(ctx, db, cfg.rows); err != nil {
			return err
		}
		logf("%s: ALTER TABLE %s.%s %s under %.0f writes/s", tool.name, database, table, termtext.Line(cfg.alter), cfg.rate)
		l := &load{db: db, rate: cfg.rate, nextID: int64(cfg.rows) + 1, rows: int64(cfg.rows)}
		l.maxID.Store(int64(cfg.rows))
		lctx, stopLoad := context.WithCancel(ctx)
		l.start(lctx)
		time.Sleep(time.Second) // the load runs before the change
		begin, cpuBegin := time.Now(), server.cpu()
		detail, err := tool.run(ctx)
		total, serverCPU := time.Since(begin), server.cpu()-cpuBegin
		time.Sleep(time.Second) // and after it
		stopLoad()
		l.wg.Wait()
		if err != nil {
			return fmt.Errorf("%s: %w", tool.name, err)
		}
		r := result{tool: tool.name, total: total, serverCPU: serverCPU, load: l.stats(), detail: detail, rowsErr: check(ctx, db, l.rows)}
		logf("%s took %.2f s", tool.name, total.Seconds())
		results = append(results, r)
	}
	report(cfg, results)
	return nil
}

// prepare creates the table anew with rows rows, sysbench's definition.
func prepare(ctx context.Context, db *sql.DB, rows int) error {
	logf("creating %s.%s with %d rows", database, table, rows)
	for _, stmt := range []string{
		"DROP DATABASE IF EXISTS " + database,
		"CREATE DATABASE " + database,
		"CREATE TABLE " + database + "." + table + " (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k))",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	const batch = 100_000
	for lo := 1; lo <= rows; lo += batch {
		hi := min(lo+batch-1, rows)
		_, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.%s SELECT seq, FLOOR(RAND(seq) * %d), LPAD(SHA2(seq, 256), 120, '0'), LPAD(MD5(seq), 60, '0') FROM %s.seq_%d_to_%d",
			database, table, rows, database, lo, hi))
		if err != nil {
			return err
		}
	}
	_, err := db.ExecContext(ctx, "ANALYZE TABLE "+database+"."+table)
	return err
}

// check compares the table's rows with the count the load predicts and
// checks that the ALTER's new definition is in place (pt-online-schema-change
// and OnlineAlter both leave exactly one table t).
func check(ctx context.Context, db *sql.DB, want int64) error {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+database+"."+table).Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%d rows, the load predicts %d", n, want)
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", database).Scan(&tables); err != nil {
		return err
	}
	if tables != 1 {
		return fmt.Errorf("%d tables left in %s, want 1", tables, database)
	}
	return nil
}

// load is the application: a writer and a reader at a fixed rate.
type load struct {
	db   *sql.DB
	rate float64
	// The writer's: the next id it inserts and the rows the table should
	// hold, from the affected rows.
	nextID, rows int64
	maxID        atomic.Int64 // the highest id inserted

	writes, reads, errs atomic.Int64
	maxWrite, maxRead   atomic.Int64 // nanoseconds
	firstErr            atomic.Value
	wg                  sync.WaitGroup
}

// loadStats is what the load saw.
type loadStats struct {
	writes, reads, errs int64
	maxWrite, maxRead   time.Duration
	firstErr            string
}

func (l *load) stats() loadStats {
	s := loadStats{writes: l.writes.Load(), reads: l.reads.Load(), errs: l.errs.Load(),
		maxWrite: time.Duration(l.maxWrite.Load()), maxRead: time.Duration(l.maxRead.Load())}
	if e, ok := l.firstErr.Load().(string); ok {
		s.firstErr = e
	}
	return s
}

func (l *load) fail(err error) {
	l.errs.Add(1)
	l.firstErr.CompareAndSwap(nil, err.Error())
}

// start runs the writer and the reader until ctx ends. A statement that
// stalls delays the ones after it (the ticks it missed are dropped), as
// an application's request queue would.
func (l *load) start(ctx context.Context) {
	every := time.Duration(float64(time.Second) / l.rate)
	loop := func(seed uint64, max *atomic.Int64, count *atomic.Int64, step func(rng *rand.Rand) error) {
		rng := rand.New(rand.NewPCG(seed, 1))
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			begin := time.Now()
			err := step(rng)
			if d := int64(time.Since(begin)); d > max.Load() {
				max.Store(d)
			}
			count.Add(1)
			if err != nil && ctx.Err() == nil {
				l.fail(err)
			}
		}
	}
	l.wg.Go(func() { loop(1, &l.maxWrite, &l.writes, l.write) })
	l.wg.Go(func() {
		loop(2, &l.maxRead, &l.reads, func(rng *rand.Rand) error {
			var k int64
			err := l.db.QueryRow("SELECT k FROM "+database+"."+table+" WHERE id = ?", rng.Int64N(l.maxID.Load())+1).Scan(&k)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		})
	})
}

// write runs one write statement and keeps the predicted row count. Only
// the writer's goroutine calls it.
func (l *load) write(rng *rand.Rand) error {
	id := rng.Int64N(l.maxID.Load()) + 1
	q, args, delta := "UPDATE "+database+"."+table+" SET k = k + 1 WHERE id = ?", []any{id}, int64(0)
	switch rng.IntN(4) {
	case 0:
		q, args, delta = "INSERT INTO "+database+"."+table+" (id, k, c, pad) VALUES (?, ?, ?, ?)", []any{l.nextID, rng.IntN(1 << 20), fmt.Sprintf("c%d", l.nextID), "pad"}, 1
	case 1:
		q, delta = "DELETE FROM "+database+"."+table+" WHERE id = ?", -1
	}
	res, err := l.db.Exec(q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if delta > 0 {
		l.maxID.Store(l.nextID)
		l.nextID++
	}
	l.rows += delta * n
	return nil
}

func report(cfg config, results []result) {
	fmt.Printf("\nbenchalter: ALTER TABLE %s.%s %s\n", database, table, termtext.Line(cfg.alter))
	fmt.Printf("table of %d rows, load of %.0f writes/s and %.0f reads/s\n\n", cfg.rows, cfg.rate, cfg.rate)
	fmt.Printf("%-26s %10s %12s %14s %14s %8s %8s %7s  %s\n", "tool", "total s", "server cpu s", "max write s", "max read s", "writes", "reads", "errors", "rows")
	for _, r := range results {
		rows := "ok"
		if r.rowsErr != nil {
			rows = "WRONG: " + termtext.Line(r.rowsErr.Error())
		}
		fmt.Printf("%-26s %10.2f %12.2f %14.3f %14.3f %8d %8d %7d  %s\n", r.tool, r.total.Seconds(), r.serverCPU.Seconds(), r.load.maxWrite.Seconds(), r.load.maxRead.Seconds(),
			r.load.writes, r.load.reads, r.load.errs, rows)
		if r.load.firstErr != "" {
			fmt.Printf("%26s first error: %s\n", "", termtext.Line(r.load.firstErr))
		}
		if r.detail != "" {
			fmt.Printf("%26s %s\n", "", r.detail)
		}
	}
	if len(results) < 2 {
		return
	}
	sg, pt := results[0], results[1]
	fmt.Println()
	fmt.Printf("time: pt-online-schema-change / shiftgate = %.2fx  goal > 1  %s\n", pt.total.Seconds()/sg.total.Seconds(), verdict(pt.total > sg.total))
	fmt.Printf("longest write stall: shiftgate %.3f s, pt-online-schema-change %.3f s (ratio %.2fx)  goal < %s  %s\n",
		sg.load.maxWrite.Seconds(), pt.load.maxWrite.Seconds(), pt.load.maxWrite.Seconds()/sg.load.maxWrite.Seconds(), maxStall, verdict(sg.load.maxWrite < maxStall))
	fmt.Printf("errors: shiftgate %d, pt-online-schema-change %d  goal 0  %s\n", sg.load.errs, pt.load.errs, verdict(sg.load.errs == 0 && sg.rowsErr == nil))
}

// process is the server's process, whose CPU time /proc/<pid>/stat tells.
type process struct{ stat string }

// serverProcess finds the process of the server db is connected to (a
// local one: the sandbox's) from its pid file.
func serverProcess(ctx context.Context, db *sql.DB) (process, error) {
	var file string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&file); err != nil {
		return process{}, fmt.Errorf("the server's pid file: %w", err)
	}
	pid, err := os.ReadFile(file)
	if err != nil {
		return process{}, fmt.Errorf("the server's pid: %w", err)
	}
	return process{stat: "/proc/" + strings.TrimSpace(string(pid)) + "/stat"}, nil
}

// cpu is the process's user and system CPU time so far, 0 if unreadable.
func (p process) cpu() time.Duration {
	data, err := os.ReadFile(p.stat)
	if err != nil {
		return 0
	}
	// The fields after the command name, in parentheses: utime and stime
	// are the 12th and 13th, in clock ticks (100 per second on Linux).
	_, after, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// phases records when a Run's progress first reported each phase.
type phases struct {
	order []migrate.Phase
	at    []time.Duration
}

func (p *phases) progress(pr migrate.Progress) {
	if n := len(p.order); n == 0 || p.order[n-1] != pr.Phase {
		p.order, p.at = append(p.order, pr.Phase), append(p.at, pr.Elapsed)
	}
}

// String lists each phase with its duration up to the next one's start.
func (p *phases) String() string {
	var parts []string
	if len(p.at) > 0 {
		parts = append(parts, fmt.Sprintf("start %.2f s", p.at[0].Seconds()))
	}
	for i, ph := range p.order {
		if i+1 < len(p.at) {
			parts = append(parts, fmt.Sprintf("%s %.2f s", ph, (p.at[i+1]-p.at[i]).Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchalter: "+format+"\n", args...)
}
