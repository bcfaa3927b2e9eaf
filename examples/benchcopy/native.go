//go:build linux

package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/procmem"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
)

// The native-copy benchmark: migrate.Copier against the raw pipe (timed in
// main.go), mydumper + myloader with the same thread count, and the
// server-side ceiling, LOAD DATA INFILE of the same rows exported with
// SELECT ... INTO OUTFILE.
var (
	nativeMode = flag.String("native", "on", "benchmark migrate.Copier, mydumper+myloader and the LOAD DATA ceiling: on or off")
	threads    = flag.Int("threads", 4, "threads of migrate.Copier, mydumper, myloader and the parallel LOAD DATA ceiling")
	variants   = flag.String("copier", "load-data,insert,load-data+whole,load-data+nobinlog", "Copier variants to time: load-data or insert, with +whole to create tables with their indexes (WithDeferredIndexes(false)) and +nobinlog for WithoutTargetBinlog; the first is the one the goals judge")
)

// The goals of the native copy.
const (
	goalVsPipe     = 3.0  // raw pipe / Copier, at least
	goalVsMydumper = 1.5  // mydumper + myloader / Copier, at least
	goalVsCeiling  = 1.15 // Copier / LOAD DATA ceiling, at most
	copierBudget   = 256 * mib
)

type nativeResult struct {
	name    string
	seconds float64
	detail  string
	peakKiB int64 // Copier: this process; external tools: their peak
}

// benchNative runs every native way -runs times and prints the table and
// the verdicts; raw holds the raw pipe's times from main.go.
func benchNative(ctx context.Context, b *bench, cfg config, raw []result) error {
	switch *nativeMode {
	case "off":
		return nil
	case "on":
	default:
		return fmt.Errorf("-native %q: want on or off", *nativeMode)
	}
	if *threads < 1 {
		return fmt.Errorf("-threads %d is not positive", *threads)
	}
	names := splitList(*variants)
	if len(names) == 0 {
		return fmt.Errorf("-copier: no variant")
	}
	cpu, err := cpuMeter(ctx, b.dstDB)
	if err != nil {
		return err
	}
	b.target = targetMeter{db: b.dstDB, cpu: cpu}
	byWay := map[string][]nativeResult{}
	var order []string
	add := func(r nativeResult) {
		if _, ok := byWay[r.name]; !ok {
			order = append(order, r.name)
		}
		byWay[r.name] = append(byWay[r.name], r)
	}
	for i := range cfg.runs {
		for _, v := range names {
			r, err := b.runCopier(ctx, i+1, v)
			if err != nil {
				return err
			}
			add(r)
		}
		r, err := b.runMydumper(ctx, i+1)
		if err != nil {
			return err
		}
		add(r)
		for _, binlog := range []bool{true, false} {
			r, err = b.runCeiling(ctx, i+1, binlog)
			if err != nil {
				return err
			}
			add(r)
		}
	}

	var rawS []float64
	for _, r := range raw {
		rawS = append(rawS, r.seconds)
	}
	rawMedian := median(rawS)
	med := func(name string) float64 {
		var s []float64
		for _, r := range byWay[name] {
			s = append(s, r.seconds)
		}
		return median(s)
	}
	ceiling := med(ceilingName(true))
	fmt.Printf("\nnative copies, %d thread(s), medians of %d run(s); raw pipe median %.2f s\n", *threads, cfg.runs, rawMedian)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "way\tseconds\traw pipe / way\tway / ceiling\tpeak RSS MiB\tdetail\t")
	for _, name := range order {
		s := med(name)
		var peak int64
		for _, r := range byWay[name] {
			peak = max(peak, r.peakKiB)
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.2fx\t%.2fx\t%.1f\t%s\t\n", name, s, rawMedian/s, s/ceiling, float64(peak)/1024, byWay[name][0].detail)
	}
	_ = w.Flush()

	main := "Copier " + names[0]
	cs, ms := med(main), med("mydumper + myloader")
	var peak int64
	for _, r := range byWay[main] {
		peak = max(peak, r.peakKiB)
	}
	fmt.Printf("\n%s vs raw pipe: %.2fx faster  goal >= %.1fx  %s\n", main, rawMedian/cs, goalVsPipe, verdict(rawMedian/cs >= goalVsPipe))
	fmt.Printf("%s vs mydumper + myloader: %.2fx faster  goal >= %.1fx  %s\n", main, ms/cs, goalVsMydumper, verdict(ms/cs >= goalVsMydumper))
	fmt.Printf("%s vs LOAD DATA INFILE ceiling: %.2fx the ceiling's time  goal <= %.2fx  %s\n", main, cs/ceiling, goalVsCeiling, verdict(cs/ceiling <= goalVsCeiling))
	if rawMedian/ceiling < goalVsPipe {
		fmt.Printf("for information: the ceiling itself is only %.2fx faster than the raw pipe: with the target writing its binlog, the %.0fx goal asks for more than the server can load\n", rawMedian/ceiling, goalVsPipe)
	}
	if nb := "Copier load-data+nobinlog"; byWay[nb] != nil {
		ns, nc := med(nb), med(ceilingName(false))
		fmt.Printf("%s vs raw pipe: %.2fx faster  goal >= %.1fx  %s\n", nb, rawMedian/ns, goalVsPipe, verdict(rawMedian/ns >= goalVsPipe))
		fmt.Printf("%s vs mydumper + myloader (which also loads with sql_log_bin=0): %.2fx faster  goal >= %.1fx  %s\n", nb, ms/ns, goalVsMydumper, verdict(ms/ns >= goalVsMydumper))
		fmt.Printf("%s vs %s: %.2fx the ceiling's time  goal <= %.2fx  %s\n", nb, ceilingName(false), ns/nc, goalVsCeiling, verdict(ns/nc <= goalVsCeiling))
	}
	fmt.Printf("%s peak RSS: %.1f MiB (VmHWM of this process, reset before each run)  goal < %d MiB (the default budget)  %s\n",
		main, float64(peak)/1024, copierBudget/mib, verdict(peak*1024 < copierBudget))
	return nil
}

