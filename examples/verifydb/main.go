// Command verifydb proves that a target database holds the same rows as its
// source (or that some tables do), lists the rows that differ and prints
// the SQL that repairs the target; with -repair it applies that SQL and
// verifies again.
//
//	verifydb -source DSN -target DSN -database NAME [-tables a,b]
//	         [-target-database NAME] [-ignore t.col,col] [-where SQL]
//	         [-float-tolerance X] [-snapshot none|quiesced|locked]
//	         [-recheck 2s] [-threads N] [-sample N] [-json] [-sql FILE] [-repair]
//	         [-connect-timeout 10s] [-v]
//
// DSNs are in go-sql-driver form, user:password@tcp(host:port)/. Keep the
// password off the command line, where other users can read it: leave it
// out of the DSN and set SHIFTGATE_SOURCE_PASSWORD and
// SHIFTGATE_TARGET_PASSWORD, or give the whole DSNs in SHIFTGATE_SOURCE_DSN
// and SHIFTGATE_TARGET_DSN instead of the flags.
//
// The report (text, or JSON with -json) and then the repair SQL go to
// stdout (the SQL to -sql FILE instead if given). A table that cannot be
// compared (missing on one side, a view, no primary key, a column on one
// side only) does not stop the others: the report lists it with the
// reason. Text output escapes characters a terminal would act on; JSON and
// the repair SQL are exact (the SQL is not printed on stdout when names in
// it hold such characters: use -sql FILE).
//
// Connections time out: a server that does not complete the handshake
// within -connect-timeout (default 10s) is an error naming it. The
// target must not be the source table itself: the same server, identified
// by what it is (server uuid, or server id, hostname, port and data
// directory) however the DSNs spell its address, with the same database,
// is refused before anything is read.
//
// With -repair, verifydb repairs the target and verifies again, up to 10
// rounds; it stops as soon as a round changes nothing. A target table with
// triggers that would fire on the repair is refused before anything is
// changed, naming the triggers (MariaDB and MySQL cannot turn them off for
// one session).
//
// Exit status:
//
//	0  every table compared and equal (after the repair, with -repair)
//	1  differences found: rows, or columns defined differently
//	   (even if some tables could not be compared as well)
//	2  bad usage, or source and target are one table (the same server,
//	   however the DSNs spell it, database and table)
//	3  some or all tables could not be verified, or verification failed
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

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/termtext"
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
	connectTimeout   time.Duration
	sqlFile          string
	dsnOnCommandLine map[string]bool
}

// Exit statuses.
const (
	exitEqual      = 0
	exitDiffer     = 1
	exitUsage      = 2
	exitUnverified = 3
)

// maxRounds bounds the repair rounds of -repair.
const maxRounds = 10

