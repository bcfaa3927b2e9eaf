package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/shard"
)

func init() {
	register("split", command{summary: "copy a table into the shards of a layout (resumable), with progress", run: runSplit})
}

// runSplit splits -database.-table from the -source server into the
// shards of -layout on the -dsn servers (migrate.Split). Progress lines go
// to stderr; the report (or with -dry-run the plan) to stdout, as JSON
// with -json. Passwords: leave them out of the DSNs and set
// SHIFTGATE_SOURCE_PASSWORD and SHIFTGATE_SHARD_PASSWORD; the source DSN
// may come from SHIFTGATE_SOURCE_DSN. A split that was interrupted
// continues when run again with the same flags.
func runSplit(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("split", "-source DSN -database DB -table T -key COLUMN -layout FILE -dsn [instance=]DSN ... [-key-expr SQL] [-threads N] [-rate ROWS] [-checkpoint-db NAME] [-replace] [-dry-run] [-json] [-progress D]", stderr)
	source := fs.String("source", os.Getenv("SHIFTGATE_SOURCE_DSN"), "`DSN` of the server with the table (default $SHIFTGATE_SOURCE_DSN; password from SHIFTGATE_SOURCE_PASSWORD)")
	database := fs.String("database", "", "database of the table to split")
	table := fs.String("table", "", "table to split")
	key := fs.String("key", "", "sharding key column")
	keyExpr := fs.String("key-expr", "", "route on this SQL expression over the table's columns instead of -key's value (e.g. LOWER(name))")
	layoutFile := fs.String("layout", "", "layout `file` of the shards (JSON, or YAML when named .yaml/.yml)")
	dsns := dsnList{}
	fs.Var(dsns, "dsn", "`[instance=]DSN` of a shard server (repeat per instance of the layout; password from "+passwordEnv+")")
	threads := fs.Int("threads", 4, "chunks read and written at once")
	rate := fs.Float64("rate", 0, "copy at most `ROWS` rows per second, to bound the load on the servers (0: no limit)")
	checkpointDB := fs.String("checkpoint-db", "_shiftgate", "database on each shard server that holds the split's checkpoints")
	replace := fs.Bool("replace", false, "drop shard tables that hold rows this split did not write")
	dryRun := fs.Bool("dry-run", false, "print the plan (rows expected per shard, tables to create) and change nothing")
	asJSON := fs.Bool("json", false, "print the plan or report as JSON")
	every := fs.Duration("progress", 5*time.Second, "interval between progress lines on stderr")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *database == "" || *table == "" || *layoutFile == "" || *key == "" && *keyExpr == "" || len(dsns) == 0 || *rate < 0 {
		fs.Usage()
		return exitUsage
	}
	layout, err := shard.LoadLayout(*layoutFile)
	if err != nil {
		return fail(stderr, "split", exitUsage, err)
	}
	router, err := layout.Router()
	if err != nil {
		return fail(stderr, "split", exitUsage, err)
	}
	src, err := cliflag.SideDSN("shardctl split", "source", *source, flagSet(fs, "source"), stderr)
	if err != nil {
		return fail(stderr, "split", exitUsage, err)
	}
	cfgs, err := shardConfigs("split", dsns, stderr)
	if err != nil {
		return fail(stderr, "split", exitUsage, err)
	}
	targets := make(map[string]string, len(cfgs))
	for inst, cfg := range cfgs {
		targets[inst] = cfg.FormatDSN()
	}
	opts := []migrate.SplitOption{migrate.WithThreads(*threads), migrate.WithCheckpointDatabase(*checkpointDB), migrate.WithProgressInterval(*every)}
	if *rate > 0 {
		opts = append(opts, migrate.WithRateLimit(*rate, 0))
	}
	if *keyExpr != "" {
		opts = append(opts, migrate.WithKeyExpression(*keyExpr))
	}
	if *replace {
		opts = append(opts, migrate.WithReplace())
	}
	s, err := migrate.NewSplit(src, *database, *table, *key, router, targets, opts...)
	if err != nil {
		return fail(stderr, "split", exitUsage, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *dryRun {
		plan, err := s.Plan(ctx)
		if plan != nil {
			printSplitPlan(stdout, plan, *asJSON)
		}
		if err != nil {
			return fail(stderr, "split", exitPartial, err)
		}
		return exitOK
	}
	report, err := s.Run(ctx, func(p migrate.Progress) {
		fmt.Fprintf(stderr, "shardctl split: %s\n", termtext.Line(p.String()))
	})
	if report != nil {
		printSplitReport(stdout, report, *asJSON)
	}
	if err != nil {
		return fail(stderr, "split", exitPartial, err)
	}
	return exitOK
}

// flagSet reports whether flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func printSplitPlan(w io.Writer, p *migrate.Plan, asJSON bool) {
	if asJSON {
		printJSON(w, p)
		return
	}
	fmt.Fprintf(w, "split %s from %s into %d shards on %s\n", termtext.Line(p.SourceDatabase), termtext.Line(p.Source), len(p.Tables), termtext.Line(p.Target))
	for _, t := range p.Tables {
		state := "to create"
		switch {
		case t.Resume:
			state = "resumes"
		case t.TargetHasRows:
			state = "holds rows"
		case t.TargetExists:
			state = "exists, empty"
		}
		fmt.Fprintf(w, "  %s\tabout %d rows\t%s\n", termtext.Line(t.TargetName), t.Rows, state)
	}
	for _, l := range p.Locks {
		fmt.Fprintf(w, "lock: %s\n", termtext.Line(l))
	}
	for _, s := range p.Steps {
		fmt.Fprintf(w, "step: %s\n", termtext.Line(s))
	}
}

func printSplitReport(w io.Writer, r *migrate.Report, asJSON bool) {
	if asJSON {
		printJSON(w, r)
		return
	}
	resumed := ""
	if r.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(w, "split %d rows into %s in %s%s\n", r.Rows, termtext.Line(r.TargetDatabase), r.Duration.Round(time.Millisecond), resumed)
	if !r.Position.IsZero() {
		fmt.Fprintf(w, "source position: %s (%s)\n", termtext.Line(r.Position.String()), termtext.Line(r.PositionNote()))
	}
}
