package verify

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/shardroute"
	"github.com/shiftgate/shiftgate/internal/snapshot"
	"github.com/shiftgate/shiftgate/shard"
)

// ShardedVerifier compares a source with the union of the shards of a
// layout under a shard.Router: every source row must be in exactly one
// shard, the one its sharding key routes to, with the same values. The
// source is one table (NewSharded) or the union of the tables of another
// layout (NewResharded: layout to layout, after a reshard). It is safe for
// concurrent use; each Verify call has its own connections.
type ShardedVerifier struct {
	// sources are the source's tables: one, or a source layout's
	// locations; srcHosts maps their instances to pools and srcInstances
	// lists those in the order of their first location.
	sources      []shard.Location
	srcHosts     map[string]*sql.DB
	srcInstances []string
	fromLayout   bool // NewResharded
	keyColumn    string
	router       shard.Router
	locs         []shard.Location
	hosts        map[string]*sql.DB
	instances    []string // the layout's instances, in the order of their first location
	cfg          shardedConfig
	hashes       hashProbe
}

// sourceInstance is the instance name of NewSharded's source table.
const sourceInstance = "source"

// ShardedOption configures a ShardedVerifier: every Option except
// WithRecheck, WithWholeTables and WithExactChunks (refused by
// NewSharded), and the options only a sharded verify understands
// (WithKeyExpression).
type ShardedOption interface {
	applySharded(c *shardedConfig) error
}

type shardedConfig struct {
	config
	keyExpr string
}

func (o Option) applySharded(c *shardedConfig) error { return o(&c.config) }

type shardedOption func(*shardedConfig) error

func (o shardedOption) applySharded(c *shardedConfig) error { return o(c) }

// WithKeyExpression routes each source row on the value of expr, an SQL
// expression over the source table's columns that the source evaluates
// (for example "LOWER(name)", as migrate.WithKeyExpression), instead of
// the key column's. An expression of an integer type routes as an
// integer key, any other as a string key (its text). It is trusted SQL.
func WithKeyExpression(expr string) ShardedOption {
	return shardedOption(func(c *shardedConfig) error {
		if strings.TrimSpace(expr) == "" {
			return errors.New("WithKeyExpression: empty expression")
		}
		c.keyExpr = expr
		return nil
	})
}

// NewSharded returns a ShardedVerifier of database.table on source against
// the locations of router, routed on keyColumn's value (or on
// WithKeyExpression's). hosts maps every Location.Instance of the layout
// to a pool on its server; pools may be shared by instances and with
// source. It connects to nothing. A nil pool, router or option, a layout
// without locations or with a shard number or location listed twice, an
// instance without a pool and the options that do not apply to a sharded
// verify (WithRecheck, WithWholeTables, WithExactChunks: chunks are always
// cut at keys read from the source) are errors.
func NewSharded(source *sql.DB, database, table, keyColumn string, router shard.Router, hosts map[string]*sql.DB, opts ...ShardedOption) (*ShardedVerifier, error) {
	v := &ShardedVerifier{sources: []shard.Location{{Shard: 1, Instance: sourceInstance, Database: database, Table: table}},
		srcHosts: map[string]*sql.DB{sourceInstance: source}, srcInstances: []string{sourceInstance}, keyColumn: keyColumn, router: router, hosts: hosts,
		cfg: shardedConfig{config: defaultConfig()}}
	if source == nil {
		return nil, fmt.Errorf("verify: sharded %s: nil source", schema.QualifiedName(database, table))
	}
	if err := schema.ValidateName("database", database); err != nil {
		return nil, fmt.Errorf("verify: sharded: %w", err)
	}
	if err := schema.ValidateName("table", table); err != nil {
		return nil, fmt.Errorf("verify: sharded: %w", err)
	}
	if err := v.configure(opts); err != nil {
		return nil, fmt.Errorf("verify: sharded %s: %w", schema.QualifiedName(database, table), err)
	}
	return v, nil
}