// targetDB is the target database's name.
func (o options) targetDB() string {
	if o.targetDatabase == "" {
		return o.database
	}
	return o.targetDatabase
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verifydb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: verifydb -source DSN -target DSN -database NAME [flags]

Exit status:
  0  every table compared and equal (after the repair, with -repair)
  1  differences found: rows, or columns defined differently
  2  bad usage, or the target is the source table itself
  3  some or all tables could not be verified (listed with the reason),
     or verification failed

`)
		fs.PrintDefaults()
	}
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
	fs.BoolVar(&o.repair, "repair", false, "apply the repair to the target, then verify again (up to 10 rounds, until a round changes nothing)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", conn.DefaultConnectTimeout, "give up connecting (dial and handshake) to a server after this long")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "verifydb: unexpected arguments %q\n", fs.Args()) // %q escapes
		return exitUsage
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
		printErr(stderr, err)
		if errors.Is(err, errUsage) {
			return exitUsage
		}
		return exitUnverified
	}
	targetOnly, err := targetOnlyTables(ctx, o, dst, pairs)
	if err != nil {
		printErr(stderr, err)
		return exitUnverified
	}

	report, err := v.Verify(ctx, pairs...)
	if err != nil {
		printErr(stderr, err)
		if errors.Is(err, verify.ErrSameTable) {
			return exitUsage
		}
		return exitUnverified
	}
	report.TargetOnly = targetOnly
	if err := printReport(stdout, report, o.json); err != nil {
		printErr(stderr, err)
		return exitUnverified
	}
	if report.Differences() == 0 {
		return exitCode(report)
	}
	if err := writeSQL(stdout, stderr, o.sqlFile, report); err != nil {
		printErr(stderr, err)
		return exitDiffer
	}
	if !o.repair {
		return exitCode(report)
	}
	for round := 1; report.Differences() > 0; round++ {
		if round > maxRounds {
			fmt.Fprintf(stderr, "verifydb: %d rows still differ after %d repair rounds; stopping\n", report.Differences(), maxRounds)
			break
		}
		res, err := v.Repair(ctx, report)
		if err != nil {
			printErr(stderr, err)
			return exitDiffer
		}
		fmt.Fprintf(stderr, "verifydb: repair round %d: %d rows deleted, %d written in %d transactions; verifying again\n",
			round, res.Deleted, res.Written, res.Batches)
		next, err := v.Verify(ctx, pairs...)
		if err != nil {
			printErr(stderr, err)
			return exitUnverified
		}
		next.TargetOnly = targetOnly
		if err := printReport(stdout, next, o.json); err != nil {
			printErr(stderr, err)
			return exitUnverified
		}
		if next.Differences() > 0 && next.SameDifferences(report) {
			fmt.Fprintf(stderr, "verifydb: repair round %d changed nothing: the same %d rows differ as before; stopping "+
				"(something on the target writes other values, or the target cannot hold the source's)\n", round, next.Differences())
			report = next
			break
		}
		report = next
	}
	return exitCode(report)
}

// exitCode is the exit status for a final report.
func exitCode(r *verify.Report) int {
	switch {
	case r.Differences() > 0 || r.ColumnDiffs() > 0:
		return exitDiffer
	case !r.Complete():
		return exitUnverified
	}
	return exitEqual
}

// printErr prints err on stderr, one line per joined error, escaped.
func printErr(stderr io.Writer, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			printErr(stderr, e)
		}
		return
	}
	fmt.Fprintf(stderr, "verifydb: %s\n", termtext.Line(err.Error()))
}

// targetOnlyTables names the target tables not compared when every table
// of the database is (no -tables).
func targetOnlyTables(ctx context.Context, o options, dst *sql.DB, pairs []verify.TablePair) ([]verify.TableName, error) {
	if o.tables != "" {
		return nil, nil
	}
	return verify.TargetOnlyTables(ctx, dst, o.targetDB(), pairs)
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
	if o.connectTimeout <= 0 {
		return nil, nil, nil, nil, usage("-connect-timeout %v is not positive", o.connectTimeout)
	}
	// Warnings (the driver's own log lines among them) always reach
	// stderr through the logger; progress with -v.
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts = append(opts, verify.WithParallelism(o.threads), verify.WithSampleLimit(o.sample), verify.WithLogger(logger))
	var pools [2]*sql.DB
	for i, side := range []string{"source", "target"} {
		dsn := o.source
		if side == "target" {
			dsn = o.target
		}
		dsn, err := cliflag.SideDSN("verifydb", side, dsn, o.dsnOnCommandLine[side], stderr)
		if err != nil {
			return nil, pools[0], nil, nil, usage("%v", err)
		}
		cfg, err := conn.ParseDSN(dsn)
		if err != nil {
			return nil, pools[0], nil, nil, usage("-%s: %v", side, err)
		}
		// No read timeout: a whole-table checksum can take minutes before
		// its one row; the context (Ctrl-C) bounds it.
		db, err := conn.Open(ctx, cfg, conn.Options{Timeouts: conn.Timeouts{Connect: o.connectTimeout}, Logger: logger})
		if err != nil {
			return nil, pools[0], nil, nil, fmt.Errorf("%s: %w", side, err)
		}
		pools[i] = db
	}
	src, dst := pools[0], pools[1]
	v, err := verify.New(src, dst, opts...)
	if err != nil {
		return nil, src, dst, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	targetDB := o.targetDB()
	var pairs []verify.TablePair
	if o.tables == "" {
		if pairs, err = verify.DatabasePairs(ctx, src, o.database, targetDB); err != nil {
			return nil, src, dst, nil, err
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

// writeSQL writes the repair SQL to file, or to stdout if file is "" and
// the SQL holds nothing a terminal would act on (names are written exactly;
// values are always safe literals); else it says on stderr to use -sql.
func writeSQL(stdout, stderr io.Writer, file string, r *verify.Report) error {
	if file == "" {
		var b strings.Builder
		if err := r.WriteRepairSQL(&b); err != nil {
			return err
		}
		if termtext.Block(b.String()) != b.String() {
			fmt.Fprintln(stderr, "verifydb: the repair SQL is not printed: table or column names in it hold characters a terminal would act on; write it with -sql FILE")
			return nil
		}
		_, err := fmt.Fprintf(stdout, "\n%s", b.String())
		return err
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
