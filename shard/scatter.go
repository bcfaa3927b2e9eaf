package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// TablePlaceholder is replaced, in a Query's SQL, by the location's
// `database`.`table`, quoted as identifiers.
const TablePlaceholder = "{table}"

// Querier is what a Gatherer needs of a server; *sql.DB satisfies it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Hosts maps a Location's Instance to the server that holds it; a layout
// with one server uses the key "".
type Hosts map[string]Querier

// Query is the SQL run on every shard. SQL names the shard's table as
// {table}; values go in Args, never into SQL. Every {table} in SQL is
// replaced, including one inside a string literal.
type Query struct {
	SQL  string
	Args []any
}

// Defaults of a Gatherer.
const (
	DefaultConcurrency  = 8
	DefaultShardTimeout = time.Minute
	DefaultMaxShardRows = 100_000
)

// ErrShardTimeout is wrapped by the ShardError of a shard whose query did
// not finish within the per-shard timeout.
var ErrShardTimeout = errors.New("per-shard timeout")

// ErrTooManyRows is wrapped by the ShardError of a shard that returned
// more rows than the Gatherer holds per shard.
var ErrTooManyRows = errors.New("more rows than allowed per shard")

// ShardError is an error from one shard's query.
type ShardError struct {
	Location Location
	Err      error
}

func (e *ShardError) Error() string {
	return fmt.Sprintf("shard %d (%s): %v", e.Location.Shard, e.Location, e.Err)
}

func (e *ShardError) Unwrap() error { return e.Err }

// Gatherer runs one query on many shards in parallel and returns each
// shard's rows (Gather, Ordered, Lookup); the Merge functions combine them
// into what the same query on the unsharded table returns. It is safe for
// concurrent use. Give each host's *sql.DB at least the Gatherer's
// concurrency in idle connections (SetMaxIdleConns), or every gather
// opens connections anew.
//
// There are no distributed transactions. Each shard's query runs as its
// own autocommit statement, so the shards are read at slightly different
// moments, and nothing in this package writes to several shards
// atomically. Cross-shard writes use the seed's message-table pattern
// through the dual-write outbox (a later issue): write the row and a
// message in one transaction on one shard, and let the outbox relay
// apply the message to the other shard.
type Gatherer struct {
	hosts       Hosts
	concurrency int
	timeout     time.Duration
	maxRows     int
	batch       int
}

// GatherOption configures a Gatherer.
type GatherOption func(*Gatherer) error

// WithGatherConcurrency bounds how many shard queries run at once (default
// DefaultConcurrency); n must be at least 1.
func WithGatherConcurrency(n int) GatherOption {
	return func(g *Gatherer) error {
		if n < 1 {
			return fmt.Errorf("shard: concurrency %d: must be at least 1", n)
		}
		g.concurrency = n
		return nil
	}
}

// WithShardTimeout bounds each shard's query, from asking for a connection
// to reading its last row (default DefaultShardTimeout); d must be
// positive.
func WithShardTimeout(d time.Duration) GatherOption {
	return func(g *Gatherer) error {
		if d <= 0 {
			return fmt.Errorf("shard: shard timeout %s: must be positive", d)
		}
		g.timeout = d
		return nil
	}
}

// WithMaxShardRows bounds the rows held from one shard (default
// DefaultMaxShardRows), which bounds memory; a shard that returns more
// fails with ErrTooManyRows. n must be at least 1.
func WithMaxShardRows(n int) GatherOption {
	return func(g *Gatherer) error {
		if n < 1 {
			return fmt.Errorf("shard: max shard rows %d: must be at least 1", n)
		}
		g.maxRows = n
		return nil
	}
}