// NewResharded returns a ShardedVerifier of layout to against layout from,
// after a reshard (migrate.Rebalance): the union of the tables of from's
// locations is the source, whose rows must each be in the shard of to
// that to routes them to, routed on keyColumn's value (or
// WithKeyExpression's). fromHosts and toHosts map the Location.Instance of
// every location of from and of to to a pool on its server (each map is
// read with its own layout's instance names; it may be one map, and pools
// may be shared). The tables of
// from must be defined alike (Verify refuses them otherwise); a key that
// two of them hold is an error, as the source then has no one row of it.
// The layouts may share tables (see Verify). from's router is asked for
// its locations only: whether its rows are where it routes them is a
// verify of its own. The errors of NewSharded apply to both layouts.
func NewResharded(from shard.Router, fromHosts map[string]*sql.DB, keyColumn string, to shard.Router, toHosts map[string]*sql.DB, opts ...ShardedOption) (*ShardedVerifier, error) {
	if from == nil {
		return nil, errors.New("verify: resharded: nil source router")
	}
	v := &ShardedVerifier{sources: from.Locations(), srcHosts: fromHosts, fromLayout: true, keyColumn: keyColumn, router: to, hosts: toHosts,
		cfg: shardedConfig{config: defaultConfig()}}
	if len(v.sources) == 0 {
		return nil, errors.New("verify: resharded: the source router lists no location")
	}
	instances, err := checkLocations(v.sources, v.srcHosts)
	if err != nil {
		return nil, fmt.Errorf("verify: resharded: source layout: %w", err)
	}
	v.srcInstances = instances
	if err := v.configure(opts); err != nil {
		return nil, fmt.Errorf("verify: resharded: %w", err)
	}
	return v, nil
}

func (v *ShardedVerifier) configure(opts []ShardedOption) error {
	if v.router == nil {
		return errors.New("nil router")
	}
	def := v.cfg.config
	for _, o := range opts {
		if o == nil {
			return errors.New("nil option")
		}
		if err := o.applySharded(&v.cfg); err != nil {
			return err
		}
	}
	switch {
	case v.cfg.recheck != def.recheck:
		return errors.New("WithRecheck does not apply to a sharded verify")
	case v.cfg.wholeRows != def.wholeRows:
		return errors.New("WithWholeTables does not apply to a sharded verify: chunks are compared shard by shard")
	case v.cfg.exactChunks:
		return errors.New("WithExactChunks does not apply to a sharded verify: its chunks are always cut at keys read from the source")
	}
	if v.keyColumn == "" && v.cfg.keyExpr == "" {
		return errors.New("no key column")
	}
	v.locs = v.router.Locations()
	if len(v.locs) == 0 {
		return errors.New("the router lists no location")
	}
	instances, err := checkLocations(v.locs, v.hosts)
	v.instances = instances
	return err
}

// checkLocations checks a layout's locations and that hosts has a pool
// for each of their instances, which it returns in the order of their
// first location.
func checkLocations(locs []shard.Location, hosts map[string]*sql.DB) ([]string, error) {
	var instances []string
	numbers := map[int]bool{}
	seen := map[shard.Location]bool{}
	for _, l := range locs {
		if err := schema.ValidateName("database", l.Database); err != nil {
			return nil, fmt.Errorf("shard %d: %w", l.Shard, err)
		}
		if err := schema.ValidateName("table", l.Table); err != nil {
			return nil, fmt.Errorf("shard %d: %w", l.Shard, err)
		}
		if numbers[l.Shard] {
			return nil, fmt.Errorf("shard %d is listed twice", l.Shard)
		}
		numbers[l.Shard] = true
		k := shard.Location{Instance: l.Instance, Database: l.Database, Table: l.Table}
		if seen[k] {
			return nil, fmt.Errorf("shard %d: location %s is listed twice", l.Shard, l)
		}
		seen[k] = true
		host, ok := hosts[l.Instance]
		switch {
		case !ok:
			return nil, fmt.Errorf("shard %d: no host for instance %q", l.Shard, l.Instance)
		case host == nil:
			return nil, fmt.Errorf("shard %d: nil host for instance %q", l.Shard, l.Instance)
		case !slices.Contains(instances, l.Instance):
			instances = append(instances, l.Instance)
		}
	}
	return instances, nil
}

