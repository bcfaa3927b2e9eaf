package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/shard"
)

func init() {
	register("query", command{summary: "run a query on every shard and merge the results, for inspection", run: runQuery})
}

// queryFlags are the flags of the query subcommand.
type queryFlags struct {
	columns, where, order, group string
	limit, offset                int
	count, distinct, asJSON      bool
	sum, min, max, avg           string
	collation                    string
}

// aggregating reports whether the flags ask for aggregates.
func (f *queryFlags) aggregating() bool {
	return f.count || f.sum != "" || f.min != "" || f.max != "" || f.avg != "" || f.group != ""
}

// runQuery builds one SELECT from the flags, runs it on every shard of
// -layout (package shard's Gatherer: in parallel, a timeout per shard) and
// merges the shards' results as the same query on the unsharded table
// would return them:
//
//   - rows: -select columns, -where, -order (k-way merge; each shard is
//     asked for -offset + -limit rows), -limit, -offset;
//   - -distinct: SELECT DISTINCT of -select, merged;
//   - aggregates: -count, -sum, -min, -max, -avg (as SUM and COUNT, never
//     an average of averages), each over the columns listed, grouped by
//     -group.
//
// Text columns compare as -collation says: "bin" (PAD SPACE binary
// collations such as utf8mb4_bin) or "binary" (byte by byte: binary
// strings, NO PAD binary collations). Other collations order differently;
// select WEIGHT_STRING(col) to order by them (see shard.Collation).
// Output: a header line and tab-separated rows, or JSON with -json.
func runQuery(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("query", "-layout FILE -dsn [instance=]DSN ... [-select COLS] [-where SQL] [-order COL [desc],...] [-limit N] [-offset N] [-distinct] [-count] [-sum COLS] [-min COLS] [-max COLS] [-avg COLS] [-group COLS] [-json]", stderr)
	var f queryFlags
	layoutFile := fs.String("layout", "", "layout `file` of the shards (JSON, or YAML when named .yaml/.yml)")
	dsns := dsnList{}
	fs.Var(dsns, "dsn", "`[instance=]DSN` of a shard server (repeat per instance of the layout; password from "+passwordEnv+")")
	fs.StringVar(&f.columns, "select", "*", "comma-separated columns to select (rows and -distinct)")
	fs.StringVar(&f.where, "where", "", "SQL condition every shard applies (WHERE ...)")
	fs.StringVar(&f.order, "order", "", "comma-separated ORDER BY columns, each optionally followed by ' desc'")
	fs.IntVar(&f.limit, "limit", 100, "rows to print of the merged order (-1: all)")
	fs.IntVar(&f.offset, "offset", 0, "rows of the merged order to skip")
	fs.BoolVar(&f.distinct, "distinct", false, "SELECT DISTINCT the -select columns")
	fs.BoolVar(&f.count, "count", false, "COUNT(*)")
	fs.StringVar(&f.sum, "sum", "", "comma-separated columns to SUM")
	fs.StringVar(&f.min, "min", "", "comma-separated columns to MIN")
	fs.StringVar(&f.max, "max", "", "comma-separated columns to MAX")
	fs.StringVar(&f.avg, "avg", "", "comma-separated columns to AVG")
	fs.StringVar(&f.group, "group", "", "comma-separated GROUP BY columns of the aggregates")
	fs.StringVar(&f.collation, "collation", "bin", "how text columns compare: bin (PAD SPACE, utf8mb4_bin) or binary (byte by byte)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", time.Minute, "time each shard's query may take")
	concurrency := fs.Int("concurrency", shard.DefaultConcurrency, "shard queries at once")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *layoutFile == "" || len(dsns) == 0 {
		fs.Usage()
		return exitUsage
	}
	layout, err := shard.LoadLayout(*layoutFile)
	if err != nil {
		return fail(stderr, "query", exitUsage, err)
	}
	router, err := layout.Router()
	if err != nil {
		return fail(stderr, "query", exitUsage, err)
	}
	q, err := f.build()
	if err != nil {
		return fail(stderr, "query", exitUsage, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dbs, err := openShards(ctx, "query", dsns, stderr)
	if err != nil {
		return fail(stderr, "query", exitPartial, err)
	}
	defer closeAll(dbs)
	hosts := shard.Hosts{}
	for inst, db := range dbs {
		db.SetMaxIdleConns(*concurrency)
		hosts[inst] = db
	}
	g, err := shard.NewGatherer(hosts, shard.WithGatherConcurrency(*concurrency), shard.WithShardTimeout(*timeout))
	if err != nil {
		return fail(stderr, "query", exitUsage, err)
	}
	res, err := q.run(ctx, g, router.Locations())
	if err != nil {
		return fail(stderr, "query", exitPartial, err)
	}
	printResult(stdout, res, f.asJSON)
	return exitOK
}

// shardQuery is the SQL each shard runs and how the results merge.
type shardQuery struct {
	f     *queryFlags
	coll  shard.Collation // of text columns
	sql   string
	order []shard.Order
	aggs  []shard.Aggregate
	group []shard.Order
}

// build checks the flags and builds the shard query.
func (f *queryFlags) build() (*shardQuery, error) {
	coll := shard.PadSpaceBin
	switch f.collation {
	case "bin":
	case "binary":
		coll = shard.Bytewise
	default:
		return nil, fmt.Errorf("-collation %q: want bin or binary", f.collation)
	}
	if f.limit < -1 || f.offset < 0 {
		return nil, fmt.Errorf("-limit %d, -offset %d: want -limit -1 or more and -offset 0 or more", f.limit, f.offset)
	}
	q := &shardQuery{f: f, coll: coll}
	where := ""
	if f.where != "" {
		where = " WHERE " + f.where
	}
	if f.aggregating() {
		if f.order != "" || f.distinct || f.offset > 0 || f.columns != "*" {
			return nil, fmt.Errorf("aggregates (-count, -sum, -min, -max, -avg, -group) take no -select, -order, -offset or -distinct")
		}
		return q, q.aggregates(where, coll)
	}
	cols, err := quoteList(f.columns, true)
	if err != nil {
		return nil, fmt.Errorf("-select: %w", err)
	}
	head := "SELECT "
	if f.distinct {
		if f.order != "" {
			return nil, fmt.Errorf("-distinct orders by every selected column: give no -order")
		}
		head += "DISTINCT "
	}
	q.sql = head + strings.Join(cols, ", ") + " FROM " + shard.TablePlaceholder + where
	for _, item := range cliflag.List(f.order) {
		name, dir, _ := strings.Cut(item, " ")
		dir = strings.TrimSpace(dir)
		if !strings.EqualFold(dir, "desc") && !strings.EqualFold(dir, "asc") && dir != "" {
			return nil, fmt.Errorf("-order %q: want a column, optionally followed by asc or desc", item)
		}
		if err := schema.ValidateName("column", name); err != nil {
			return nil, fmt.Errorf("-order: %w", err)
		}
		q.order = append(q.order, shard.Order{Column: name, Desc: strings.EqualFold(dir, "desc"), Collation: coll})
	}
	if len(q.order) > 0 {
		by := make([]string, len(q.order))
		for i, o := range q.order {
			by[i] = schema.QuoteIdent(o.Column)
			if o.Desc {
				by[i] += " DESC"
			}
		}
		q.sql += " ORDER BY " + strings.Join(by, ", ")
	}
	if f.limit >= 0 && !f.distinct {
		q.sql += " LIMIT " + shard.LimitPlaceholder
	}
	return q, nil
}

// aggregates builds the partial aggregates each shard selects.
func (q *shardQuery) aggregates(where string, coll shard.Collation) error {
	f := q.f
	var sel []string
	groups, err := quoteList(f.group, false)
	if err != nil {
		return fmt.Errorf("-group: %w", err)
	}
	for _, name := range cliflag.List(f.group) {
		q.group = append(q.group, shard.Order{Column: name, Collation: coll})
	}
	sel = append(sel, groups...)
	if f.count {
		sel = append(sel, "COUNT(*) AS `count`")
		q.aggs = append(q.aggs, shard.Aggregate{Func: shard.AggCount, Column: "count"})
	}
	for _, a := range []struct {
		fn    shard.AggFunc
		flag  string
		names string
	}{{shard.AggSum, "sum", f.sum}, {shard.AggMin, "min", f.min}, {shard.AggMax, "max", f.max}, {shard.AggAvg, "avg", f.avg}} {
		for _, name := range cliflag.List(a.names) {
			if err := schema.ValidateName("column", name); err != nil {
				return fmt.Errorf("-%s: %w", a.flag, err)
			}
			as := a.flag + "(" + name + ")"
			if a.fn == shard.AggAvg {
				sel = append(sel, "SUM("+schema.QuoteIdent(name)+") AS "+schema.QuoteIdent(as), "COUNT("+schema.QuoteIdent(name)+") AS "+schema.QuoteIdent(as+" count"))
				q.aggs = append(q.aggs, shard.Aggregate{Func: a.fn, Column: as, CountColumn: as + " count"})
				continue
			}
			sel = append(sel, strings.ToUpper(a.flag)+"("+schema.QuoteIdent(name)+") AS "+schema.QuoteIdent(as))
			q.aggs = append(q.aggs, shard.Aggregate{Func: a.fn, Column: as, Collation: coll})
		}
	}
	if len(q.aggs) == 0 {
		return fmt.Errorf("-group needs an aggregate: -count, -sum, -min, -max or -avg")
	}
	q.sql = "SELECT " + strings.Join(sel, ", ") + " FROM " + shard.TablePlaceholder + where
	if len(groups) > 0 {
		q.sql += " GROUP BY " + strings.Join(groups, ", ")
	}
	return nil
}

// quoteList quotes the comma-separated column names of list; star allows
// a lone "*".
func quoteList(list string, star bool) ([]string, error) {
	names := cliflag.List(list)
	if star && len(names) == 1 && names[0] == "*" {
		return names, nil
	}
	if star && len(names) == 0 {
		return nil, fmt.Errorf("no column")
	}
	out := make([]string, len(names))
	for i, n := range names {
		if err := schema.ValidateName("column", n); err != nil {
			return nil, err
		}
		out[i] = schema.QuoteIdent(n)
	}
	return out, nil
}

// run gathers and merges.
func (q *shardQuery) run(ctx context.Context, g *shard.Gatherer, locs []shard.Location) (*shard.Result, error) {
	f := q.f
	switch {
	case len(q.aggs) > 0:
		gathered, err := g.Gather(ctx, locs, shard.Query{SQL: q.sql})
		if err != nil {
			return nil, err
		}
		return shard.MergeAggregate(gathered, q.group, q.aggs)
	case len(q.order) > 0:
		return g.Ordered(ctx, locs, shard.Query{SQL: q.sql}, q.order, f.offset, f.limit)
	}
	sqlText := q.sql
	if !f.distinct && f.limit >= 0 {
		sqlText = strings.Replace(sqlText, shard.LimitPlaceholder, fmt.Sprint(f.offset+f.limit), 1)
	}
	gathered, err := g.Gather(ctx, locs, shard.Query{SQL: sqlText})
	if err != nil {
		return nil, err
	}
	var res *shard.Result
	if f.distinct {
		cols := make([]shard.Order, len(gathered.Columns))
		for i, c := range gathered.Columns {
			cols[i] = shard.Order{Column: c.Name, Collation: q.coll}
		}
		if res, err = shard.MergeDistinct(gathered, cols); err != nil {
			return nil, err
		}
	} else {
		// No order: the shards' rows one shard after another, as an
		// unordered SELECT may return them.
		res = &shard.Result{Columns: gathered.Columns}
		for _, s := range gathered.Shards {
			res.Rows = append(res.Rows, s.Rows...)
		}
	}
	res.Rows = res.Rows[min(f.offset, len(res.Rows)):]
	if f.limit >= 0 {
		res.Rows = res.Rows[:min(f.limit, len(res.Rows))]
	}
	return res, nil
}

func printResult(w io.Writer, res *shard.Result, asJSON bool) {
	names := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		names[i] = c.Name
	}
	if asJSON {
		// Decimals are exact strings; the other kinds encode as they are.
		rows := make([][]any, len(res.Rows))
		for i, row := range res.Rows {
			rows[i] = make([]any, len(row))
			for j, v := range row {
				if d, ok := v.(shard.Decimal); ok {
					v = d.String()
				}
				rows[i][j] = v
			}
		}
		printJSON(w, struct {
			Columns []string `json:"columns"`
			Rows    [][]any  `json:"rows"`
		}{names, rows})
		return
	}
	header := make([]string, len(names))
	for i, n := range names {
		header[i] = termtext.Line(n)
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, row := range res.Rows {
		fields := make([]string, len(row))
		for i, v := range row {
			fields[i] = formatValue(v)
		}
		fmt.Fprintln(w, strings.Join(fields, "\t"))
	}
}

// formatValue formats one value for the text output: NULL, or the value
// escaped for the terminal (tabs and newlines too).
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.Format("2006-01-02 15:04:05.999999")
	case string:
		return termtext.Line(x)
	}
	return termtext.Line(fmt.Sprint(v))
}