// NewGatherer returns a Gatherer over hosts, which must hold at least one
// non-nil server.
func NewGatherer(hosts Hosts, opts ...GatherOption) (*Gatherer, error) {
	if len(hosts) == 0 {
		return nil, errors.New("shard: gatherer: no hosts")
	}
	for name, h := range hosts {
		if h == nil {
			return nil, fmt.Errorf("shard: gatherer: host %q is nil", name)
		}
	}
	g := &Gatherer{hosts: hosts, concurrency: DefaultConcurrency, timeout: DefaultShardTimeout, maxRows: DefaultMaxShardRows, batch: DefaultLookupBatch}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("shard: gatherer: nil option")
		}
		if err := o(g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Row is one row of a result. Values are normalised by column kind (see
// ColumnKind): nil for NULL, int64, uint64, Decimal, float64, string, or
// time.Time.
type Row []any

// ShardRows are the rows one shard returned, in the order it returned
// them.
type ShardRows struct {
	Location Location
	Rows     []Row
}

// Gathered is the result of a query on several shards.
type Gathered struct {
	// Columns are the result's columns, the same on every shard.
	Columns []Column
	// Shards holds each shard's rows, in the order the locations were
	// given.
	Shards []ShardRows
}

// Gather runs q on every location in locs, at most the Gatherer's
// concurrency at a time, each within the per-shard timeout, and returns
// every shard's rows. The first shard that fails cancels the others;
// its error is a *ShardError naming the shard. All shards must return
// the same columns. A location whose Instance is not in the hosts is an
// error before anything runs.
func (g *Gatherer) Gather(ctx context.Context, locs []Location, q Query) (*Gathered, error) {
	if len(locs) == 0 {
		return nil, errors.New("shard: gather: no locations")
	}
	if !strings.Contains(q.SQL, TablePlaceholder) {
		return nil, fmt.Errorf("shard: gather: query does not name the shard's table as %s", TablePlaceholder)
	}
	tasks := make([]task, len(locs))
	for i, loc := range locs {
		t, err := g.task(loc, q)
		if err != nil {
			return nil, err
		}
		tasks[i] = t
	}
	return g.run(ctx, tasks)
}

// task is one query on one shard.
type task struct {
	loc   Location
	host  Querier
	query string
	args  []any
}

func (g *Gatherer) task(loc Location, q Query) (task, error) {
	h, ok := g.hosts[loc.Instance]
	if !ok {
		return task{}, &ShardError{Location: loc, Err: fmt.Errorf("no host for instance %q", loc.Instance)}
	}
	sql := strings.ReplaceAll(q.SQL, TablePlaceholder, schema.QualifiedName(loc.Database, loc.Table))
	return task{loc: loc, host: h, query: sql, args: q.Args}, nil
}

// run runs tasks and returns their rows in task order.
func (g *Gatherer) run(ctx context.Context, tasks []task) (*Gathered, error) {
	out := make([]ShardRows, len(tasks))
	cols := make([][]Column, len(tasks))
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(g.concurrency)
	for i, t := range tasks {
		eg.Go(func() error {
			c, rows, err := g.query(ctx, t)
			if err != nil {
				return &ShardError{Location: t.loc, Err: err}
			}
			cols[i], out[i] = c, ShardRows{Location: t.loc, Rows: rows}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for i := 1; i < len(cols); i++ {
		if err := sameColumns(cols[0], cols[i]); err != nil {
			return nil, &ShardError{Location: tasks[i].loc, Err: fmt.Errorf("columns differ from shard %d's: %w", tasks[0].loc.Shard, err)}
		}
	}
	return &Gathered{Columns: cols[0], Shards: out}, nil
}

// query runs one task within the per-shard timeout.
func (g *Gatherer) query(parent context.Context, t task) ([]Column, []Row, error) {
	ctx, cancel := context.WithTimeout(parent, g.timeout)
	defer cancel()
	cols, rows, err := g.read(ctx, t)
	if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%s): %w", ErrShardTimeout, g.timeout, err)
	}
	return cols, rows, err
}

func (g *Gatherer) read(ctx context.Context, t task) ([]Column, []Row, error) {
	rs, err := t.host.QueryContext(ctx, t.query, t.args...)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	types, err := rs.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	cols := columnsOf(types)
	var rows []Row
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rs.Next() {
		if len(rows) == g.maxRows {
			return nil, nil, fmt.Errorf("%w (%d)", ErrTooManyRows, g.maxRows)
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make(Row, len(cols))
		for i, v := range raw {
			if row[i], err = normalize(cols[i], v); err != nil {
				return nil, nil, err
			}
		}
		rows = append(rows, row)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, err
	}
	return cols, rows, nil
}

// ShardsOf returns the locations of the shards that may hold keys from lo
// to hi, both included: RangeLister.ShardsFor when r is one, every
// location otherwise (a hashed layout spreads any range over all
// shards). A zero Key (KindNone) leaves that end of the range open. An
// empty list means no shard can hold the range: the answer is empty (a
// COUNT of 0) without asking any, and Gather refuses an empty list.
func ShardsOf(r Router, lo, hi Key) ([]Location, error) {
	if rl, ok := r.(RangeLister); ok {
		return rl.ShardsFor(lo, hi)
	}
	return r.Locations(), nil
}

// RangeLister is a Router that can tell which shards may hold the keys of
// a range, so that a time-range query touches only those: a range layout
// implements it.
//
// Contract: ShardsFor returns, in shard order, every location that may
// hold a key k with lo <= k <= hi (a zero Key leaves that end open), and
// no other; an empty range gives an empty list. Like Route, it returns
// an error naming the key's kind when the layout cannot compare it.
type RangeLister interface {
	Router
	ShardsFor(lo, hi Key) ([]Location, error)
}