// sourceName names the source instance name in errors: "source" for
// NewSharded's table, else the source layout's instance.
func (v *ShardedVerifier) sourceName(name string) string {
	if !v.fromLayout {
		return "source"
	}
	return fmt.Sprintf("source instance %q", name)
}

// routeExpr is the SQL expression rows are routed on.
func (v *ShardedVerifier) routeExpr() string {
	if v.cfg.keyExpr != "" {
		return "(" + v.cfg.keyExpr + ")"
	}
	return schema.QuoteIdent(v.keyColumn)
}

// shardInstance is one server of the layout and the shards it holds.
type shardInstance struct {
	name string
	db   *sql.DB
	locs []int // indexes into the locations
}

// shardRun is the state of one Verify.
type shardRun struct {
	v        *ShardedVerifier
	tables   []*table // by location: the (first) source table against that shard
	insts    []*shardInstance
	srcInsts []*shardInstance // locs index v.sources
	srcNames []string         // by source location, quoted
	// shared marks, by location, the shards that are also a source table
	// (layouts that share tables, as an in-place migrate.Rebalance leaves
	// them).
	shared  []bool
	routing *shardroute.Routing

	mu        sync.Mutex
	sizer     *keyset.Sizer
	rep       *ShardedReport
	kept      map[int][]keptDiff // by chunk index, each in key order
	keptCount int
}

// shardConns are the connections of one worker: one per source instance
// and one per instance.
type shardConns struct {
	src  []*sql.Conn
	inst []*sql.Conn
}

