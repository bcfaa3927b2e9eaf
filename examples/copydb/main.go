// Command copydb copies a database, or some of its tables, from one MySQL or
// MariaDB server to another (or to another database name on the same
// server).
//
//	copydb -source DSN -target DSN -database NAME [-tables a,b]
//	       [-target-database NAME] [-mode pipe|copy] [-replace] [-dry-run] [-json]
//	       [-threads N] [-lock-free] [-defer-indexes=false] [-write load-data|insert]
//	       [-memory MiB] [-rows-per-second N] [-bytes-per-second N] [-keyless-max-rows N]
//
// -mode pipe (the default) streams mariadb-dump into the mariadb client
// (migrate.Pipe). -mode copy copies natively with migrate.Copier: keyset
// chunks read by -threads connections from one consistent snapshot (or
// without any lock with -lock-free) and written with LOAD DATA LOCAL
// INFILE. A copy that stops part-way (killed, canceled, a server gone)
// resumes when the same command is run again: each chunk is committed on
// the target together with its checkpoint (kept in the database
// _shiftgate there), so the rerun continues after the last committed chunk
// and ends with exactly the source's rows. Options other than the tables
// and names may change between runs. To start over instead, drop the
// target database. Target tables holding rows that the copy did not write
// are refused unless -replace. Tables without a primary key or unique NOT
// NULL key are copied (in one chunk) only with -keyless-max-rows. A copy of
// a database onto itself is refused, however the two DSNs spell the
// server's host.
//
// DSNs are in go-sql-driver form, user:password@tcp(host:port)/. Keep the
// password off the command line, where other users can read it: leave it
// out of the DSN and set SHIFTGATE_SOURCE_PASSWORD and
// SHIFTGATE_TARGET_PASSWORD, or give the whole DSNs in SHIFTGATE_SOURCE_DSN
// and SHIFTGATE_TARGET_DSN instead of the flags.
//
// Progress goes to stderr, the summary (or with -json the report) to stdout.
// Names and server messages in the text output are escaped (termtext); the
// JSON output holds them as they are. The exit status is 0 on success (every
// table copied completely), 1 when the copy failed or is incomplete and 2 on
// bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/termtext"

	"github.com/shiftgate/shiftgate/migrate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	source, target   string
	database         string
	tables           string
	targetDatabase   string
	mode             string
	skipObjects      string
	replace, dryRun  bool
	json, verbose    bool
	progressInterval time.Duration
	// copy mode
	copy           cliflag.Copy
	keylessMaxRows int64
	// dsnOnCommandLine names the DSN flags given on the command line.
	dsnOnCommandLine []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("copydb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.source, "source", os.Getenv("SHIFTGATE_SOURCE_DSN"), "source DSN, user@tcp(host:port)/ (default $SHIFTGATE_SOURCE_DSN)")
	fs.StringVar(&o.target, "target", os.Getenv("SHIFTGATE_TARGET_DSN"), "target DSN (default $SHIFTGATE_TARGET_DSN)")
	fs.StringVar(&o.database, "database", "", "source database to copy (required)")
	fs.StringVar(&o.tables, "tables", "", "comma-separated tables to copy (default: the whole database)")
	fs.StringVar(&o.targetDatabase, "target-database", "", "target database name (default: the source name)")
	fs.StringVar(&o.mode, "mode", "pipe", "how to copy: pipe (mariadb-dump | mariadb) or copy (native parallel copy that resumes when run again)")
	fs.StringVar(&o.skipObjects, "skip-objects", "", "comma-separated kinds not to copy: view, procedure, function, trigger, event")
	fs.BoolVar(&o.replace, "replace", false, "replace target tables that already hold rows")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check and describe the copy without changing anything")
	fs.BoolVar(&o.json, "json", false, "print the plan or report as JSON")
	fs.BoolVar(&o.verbose, "v", false, "log what happens to stderr")
	fs.DurationVar(&o.progressInterval, "progress", time.Second, "interval between progress lines")
	o.copy.Register(fs, "copy: ")
	fs.Int64Var(&o.keylessMaxRows, "keyless-max-rows", 0, "copy: copy tables without a primary or unique NOT NULL key, in one chunk, when they hold at most N rows (0: refuse them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var copyFlags []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "source" || f.Name == "target" {
			o.dsnOnCommandLine = append(o.dsnOnCommandLine, f.Name)
		}
		if strings.HasPrefix(f.Usage, "copy: ") {
			copyFlags = append(copyFlags, "-"+f.Name)
		}
	})
	if o.mode != "copy" && len(copyFlags) > 0 {
		fmt.Fprintf(stderr, "copydb: %s: only with -mode copy\n", strings.Join(copyFlags, ", "))
		return 2
	}
	exec, err := newExecutor(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "copydb: %s\n", termtext.Line(cliflag.OptionFlag(err, optionFlags)))
		return 2
	}

	if o.dryRun {
		plan, err := exec.Plan(ctx)
		if plan != nil {
			printPlan(stdout, plan, o.json)
		}
		if err != nil {
			fmt.Fprintf(stderr, "copydb: the copy cannot run:\n%s\n", describe(err, o.mode))
			return 1
		}
		return 0
	}

	report, err := exec.Run(ctx, func(p migrate.Progress) {
		fmt.Fprintf(stderr, "copydb: %s\n", termtext.Line(p.String()))
	})
	if report != nil {
		printReport(stdout, report, o.json)
	}
	if err != nil {
		fmt.Fprintf(stderr, "copydb: %s\n", describe(err, o.mode))
		return 1
	}
	if missing := notDone(report); len(missing) > 0 {
		fmt.Fprintf(stderr, "copydb: the copy reported success but did not copy %s completely\n", termtext.Line(strings.Join(missing, ", ")))
		return 1
	}
	return 0
}

