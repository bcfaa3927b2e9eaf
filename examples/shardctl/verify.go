package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/shard"
	"github.com/shiftgate/shiftgate/verify"
)

func init() {
	register("verify", command{summary: "verify a layout against a source table or another layout, row for row", run: runVerify})
}

// Exit statuses of verify.
const (
	exitVerifyClean       = 0
	exitVerifyDifferences = 1
	exitVerifyError       = 2
)

// runVerify compares the shards of -layout on the -dsn servers with a
// source: the table -database.-table on the -source server
// (verify.NewSharded), or the union of the shards of the -from layout on
// the -from-dsn servers (verify.NewResharded; -dsn's when -from-dsn is
// not given). The report goes to stdout, as JSON with -json. Passwords:
// leave them out of the DSNs and set SHIFTGATE_SHARD_PASSWORD (-dsn,
// -from-dsn) and SHIFTGATE_SOURCE_PASSWORD (-source). Exit status: 0 the
// shards hold exactly the source's rows, each where it routes; 1 they
// differ (or a shard could not be compared); 2 bad usage or an error.
func runVerify(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("verify", "-layout FILE -dsn [instance=]DSN ... -key COLUMN [-key-expr SQL] (-from FILE [-from-dsn [instance=]DSN ...] | -source DSN -database DB -table T) [-parallel N] [-sample N] [-json]", stderr)
	layoutFile := fs.String("layout", "", "layout `file` of the shards to verify (JSON, or YAML when named .yaml/.yml)")
	dsns := dsnList{}
	fs.Var(dsns, "dsn", "`[instance=]DSN` of a server of -layout (repeat per instance; password from "+passwordEnv+")")
	key := fs.String("key", "", "sharding key column")
	keyExpr := fs.String("key-expr", "", "route on this SQL expression over the table's columns instead of -key's value (e.g. LOWER(name))")
	fromFile := fs.String("from", "", "layout `file` the rows come from (layout to layout, after a reshard)")
	fromDSNs := dsnList{}
	fs.Var(fromDSNs, "from-dsn", "`[instance=]DSN` of a server of -from (repeat per instance; default: the -dsn servers; password from "+passwordEnv+")")
	source := fs.String("source", os.Getenv("SHIFTGATE_SOURCE_DSN"), "`DSN` of the server with the source table (default $SHIFTGATE_SOURCE_DSN; password from SHIFTGATE_SOURCE_PASSWORD)")
	database := fs.String("database", "", "database of the source table")
	table := fs.String("table", "", "source table")
	parallel := fs.Int("parallel", 2, "chunks compared at once")
	sample := fs.Int("sample", 1000, "differing keys listed at most")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	fromTable := *database != "" || *table != ""
	if *layoutFile == "" || len(dsns) == 0 || *key == "" && *keyExpr == "" || (*fromFile != "") == fromTable ||
		fromTable && (*database == "" || *table == "") || *fromFile == "" && len(fromDSNs) > 0 {
		fs.Usage()
		return exitVerifyError
	}
	layout, err := shard.LoadLayout(*layoutFile)
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	router, err := layout.Router()
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	hosts, err := openShards(ctx, "verify", dsns, stderr)
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	defer closeAll(hosts)
	opts := []verify.ShardedOption{verify.WithParallelism(*parallel), verify.WithSampleLimit(*sample)}
	if *keyExpr != "" {
		opts = append(opts, verify.WithKeyExpression(*keyExpr))
	}
	var v *verify.ShardedVerifier
	var sources map[string]*sql.DB
	if fromTable {
		v, sources, err = tableVerifier(ctx, fs.Name(), *source, flagSet(fs, "source"), *database, *table, *key, router, hosts, opts, stderr)
	} else {
		v, sources, err = layoutVerifier(ctx, *fromFile, fromDSNs, hosts, *key, router, opts, stderr)
	}
	defer closeAll(sources)
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	rep, err := v.Verify(ctx)
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, "verify", exitVerifyError, err)
	}
	if !rep.Clean() {
		return exitVerifyDifferences
	}
	return exitVerifyClean
}

// tableVerifier returns the verifier of the shards against the source
// table database.table on the source DSN, and the pool it opened (for the
// caller to close, also on error).
func tableVerifier(ctx context.Context, program, dsn string, onCommandLine bool, database, table, key string, router shard.Router,
	hosts map[string]*sql.DB, opts []verify.ShardedOption, stderr io.Writer) (*verify.ShardedVerifier, map[string]*sql.DB, error) {
	dsn, err := cliflag.SideDSN(program, "source", dsn, onCommandLine, stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	src, err := conn.Open(ctx, cfg, conn.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	opened := map[string]*sql.DB{"source": src}
	v, err := verify.NewSharded(src, database, table, key, router, hosts, opts...)
	return v, opened, err
}

// layoutVerifier returns the verifier of the shards against the layout of
// file on the servers of dsns (hosts when empty), and the pools it opened
// (for the caller to close, also on error).
func layoutVerifier(ctx context.Context, file string, dsns dsnList, hosts map[string]*sql.DB, key string, router shard.Router,
	opts []verify.ShardedOption, stderr io.Writer) (*verify.ShardedVerifier, map[string]*sql.DB, error) {
	from, err := shard.LoadLayout(file)
	if err != nil {
		return nil, nil, err
	}
	fromRouter, err := from.Router()
	if err != nil {
		return nil, nil, err
	}
	if len(dsns) == 0 {
		v, err := verify.NewResharded(fromRouter, hosts, key, router, hosts, opts...)
		return v, nil, err
	}
	fromHosts, err := openShards(ctx, "verify", dsns, stderr)
	if err != nil {
		return nil, nil, fmt.Errorf("-from-dsn: %w", err)
	}
	v, err := verify.NewResharded(fromRouter, fromHosts, key, router, hosts, opts...)
	return v, fromHosts, err
}