// runCopier copies the source into shop_copier_N with migrate.Copier.
func (b *bench) runCopier(ctx context.Context, n int, variant string) (nativeResult, error) {
	name := "Copier " + variant
	target := fmt.Sprintf("%s_copier_%d", database, n)
	opts := []migrate.CopierOption{migrate.WithTargetDatabase(target), migrate.WithThreads(*threads)}
	for _, part := range strings.Split(variant, "+") {
		switch part {
		case "load-data":
			opts = append(opts, migrate.WithWriteMethod(migrate.WriteLoadData))
		case "insert":
			opts = append(opts, migrate.WithWriteMethod(migrate.WriteInsert))
		case "whole":
			opts = append(opts, migrate.WithDeferredIndexes(false))
		case "nobinlog":
			opts = append(opts, migrate.WithoutTargetBinlog())
		default:
			return nativeResult{}, fmt.Errorf("-copier: unknown variant part %q", part)
		}
	}
	c, err := migrate.NewCopier(b.src.DSN(""), b.dst.DSN(""), database, opts...)
	if err != nil {
		return nativeResult{}, err
	}
	logf("run %d: migrate.Copier (%s, %d threads) into %s", n, variant, *threads, target)
	debug.FreeOSMemory()
	if b.peakIsolated {
		if err := procmem.ResetPeak(); err != nil {
			return nativeResult{}, fmt.Errorf("reset peak RSS: %w", err)
		}
	}
	before, err := b.target.read(ctx)
	if err != nil {
		return nativeResult{}, err
	}
	done := alive(name)
	start := time.Now()
	rep, err := c.Run(ctx, nil)
	elapsed := time.Since(start)
	done()
	if err != nil {
		return nativeResult{}, fmt.Errorf("%s into %s: %w", name, target, err)
	}
	cost, err := b.target.since(ctx, before)
	if err != nil {
		return nativeResult{}, err
	}
	r := nativeResult{name: name, seconds: elapsed.Seconds()}
	if b.peakIsolated {
		if r.peakKiB, err = procmem.StatusKiB("VmHWM"); err != nil {
			return nativeResult{}, err
		}
	} else {
		r.peakKiB = maxRSSKiB(syscall.RUSAGE_SELF)
	}
	var chunks int64
	for _, t := range rep.Tables {
		chunks += t.Chunks
	}
	r.detail = fmt.Sprintf("%d chunks, %.0f MiB sent, commits blocked %v; %s", chunks, float64(rep.Bytes)/mib, rep.CommitsBlocked.Round(time.Microsecond), cost)
	logf("run %d: %s took %.2f s (%d rows, %s), peak RSS %.1f MiB", n, name, r.seconds, rep.Rows, r.detail, float64(r.peakKiB)/1024)
	if err := b.verifyAndDrop(ctx, target); err != nil {
		return r, err
	}
	for _, t := range []string{"copy_segments", "copy_runs"} {
		if _, err := b.dstDB.ExecContext(ctx, "DELETE FROM _shiftgate."+t+" WHERE target_db = ?", target); err != nil {
			return r, err
		}
	}
	return r, nil
}