// optionFlags are the flags that set each library option (the copy's are
// cliflag.CopyOptionFlags).
var optionFlags = map[string]string{
	"WithTables":           "-tables",
	"WithTargetDatabase":   "-target-database",
	"WithoutObjects":       "-skip-objects",
	"WithProgressInterval": "-progress",
	"WithKeylessTables":    "-keyless-max-rows",
}

// notDone lists the tables of r not copied completely.
func notDone(r *migrate.Report) []string {
	var out []string
	if r != nil {
		for _, t := range r.Tables {
			if !t.Done {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// describe renders err for the terminal, one problem a line, with hints
// in copydb's flags instead of the library's option names, and with names
// and server messages escaped.
func describe(err error, mode string) string {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		var ee *migrate.EndpointError
		var ie *migrate.IncompleteError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		switch {
		case errors.As(err, &ie):
			lines = append(lines, termtext.Line(ie.Problem())+withHint(incompleteRemedy(ie, mode)))
		case errors.As(err, &ee):
			lines = append(lines, termtext.Line(ee.Problem())+withHint(endpointHint(ee)))
		default:
			lines = append(lines, termtext.Line(err.Error()))
		}
	}
	walk(err)
	return strings.Join(lines, "\n")
}

func withHint(h string) string {
	if h == "" {
		return ""
	}
	return "\n  hint: " + h
}

// endpointHint says in copydb's flags what lets the copy go through.
func endpointHint(e *migrate.EndpointError) string {
	switch {
	case errors.Is(e, migrate.ErrNotEmpty):
		return "add -replace to let the copy replace them (an unfinished copy from elsewhere is then started over)"
	case errors.Is(e, migrate.ErrNoKey):
		return "-mode copy -keyless-max-rows N copies tables without a key in one chunk when they hold at most N rows"
	case errors.Is(e, migrate.ErrSnapshotPrivilege):
		return "grant RELOAD, or copy without a consistent snapshot with -lock-free"
	case errors.Is(e, migrate.ErrViewDependency):
		return "name those tables in -tables too"
	case errors.Is(e, migrate.ErrSameDatabase):
		return "name another target database with -target-database"
	}
	return ""
}

// incompleteRemedy says in copydb's terms how to finish an interrupted
// copy, and only what can help.
func incompleteRemedy(e *migrate.IncompleteError, mode string) string {
	switch {
	case e.Remedy == "":
		return ""
	case errors.Is(e, migrate.ErrRowsDiffer):
		return "drop the target database and run copydb again to start over"
	case mode == "copy" && migrate.Transient(e.Err):
		return "run the same copydb command again: it continues from the last committed chunk"
	case mode == "copy":
		return "once the cause is fixed, run the same copydb command again: it continues from the last committed chunk"
	default:
		return "run copydb again with -replace to start over"
	}
}

func newExecutor(o options, stderr io.Writer) (migrate.Executor, error) {
	if o.database == "" {
		return nil, errors.New("-database is required")
	}
	source, err := cliflag.SideDSN("copydb", "source", o.source, slices.Contains(o.dsnOnCommandLine, "source"), stderr)
	if err != nil {
		return nil, err
	}
	target, err := cliflag.SideDSN("copydb", "target", o.target, slices.Contains(o.dsnOnCommandLine, "target"), stderr)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	// Options both executors take go to both lists.
	var pipeOpts []migrate.PipeOption
	var copierOpts []migrate.CopierOption
	both := func(o migrate.CopyOption) { pipeOpts, copierOpts = append(pipeOpts, o), append(copierOpts, o) }
	both(migrate.WithLogger(logger))
	both(migrate.WithProgressInterval(o.progressInterval))
	if o.tables != "" {
		both(migrate.WithTables(cliflag.List(o.tables)...))
	}
	if o.targetDatabase != "" {
		both(migrate.WithTargetDatabase(o.targetDatabase))
	}
	if o.replace {
		both(migrate.WithReplace())
	}
	if o.skipObjects != "" {
		var kinds []migrate.ObjectKind
		for _, k := range cliflag.List(o.skipObjects) {
			kinds = append(kinds, migrate.ObjectKind(k))
		}
		both(migrate.WithoutObjects(kinds...))
	}
	switch o.mode {
	case "pipe":
		return migrate.NewPipe(source, target, o.database, pipeOpts...)
	case "copy":
		opts, err := copyModeOptions(o)
		if err != nil {
			return nil, err
		}
		return migrate.NewCopier(source, target, o.database, append(copierOpts, opts...)...)
	default:
		return nil, fmt.Errorf("-mode %q: unknown mode (want pipe or copy)", o.mode)
	}
}

// copyModeOptions turns the flags of -mode copy into Copier options.
func copyModeOptions(o options) ([]migrate.CopierOption, error) {
	opts, err := o.copy.Options()
	if err != nil {
		return nil, err
	}
	if o.keylessMaxRows != 0 {
		opts = append(opts, migrate.WithKeylessTables(o.keylessMaxRows))
	}
	return opts, nil
}

func printPlan(w io.Writer, plan *migrate.Plan, asJSON bool) {
	if asJSON {
		writeJSON(w, plan)
		return
	}
	line := termtext.Line
	fmt.Fprintf(w, "plan (%s): %s/%s -> %s/%s\n", plan.Executor, line(plan.Source), line(plan.SourceDatabase), line(plan.Target), line(plan.TargetDatabase))
	fmt.Fprintf(w, "  %-32s %12s %12s  %s\n", "table", "rows (est.)", "data bytes", "target")
	for _, t := range plan.Tables {
		state := "absent"
		switch {
		case t.Resume:
			state = fmt.Sprintf("resume after %d rows", t.CheckpointRows)
		case t.TargetHasRows:
			state = "exists, HAS ROWS"
		case t.TargetExists:
			state = "exists, empty"
		}
		fmt.Fprintf(w, "  %-32s %12d %12d  %s\n", line(t.Name), t.Rows, t.DataBytes, state)
		if t.Segments > 0 {
			key := line(strings.Join(t.Key, ", "))
			if key == "" {
				key = "none: one chunk"
			}
			fmt.Fprintf(w, "  %-32s key (%s), %d segment(s), ~%d chunk(s) from %d rows", "", key, t.Segments, t.Chunks, t.ChunkRows)
			if len(t.DeferredIndexes) > 0 {
				fmt.Fprintf(w, ", indexes added after: %s", line(strings.Join(t.DeferredIndexes, ", ")))
			}
			if len(t.DeferredForeignKeys) > 0 {
				fmt.Fprintf(w, ", foreign keys added after: %s", line(strings.Join(t.DeferredForeignKeys, ", ")))
			}
			fmt.Fprintln(w)
		}
	}
	for _, o := range plan.Objects {
		fmt.Fprintf(w, "  %s %s\n", o.Kind, line(o.Name))
	}
	for _, l := range plan.Locks {
		fmt.Fprintf(w, "  lock: %s\n", line(l))
	}
	for i, s := range plan.Steps {
		fmt.Fprintf(w, "  step %d: %s\n", i+1, line(s))
	}
}

func printReport(w io.Writer, r *migrate.Report, asJSON bool) {
	if asJSON {
		writeJSON(w, r)
		return
	}
	line := termtext.Line
	fmt.Fprintf(w, "copied %s/%s -> %s/%s with %s\n", line(r.Source), line(r.SourceDatabase), line(r.Target), line(r.TargetDatabase), r.Executor)
	for _, t := range r.Tables {
		state := "done"
		if !t.Done {
			state = "NOT DONE"
		}
		fmt.Fprintf(w, "  %-32s %12d rows  %s\n", line(t.Name), t.Rows, state)
	}
	if len(r.Objects) > 0 {
		fmt.Fprintf(w, "  %d views, routines, triggers and events\n", len(r.Objects))
	}
	rate := float64(r.Bytes) / (1 << 20) / r.Duration.Seconds()
	fmt.Fprintf(w, "  total: %d rows, %.1f MiB in %v (%.1f MiB/s)\n", r.Rows, float64(r.Bytes)/(1<<20), r.Duration.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "  source binlog position: %s\n", line(r.Position.String()))
	if note := r.PositionNote(); note != "" {
		fmt.Fprintf(w, "  %s\n", note)
	}
	if r.Resumed {
		fmt.Fprintf(w, "  resumed an interrupted copy\n")
	}
	if r.CommitsBlocked > 0 {
		fmt.Fprintf(w, "  source commits were blocked for %v to align the snapshot\n", r.CommitsBlocked.Round(time.Microsecond))
	}
	if r.WriteMethod != "" {
		fmt.Fprintf(w, "  written with %s\n", r.WriteMethod)
	}
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