// Verify compares the source table with its shards and reports every
// difference by key (see ShardedReport), or an error if reading fails.
// Differences are not an error: see ShardedReport.Clean.
//
// Before any row is read it refuses, with an error wrapping ErrSameTable,
// a shard that is NewSharded's source table itself (one server however
// the pools reach it) and, with an error, two locations that are one
// table. A shard that is also a table of NewResharded's source layout (an
// in-place reshard: migrate.Rebalance keeps the old tables and leaves the
// rows that moved in them until the host deletes them) is compared as a
// shard, except that its rows that route elsewhere are the source's rows
// themselves, moved: they are not differences as long as the shard they
// route to holds them (verify before deleting them, as the source layout
// then loses them). A
// shard that cannot be compared with the source as the tables are
// defined (missing, no key, other columns: the sentinel errors) is listed
// in ShardedReport.Unverified, and then no row is compared at all: a
// misplaced row involves two shards.
//
// The source is cut into chunks of its row key (keyset.NextUpperIn, sized
// by time with keyset.Sizer; for a source layout, bounded so that no
// source table has more than its share of a chunk's rows). For each chunk
// the source streams each row's sharding key and row hash (the hash
// Verify uses, with CRC32C() or CRC32() as every server has them; one
// query per source server, a UNION ALL over its tables), which Go routes
// and sums per shard, while every shard server sums its shards' rows in
// the same key range with one query (COUNT and
// BIT_XOR of the same hash, a UNION ALL over its shards). A shard whose
// sums differ from what the source routes to it has its range split and
// summed again, down to the leaf size (2,000 source rows), whose rows are
// read from the source and from the differing shards in key order and
// merged, one row per stream in memory at a time. A clean layout thus
// costs one read of the source's key and hash and one index range scan of
// every shard.
//
// A source layout's tables must be defined like its first (else an error
// wrapping ErrMismatch, or the sentinel of why they cannot be compared),
// and a key in two of them is an error.
//
// Connections: parallelism + 1 on each source server (one reads chunk
// boundaries) and parallelism on each instance, closed when Verify
// returns. WithSnapshot opens their snapshots at one point.
func (v *ShardedVerifier) Verify(ctx context.Context) (*ShardedReport, error) {
	begin := time.Now()
	rep := &ShardedReport{SourceDatabase: v.sources[0].Database, SourceTable: v.sources[0].Table, ShardKey: v.routeExpr(),
		Snapshot: v.cfg.snapshot.String(), Started: begin.UTC(), batchRows: v.cfg.batchRows}
	run, err := v.prepare(ctx, rep)
	if err != nil {
		return nil, err
	}
	if run == nil {
		rep.Duration = time.Since(begin)
		return rep, nil
	}
	workers, closeAll, err := v.open(ctx, run)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	boundaries := workers[len(workers)-1].src
	workers = workers[:len(workers)-1]

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan shardChunk, len(workers))
	g.Go(func() error {
		defer close(jobs)
		return run.produce(gctx, boundaries, jobs)
	})
	for _, w := range workers {
		g.Go(func() error {
			for c := range jobs {
				if err := run.compareChunk(gctx, w, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	run.finish(begin)
	return rep, nil
}

// prepare identifies the servers, refuses shards that are the source
// table or one table twice, and readies the comparison of the source with
// every shard; it returns nil when some shard cannot be compared (listed
// in rep.Unverified).
func (v *ShardedVerifier) prepare(ctx context.Context, rep *ShardedReport) (*shardRun, error) {
	run := &shardRun{v: v, rep: rep, tables: make([]*table, len(v.locs)), shared: make([]bool, len(v.locs)), kept: map[int][]keptDiff{},
		sizer: keyset.NewSizer(v.cfg.chunkTime, v.cfg.chunkRows[0], v.cfg.chunkRows[1], v.cfg.chunkRows[2])}
	srcIDs, err := run.prepareSources(ctx)
	if err != nil {
		return nil, err
	}
	first := v.sources[0]
	srcID := srcIDs[first.Instance]
	rep.Source = fmt.Sprintf("%s:%d", srcID.Hostname, srcID.Port)
	type physical struct {
		id        conn.Identity
		db, table string
	}
	tables := map[physical]int{}
	servers := map[string]string{}
	for _, name := range v.instances {
		in := &shardInstance{name: name, db: v.hosts[name]}
		id, err := conn.Identify(ctx, in.db)
		if err != nil {
			return nil, fmt.Errorf("verify: instance %q: %w", name, err)
		}
		servers[name] = fmt.Sprintf("%s:%d", id.Hostname, id.Port)
		var pairs []TablePair
		for i, l := range v.locs {
			if l.Instance != name {
				continue
			}
			in.locs = append(in.locs, i)
			for _, sl := range v.sources {
				p := TablePair{SourceDatabase: sl.Database, SourceTable: sl.Table, TargetDatabase: l.Database, TargetTable: l.Table}
				if err := sameTable(srcIDs[sl.Instance], id, p); err != nil {
					if !v.fromLayout {
						return nil, fmt.Errorf("verify: shard %d: %w", l.Shard, err)
					}
					run.shared[i] = true
				}
			}
			p := TablePair{SourceDatabase: first.Database, SourceTable: first.Table, TargetDatabase: l.Database, TargetTable: l.Table}
			k := physical{id, strings.ToLower(l.Database), strings.ToLower(l.Table)}
			if j, ok := tables[k]; ok {
				return nil, fmt.Errorf("verify: shards %d and %d are one table, %s on %s", v.locs[j].Shard, l.Shard,
					schema.QualifiedName(l.Database, l.Table), id)
			}
			tables[k] = i
			pairs = append(pairs, p)
		}
		prepared, skipped, err := prepareAll(ctx, v.srcHosts[first.Instance], in.db, pairs, v.cfg.tolerance)
		if err != nil {
			return nil, fmt.Errorf("verify: instance %q: %w", name, err)
		}
		rep.Unverified = append(rep.Unverified, skipped...)
		for _, t := range prepared {
			for _, i := range in.locs {
				if l := v.locs[i]; l.Database == t.pair.TargetDatabase && l.Table == t.pair.TargetTable {
					run.tables[i] = t
				}
			}
		}
		run.insts = append(run.insts, in)
	}
	for _, u := range rep.Unverified {
		v.cfg.logger.Info("verify: shard not compared", "shard", u.TargetDatabase+"."+u.TargetTable, "side", u.Side, "reason", u.Reason)
	}
	if len(rep.Unverified) > 0 {
		return nil, nil
	}
	if err := run.readTriggers(ctx); err != nil {
		return nil, err
	}
	if err := run.chooseHash(ctx, srcIDs, servers); err != nil {
		return nil, err
	}
	kind, err := shardroute.KindOf(ctx, v.srcHosts[first.Instance], run.srcNames[0], v.routeExpr())
	if err != nil {
		return nil, &TableError{Side: Source, Database: first.Database, Table: first.Table, Err: err}
	}
	run.routing = shardroute.New(v.router, v.locs, kind)
	t0 := run.tables[0]
	rep.Key = append([]string(nil), t0.key.Columns...)
	for _, c := range t0.cols {
		rep.Columns = append(rep.Columns, c.name)
	}
	for i, l := range v.locs {
		t := run.tables[i]
		tr := &TableReport{SourceDatabase: first.Database, SourceTable: first.Table, TargetDatabase: l.Database, TargetTable: l.Table,
			Key: rep.Key, Columns: rep.Columns, ColumnDiffs: t.colDiffs, TargetTriggers: t.triggers}
		rep.Shards = append(rep.Shards, &ShardReport{Location: l, Server: servers[l.Instance], TableReport: tr})
	}
	return run, nil
}

// prepareSources identifies the source's servers, lists the source tables
// on the report (a source layout) and, for a source layout, checks that
// every source table is defined like the first. It returns the identity
// of every source instance.
func (r *shardRun) prepareSources(ctx context.Context) (map[string]conn.Identity, error) {
	v := r.v
	ids := map[string]conn.Identity{}
	first := v.sources[0]
	for _, name := range v.srcInstances {
		in := &shardInstance{name: name, db: v.srcHosts[name]}
		id, err := conn.Identify(ctx, in.db)
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", v.sourceName(name), err)
		}
		ids[name] = id
		var pairs []TablePair
		for i, l := range v.sources {
			if l.Instance != name {
				continue
			}
			in.locs = append(in.locs, i)
			if v.fromLayout {
				r.rep.SourceShards = append(r.rep.SourceShards, SourceShard{Location: l, Server: fmt.Sprintf("%s:%d", id.Hostname, id.Port)})
			}
			if i > 0 {
				pairs = append(pairs, TablePair{SourceDatabase: first.Database, SourceTable: first.Table, TargetDatabase: l.Database, TargetTable: l.Table})
			}
		}
		r.srcInsts = append(r.srcInsts, in)
		if len(pairs) == 0 {
			continue
		}
		// Each source table is read with the first's expressions: they
		// must be defined alike.
		prepared, skipped, err := prepareAll(ctx, v.srcHosts[first.Instance], in.db, pairs, v.cfg.tolerance)
		if err != nil {
			return nil, fmt.Errorf("verify: source instance %q: %w", name, err)
		}
		for _, u := range skipped {
			return nil, fmt.Errorf("verify: source table %s: not comparable with source shard %d: %w", schema.QualifiedName(u.TargetDatabase, u.TargetTable), first.Shard, u.Err)
		}
		for _, t := range prepared {
			for _, c := range t.colDiffs {
				return nil, fmt.Errorf("verify: source table %s: column %s is %s there, %s in source shard %d: %w", t.dstName, c.Column, c.Target, c.Source, first.Shard, ErrMismatch)
			}
		}
	}
	slices.SortFunc(r.rep.SourceShards, func(a, b SourceShard) int { return cmp.Compare(a.Location.Shard, b.Location.Shard) })
	for _, l := range v.sources {
		r.srcNames = append(r.srcNames, schema.QualifiedName(l.Database, l.Table))
	}
	return ids, nil
}

// chooseHash sets the row hash function of every table of the run to the
// one that every source server and instance computes (see hashProbe).
// srcIDs are the source instances' identities, addrs the instances'
// addresses.
func (r *shardRun) chooseHash(ctx context.Context, srcIDs map[string]conn.Identity, addrs map[string]string) error {
	v := r.v
	var servers []server
	for _, name := range v.srcInstances {
		servers = append(servers, server{v.srcHosts[name], v.sourceName(name) + ", " + srcIDs[name].String()})
	}
	for _, in := range r.insts {
		servers = append(servers, server{in.db, fmt.Sprintf("instance %q, %s", in.name, addrs[in.name])})
	}
	h, err := v.hashes.choose(ctx, &v.cfg.config, servers...)
	if err != nil {
		return err
	}
	for _, t := range r.tables {
		t.hash = h
	}
	return nil
}

// readTriggers reads the triggers of every shard table.
func (r *shardRun) readTriggers(ctx context.Context) error {
	for _, in := range r.insts {
		byDB := map[string]map[string][]Trigger{}
		for _, i := range in.locs {
			t := r.tables[i]
			db := t.pair.TargetDatabase
			if _, ok := byDB[db]; !ok {
				trs, err := readTriggers(ctx, in.db, db)
				if err != nil {
					return fmt.Errorf("verify: instance %q: %w", in.name, err)
				}
				byDB[db] = trs
			}
			t.triggers = byDB[db][strings.ToLower(t.pair.TargetTable)]
		}
	}
	return nil
}

// open takes the connections of parallelism workers and of the boundary
// reader (the last "worker", whose instance connections are nil) with the
// reader session and, in snapshot mode, opens their snapshots at one
// point. closeAll discards them all.
func (v *ShardedVerifier) open(ctx context.Context, run *shardRun) (workers []shardConns, closeAll func(), err error) {
	n := v.cfg.parallel
	session := conn.ReaderSession()
	var groups []snapshot.Group
	for _, in := range run.srcInsts {
		groups = append(groups, snapshot.Group{DB: in.db, N: n + 1, Session: &session})
	}
	for _, in := range run.insts {
		groups = append(groups, snapshot.Group{DB: in.db, N: n, Session: &session})
	}
	snap, err := snapshot.Open(ctx, snapshot.Options{Method: snapshotMethods[v.cfg.snapshot], ReadOnly: true}, groups...)
	if err != nil {
		if ge, ok := errors.AsType[*snapshot.GroupError](err); ok {
			ns := len(run.srcInsts)
			if ge.Group < ns {
				return nil, nil, fmt.Errorf("verify: %s: %w", v.sourceName(run.srcInsts[ge.Group].name), ge.Err)
			}
			return nil, nil, fmt.Errorf("verify: instance %q: %w", run.insts[ge.Group-ns].name, ge.Err)
		}
		return nil, nil, fmt.Errorf("verify: %w", err)
	}
	workers = make([]shardConns, n+1)
	ns := len(run.srcInsts)
	for w := range workers {
		for i := range run.srcInsts {
			workers[w].src = append(workers[w].src, snap.Readers[i][w])
		}
		if w < n {
			for i := range run.insts {
				workers[w].inst = append(workers[w].inst, snap.Readers[ns+i][w])
			}
		}
	}
	return workers, snap.Close, nil
}

// shardChunk is one key range of the source.
type shardChunk struct {
	index int
	r     keyset.Range
	size  int // the rows asked for
}

// produce cuts the source into chunks at keys read on conns (one per
// source instance) and queues them.
func (r *shardRun) produce(ctx context.Context, conns []*sql.Conn, jobs chan<- shardChunk) error {
	var lower keyset.Values
	for i := 0; ; i++ {
		r.mu.Lock()
		size := r.sizer.Size()
		r.mu.Unlock()
		upper, ok, err := r.nextUpper(ctx, conns, keyset.Range{Lower: lower}, size)
		if err != nil {
			return err
		}
		c := shardChunk{index: i, r: keyset.Range{Lower: lower}, size: size}
		if ok {
			c.r.Upper = upper
		}
		select {
		case jobs <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		lower = upper
	}
}

// nextUpper returns the upper bound of the next chunk of about n source
// rows in rg: for one source table its n-th row's key; for a source layout
// the least key such that no source table has more than n/tables rows
// (rounded up) below it, found table by table, each asked only within the
// bound the tables before it left (so the server orders the keys). ok is
// false when the rest of rg is one chunk.
func (r *shardRun) nextUpper(ctx context.Context, conns []*sql.Conn, rg keyset.Range, n int) (keyset.Values, bool, error) {
	t := r.tables[0]
	per := (n + len(r.v.sources) - 1) / len(r.v.sources)
	upper := rg.Upper
	found := false
	for si, in := range r.srcInsts {
		for _, i := range in.locs {
			l := r.v.sources[i]
			u, ok, err := t.key.NextUpperIn(ctx, conns[si], l.Database, l.Table, keyset.Range{Lower: rg.Lower, Upper: upper}, per, "")
			if err != nil {
				return nil, false, &TableError{Side: Source, Database: l.Database, Table: l.Table, Err: err}
			}
			if ok {
				upper, found = u, true
			}
		}
	}
	return upper, found, nil
}

// compareChunk checksums chunk c on the source and every shard, and
// narrows down the shards whose sums differ.
func (r *shardRun) compareChunk(ctx context.Context, w shardConns, c shardChunk) error {
	start := time.Now()
	s, d, n, err := r.checksumRange(ctx, w, c.r, nil)
	if err != nil {
		return err
	}
	took := time.Since(start)
	var differ []int
	for i := range s {
		if s[i] != d[i] {
			differ = append(differ, i)
		}
	}
	r.mu.Lock()
	if n > 0 {
		r.sizer.Observe(c.size, time.Duration(float64(took)*float64(c.size)/float64(n)))
	}
	r.rep.Chunks++
	r.rep.Rows += n
	for i, sh := range r.rep.Shards {
		sh.Chunks++
		sh.Rows += s[i].rows
		sh.TargetRows += d[i].rows
		r.rep.ShardRows += d[i].rows
	}
	if len(differ) > 0 {
		r.rep.DifferingChunks++
		for _, i := range differ {
			r.rep.Shards[i].DifferingChunks++
		}
	}
	r.mu.Unlock()
	r.v.cfg.logger.Debug("verify: sharded chunk", "table", r.srcNames[0], "chunk", c.index, "rows", n, "differing_shards", len(differ), "took", took)
	if len(differ) == 0 {
		return nil
	}
	return r.narrow(ctx, w, c.index, c.r, n, differ)
}

// finish completes the report: the kept differences in chunk and key
// order, on the report and on the shards', and the duration.
func (r *shardRun) finish(begin time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	indexes := make([]int, 0, len(r.kept))
	for i := range r.kept {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes {
		for _, k := range r.kept[i] {
			r.rep.Diffs = append(r.rep.Diffs, k.diff)
			for _, rd := range k.rows {
				sh := r.rep.Shards[rd.loc]
				sh.Diffs = append(sh.Diffs, rd.diff)
			}
		}
	}
	r.rep.Duration = time.Since(begin)
	for _, sh := range r.rep.Shards {
		sh.Truncated = r.rep.Truncated
		sh.Duration = r.rep.Duration
	}
	r.v.cfg.logger.Info("verify: sharded table", "table", r.srcNames[0], "shards", len(r.rep.Shards), "rows", r.rep.Rows,
		"chunks", r.rep.Chunks, "differences", r.rep.Differences(), "took", r.rep.Duration)
}