// runMydumper dumps the source with mydumper into a directory and loads it
// into shop_mydumper_N with myloader, both with -threads threads, rows
// split into chunks of 100,000 so that large tables are dumped in
// parallel, credentials in the option files. myloader loads with
// sql_log_bin=0 unless told otherwise (-e), and is left at that default.
func (b *bench) runMydumper(ctx context.Context, n int) (nativeResult, error) {
	const name = "mydumper + myloader"
	target := fmt.Sprintf("%s_mydumper_%d", database, n)
	dumper, err := mysqlcli.Find("", "mydumper")
	if err != nil {
		return nativeResult{}, err
	}
	loader, err := mysqlcli.Find("", "myloader")
	if err != nil {
		return nativeResult{}, err
	}
	dir, err := os.MkdirTemp("", "benchcopy-mydumper-")
	if err != nil {
		return nativeResult{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dump")
	th := fmt.Sprint(*threads)
	dump := []string{"--database=" + database, "--outputdir=" + out, "--threads=" + th,
		"--rows=100000", "--trx-consistency-only", "--triggers", "--events", "--routines", "--verbose=1"}
	load := []string{"--directory=" + out, "--database=" + target, "--source-db=" + database,
		"--threads=" + th, "--overwrite-tables", "--verbose=1"}
	logf("run %d: %s (%d threads): %s; %s", n, name, *threads, shellJoin(append([]string{dumper}, dump...)), shellJoin(append([]string{loader}, load...)))
	before, err := b.target.read(ctx)
	if err != nil {
		return nativeResult{}, err
	}
	done := alive(name)
	defer done()
	start := time.Now()
	var peak int64
	for _, step := range []struct {
		prog string
		opts *mysqlcli.Options
		args []string
	}{{dumper, b.srcOpts, dump}, {loader, b.dstOpts, load}} {
		buf := &mysqlcli.LimitedBuffer{Max: 16 << 10}
		cmd, err := step.opts.Command(ctx, step.prog, step.args...)
		if err != nil {
			return nativeResult{}, err
		}
		cmd.Stdout, cmd.Stderr = buf, buf
		if err := cmd.Run(); err != nil {
			return nativeResult{}, fmt.Errorf("%s: %w: %s", filepath.Base(step.prog), err, buf)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss)
		}
	}
	r := nativeResult{name: name, seconds: time.Since(start).Seconds(), peakKiB: peak}
	cost, err := b.target.since(ctx, before)
	if err != nil {
		return nativeResult{}, err
	}
	size, _ := dirSize(out)
	r.detail = fmt.Sprintf("dump files %.0f MiB; %s", float64(size)/mib, cost)
	logf("run %d: %s took %.2f s", n, name, r.seconds)
	return r, b.verifyAndDrop(ctx, target)
}

func ceilingName(binlog bool) string {
	if binlog {
		return "LOAD DATA INFILE ceiling"
	}
	return "LOAD DATA INFILE ceiling, no binlog"
}

// runCeiling is the server's own loading speed with the Copier's strategy.
// Untimed: every table is exported with SELECT ... INTO OUTFILE on the
// source, and created on the target as the Copier's plan creates it
// (without the secondary indexes and foreign keys it defers). Timed: per
// table, one LOAD DATA INFILE of the whole file and then the plan's ALTER
// TABLE adding the deferred indexes and foreign keys, up to -threads tables
// at once, with foreign_key_checks=0, unique_checks=0 and, when binlog is
// false, sql_log_bin=0.
func (b *bench) runCeiling(ctx context.Context, n int, binlog bool) (nativeResult, error) {
	name := ceilingName(binlog)
	target := fmt.Sprintf("%s_ceiling_%d", database, n)
	// The session settings of the Copier's writers in a consistent copy.
	session := "SET SESSION foreign_key_checks = 0, unique_checks = 0, time_zone = '+00:00'"
	if !binlog {
		target += "_nobinlog"
		session += ", sql_log_bin = 0"
	}
	plan, err := b.copierPlan(ctx, target)
	if err != nil {
		return nativeResult{}, err
	}
	var secure sql.NullString
	if err := b.srcDB.QueryRowContext(ctx, "SELECT @@secure_file_priv").Scan(&secure); err != nil {
		return nativeResult{}, err
	}
	dir := filepath.Join(b.src.Dir(), "export")
	if secure.String != "" {
		dir = filepath.Join(secure.String, "benchcopy-export")
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nativeResult{}, err
	}
	defer os.RemoveAll(dir)
	logf("run %d: %s: exporting with SELECT ... INTO OUTFILE to %s", n, name, dir)
	defs, err := schema.LoadTables(ctx, b.srcDB, database)
	if err != nil {
		return nativeResult{}, err
	}
	columns := map[string][]string{}
	for _, d := range defs {
		for _, c := range d.InsertableColumns() {
			columns[d.Name] = append(columns[d.Name], schema.QuoteIdent(c.Name))
		}
	}
	if _, err := b.dstDB.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s CHARACTER SET %s COLLATE %s", schema.QuoteIdent(target), b.like.Charset, b.like.Collation)); err != nil {
		return nativeResult{}, err
	}
	srcConn, err := b.srcDB.Conn(ctx)
	if err != nil {
		return nativeResult{}, err
	}
	defer srcConn.Close()
	dstConn, err := b.dstDB.Conn(ctx)
	if err != nil {
		return nativeResult{}, err
	}
	for _, s := range []string{"USE " + schema.QuoteIdent(target), "SET SESSION foreign_key_checks = 0"} {
		if _, err := dstConn.ExecContext(ctx, s); err != nil {
			dstConn.Close()
			return nativeResult{}, err
		}
	}
	// Per table: the LOAD DATA and then the ALTER adding what was deferred.
	loads := map[string][]string{}
	for _, t := range plan.Tables {
		cols := strings.Join(columns[t.Name], ", ")
		file, ok := rowcodec.PlainString(filepath.Join(dir, t.Name+".tsv"))
		if !ok {
			dstConn.Close()
			return nativeResult{}, fmt.Errorf("export %s: the file name under %s cannot be quoted the same under every sql_mode", t.Name, dir)
		}
		q := fmt.Sprintf("SELECT %s INTO OUTFILE %s CHARACTER SET binary FROM %s", cols, file, schema.QualifiedName(database, t.Name))
		if _, err := srcConn.ExecContext(ctx, q); err != nil {
			dstConn.Close()
			return nativeResult{}, fmt.Errorf("export %s: %w", t.Name, err)
		}
		if _, err := dstConn.ExecContext(ctx, t.CreateTable); err != nil {
			dstConn.Close()
			return nativeResult{}, fmt.Errorf("create %s: %w", t.TargetName, err)
		}
		stmts := []string{fmt.Sprintf("LOAD DATA INFILE %s INTO TABLE %s CHARACTER SET binary (%s)", file, schema.QualifiedName(target, t.TargetName), cols)}
		if t.AfterRows != "" {
			stmts = append(stmts, t.AfterRows)
		}
		loads[t.TargetName] = stmts
	}
	dstConn.Close()
	size, _ := dirSize(dir)

	db, err := b.dst.Open("")
	if err != nil {
		return nativeResult{}, err
	}
	defer db.Close()
	logf("run %d: %s: loading %d tables and adding their deferred indexes, up to %d tables at once", n, name, len(loads), *threads)
	before, err := b.target.read(ctx)
	if err != nil {
		return nativeResult{}, err
	}
	done := alive(name)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(*threads)
	for table, stmts := range loads {
		g.Go(func() error {
			conn, err := db.Conn(gctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := conn.ExecContext(gctx, session); err != nil {
				return err
			}
			for _, stmt := range stmts {
				if _, err := conn.ExecContext(gctx, stmt); err != nil {
					return fmt.Errorf("load %s: %w", table, err)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	elapsed := time.Since(start)
	done()
	if err != nil {
		return nativeResult{}, err
	}
	cost, err := b.target.since(ctx, before)
	if err != nil {
		return nativeResult{}, err
	}
	r := nativeResult{name: name, seconds: elapsed.Seconds(), detail: fmt.Sprintf("files %.0f MiB; export and CREATE TABLE untimed; %s", float64(size)/mib, cost)}
	logf("run %d: %s took %.2f s", n, name, r.seconds)
	return r, b.verifyAndDrop(ctx, target)
}

// copierPlan is the Copier's dry run of a copy into target: the tables as
// it creates them, their columns and the ALTER TABLE adding what it defers.
func (b *bench) copierPlan(ctx context.Context, target string) (*migrate.Plan, error) {
	c, err := migrate.NewCopier(b.src.DSN(""), b.dst.DSN(""), database, migrate.WithTargetDatabase(target), migrate.WithThreads(*threads))
	if err != nil {
		return nil, err
	}
	plan, err := c.Plan(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan of the ceiling's tables: %w", err)
	}
	return plan, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// targetMeter reads what a way costs the target server: CPU seconds and
// binlog counters.
type targetMeter struct {
	db  *sql.DB
	cpu func() (float64, error)
}

// targetReading is one reading of a targetMeter.
type targetReading struct {
	cpu    float64
	status map[string]int64
}

// binlogCounters are the target's status counters that targetMeter reads.
var binlogCounters = []string{"Binlog_bytes_written", "Binlog_cache_use", "Binlog_cache_disk_use"}

func (m targetMeter) read(ctx context.Context) (targetReading, error) {
	r := targetReading{status: map[string]int64{}}
	var err error
	if r.cpu, err = m.cpu(); err != nil {
		return r, err
	}
	rows, err := m.db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('"+strings.Join(binlogCounters, "', '")+"')")
	if err != nil {
		return r, fmt.Errorf("target status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return r, fmt.Errorf("target status: %w", err)
		}
		r.status[name] = v
	}
	return r, rows.Err()
}

// since describes what the target did after the reading before: its CPU
// seconds, the binlog bytes it wrote and how many of its binlogged
// transactions spilled their binlog cache (binlog_cache_size) to disk.
func (m targetMeter) since(ctx context.Context, before targetReading) (string, error) {
	now, err := m.read(ctx)
	if err != nil {
		return "", err
	}
	d := func(name string) int64 { return now.status[name] - before.status[name] }
	return fmt.Sprintf("target CPU %.1f s, binlog %.0f MiB written, %d of %d binlogged transactions spilled the binlog cache",
		now.cpu-before.cpu, float64(d("Binlog_bytes_written"))/mib, d("Binlog_cache_disk_use"), d("Binlog_cache_use")), nil
}
