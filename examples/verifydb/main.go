// Command verifydb proves that a target database holds the same rows as its
// source (or that some tables do), lists the rows that differ and prints
// the SQL that repairs the target; with -repair it applies that SQL and
// verifies again.
//
//	verifydb -source DSN -target DSN -database NAME [-tables a,b]
//	         [-target-database NAME] [-ignore t.col,col] [-where SQL]
//	         [-float-tolerance X] [-snapshot none|quiesced|locked]
//	         [-recheck 2s] [-threads N] [-sample N] [-json] [-sql FILE] [-repair]
//
// DSNs are in go-sql-driver form, user:password@tcp(host:port)/. Keep the
// password off the command line, where other users can read it: leave it
// out of the DSN and set SHIFTGATE_SOURCE_PASSWORD and
// SHIFTGATE_TARGET_PASSWORD, or give the whole DSNs in SHIFTGATE_SOURCE_DSN
// and SHIFTGATE_TARGET_DSN instead of the flags.
//
// The report (text, or JSON with -json) and then the repair SQL go to
// stdout (the SQL to -sql FILE instead if given). The exit status is 0 when
// the tables are equal (after the repair, with -repair), 1 when differences
// remain or verification failed, and 2 on bad usage.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver of sql.Open

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	source, target   string
	database         string
	targetDatabase   string
	tables           string
	ignore           string
	where            string
	snapshot         string
	tolerance        float64
	recheck          time.Duration
	threads, sample  int
	json, repair     bool
	verbose          bool
	sqlFile          string
	dsnOnCommandLine map[string]bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verifydb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{dsnOnCommandLine: map[string]bool{}}
	fs.StringVar(&o.source, "source", os.Getenv("SHIFTGATE_SOURCE_DSN"), "source DSN, user@tcp(host:port)/ (default $SHIFTGATE_SOURCE_DSN)")
	fs.StringVar(&o.target, "target", os.Getenv("SHIFTGATE_TARGET_DSN"), "target DSN (default $SHIFTGATE_TARGET_DSN)")
	fs.StringVar(&o.database, "database", "", "source database (required)")
	fs.StringVar(&o.targetDatabase, "target-database", "", "target database name (default: the source name)")
	fs.StringVar(&o.tables, "tables", "", "comma-separated tables to compare (default: every base table)")
	fs.StringVar(&o.ignore, "ignore", "", "comma-separated columns not to compare: col (every table) or table.col")
	fs.StringVar(&o.where, "where", "", "SQL predicate restricting the rows compared on both sides (every table)")
	fs.StringVar(&o.snapshot, "snapshot", "none", "read both sides at one point: none, quiesced (writes are stopped) or locked (FLUSH TABLES WITH READ LOCK briefly)")
	fs.Float64Var(&o.tolerance, "float-tolerance", 0, "FLOAT/DOUBLE values differing by at most this are equal")
	fs.DurationVar(&o.recheck, "recheck", 0, "re-examine differing chunks after this delay (3 times) before reporting them")
	fs.IntVar(&o.threads, "threads", 4, "chunks compared at a time")
	fs.IntVar(&o.sample, "sample", 1000, "differing rows listed per table at most")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.sqlFile, "sql", "", "write the repair SQL to this file instead of stdout")
	fs.BoolVar(&o.repair, "repair", false, "apply the repair to the target, then verify again")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "verifydb: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "source" || f.Name == "target" {
			o.dsnOnCommandLine[f.Name] = true
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	v, src, dst, pairs, err := setup(ctx, o, stderr)
	if src != nil {
		defer src.Close()
	}
	if dst != nil {
		defer dst.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "verifydb: %v\n", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}

	report, err := v.Verify(ctx, pairs...)
	if err != nil {
		fmt.Fprintf(stderr, "verifydb: %v\n", err)
		return 1
	}
	if err := printReport(stdout, report, o.json); err != nil {
		fmt.Fprintf(stderr, "verifydb: %v\n", err)
		return 1
	}
	if report.Clean() {
		return 0
	}
	if err := writeSQL(stdout, o.sqlFile, report); err != nil {
		fmt.Fprintf(stderr, "verifydb: %v\n", err)
		return 1
	}
	if !o.repair {
		return 1
	}
	for round := 1; round <= 10 && !report.Clean(); round++ {
		res, err := v.Repair(ctx, report)
		if err != nil {
			fmt.Fprintf(stderr, "verifydb: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "verifydb: repair round %d: %d rows deleted, %d written in %d transactions; verifying again\n",
			round, res.Deleted, res.Written, res.Batches)
		if report, err = v.Verify(ctx, pairs...); err != nil {
			fmt.Fprintf(stderr, "verifydb: %v\n", err)
			return 1
		}
		if err := printReport(stdout, report, o.json); err != nil {
			fmt.Fprintf(stderr, "verifydb: %v\n", err)
			return 1
		}
	}
	if !report.Clean() {
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func setup(ctx context.Context, o options, stderr io.Writer) (*verify.Verifier, *sql.DB, *sql.DB, []verify.TablePair, error) {
	usage := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
	}
	if o.database == "" {
		return nil, nil, nil, nil, usage("-database is required")
	}
	var opts []verify.Option
	switch o.snapshot {
	case "none":
	case "quiesced":
		opts = append(opts, verify.WithSnapshot(verify.SnapshotQuiesced))
	case "locked":
		opts = append(opts, verify.WithSnapshot(verify.SnapshotLocked))
	default:
		return nil, nil, nil, nil, usage("-snapshot %q: want none, quiesced or locked", o.snapshot)
	}
	if o.recheck > 0 {
		opts = append(opts, verify.WithRecheck(o.recheck, 3))
	}
	if o.tolerance > 0 {
		opts = append(opts, verify.WithFloatTolerance(o.tolerance))
	}
	opts = append(opts, verify.WithParallelism(o.threads), verify.WithSampleLimit(o.sample))
	if o.verbose {
		opts = append(opts, verify.WithLogger(slog.New(slog.NewTextHandler(stderr, nil))))
	}
	srcDSN, err := cliflag.SideDSN("verifydb", "source", o.source, o.dsnOnCommandLine["source"], stderr)
	if err != nil {
		return nil, nil, nil, nil, usage("%v", err)
	}
	dstDSN, err := cliflag.SideDSN("verifydb", "target", o.target, o.dsnOnCommandLine["target"], stderr)
	if err != nil {
		return nil, nil, nil, nil, usage("%v", err)
	}
	src, err := sql.Open("mysql", srcDSN)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	dst, err := sql.Open("mysql", dstDSN)
	if err != nil {
		return nil, src, nil, nil, err
	}
	v, err := verify.New(src, dst, opts...)
	if err != nil {
		return nil, src, dst, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	targetDB := o.targetDatabase
	if targetDB == "" {
		targetDB = o.database
	}
	var pairs []verify.TablePair
	if o.tables == "" {
		if pairs, err = verify.DatabasePairs(ctx, src, o.database, targetDB); err != nil {
			return nil, src, dst, nil, err
		}
		// Tables only the target has are not compared: say so.
		onSource := map[string]bool{}
		for _, p := range pairs {
			onSource[p.SourceTable] = true
		}
		targetTables, err := schema.Tables(ctx, dst, targetDB)
		if err != nil {
			return nil, src, dst, nil, fmt.Errorf("target: %w", err)
		}
		for _, t := range targetTables {
			if !t.View && !onSource[t.Name] {
				fmt.Fprintf(stderr, "verifydb: note: target table %s.%s is not on the source; not compared\n", targetDB, t.Name)
			}
		}
	} else {
		for _, t := range cliflag.List(o.tables) {
			pairs = append(pairs, verify.TablePair{SourceDatabase: o.database, SourceTable: t, TargetDatabase: targetDB, TargetTable: t})
		}
	}
	for i := range pairs {
		pairs[i].Where = o.where
		for _, c := range cliflag.List(o.ignore) {
			if table, col, ok := strings.Cut(c, "."); ok {
				if table == pairs[i].SourceTable {
					pairs[i].Ignore = append(pairs[i].Ignore, col)
				}
			} else {
				pairs[i].Ignore = append(pairs[i].Ignore, c)
			}
		}
	}
	return v, src, dst, pairs, nil
}

func printReport(w io.Writer, r *verify.Report, asJSON bool) error {
	if asJSON {
		return r.WriteJSON(w)
	}
	return r.WriteText(w)
}

func writeSQL(stdout io.Writer, file string, r *verify.Report) error {
	if file == "" {
		fmt.Fprintln(stdout)
		return r.WriteRepairSQL(stdout)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := r.WriteRepairSQL(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
