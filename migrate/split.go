package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/shardroute"
	"github.com/shiftgate/shiftgate/shard"
)

// Split copies one source table into the shards of a layout: each row goes
// to the location its sharding key routes to (shard.Router), in the
// table's own definition (SHOW CREATE TABLE, renamed, without foreign
// keys), created when missing.
//
//   - Reads are the Copier's: keyset chunks of the table's primary key (or
//     unique NOT NULL key) from readers sharing one consistent snapshot
//     (WithSnapshot), segments in parallel (WithThreads), bounded by bytes
//     in flight (WithMemoryBudget).
//   - Rows are routed in Go and written with LOAD DATA LOCAL INFILE: a
//     chunk is one transaction per shard server, holding that server's
//     rows of the chunk (into all its shard tables) and its checkpoint;
//     the servers of a chunk are written in parallel.
//   - Checkpoints live on every shard server, in the checkpoint database
//     (WithCheckpointDatabase), keyed by the first shard database (in
//     name order) on that server. The invariant: for each segment of the
//     source key range, a server's checkpoint counts the chunks, rows and
//     last key written to it, and its shard tables hold exactly the
//     segment's rows up to that key that route to it. Servers can be
//     apart by the chunks in flight when a run is killed; a rerun first
//     brings every server back to the segment's fewest chunks (deleting,
//     in the transaction that rewinds its checkpoint, the rows of the key
//     range past that point) and continues from there, so it ends with
//     every source row exactly once, in its shard.
//   - When the source writes a binary log, the report carries its
//     position at the snapshot (Report.Position, see Report.PositionNote),
//     recorded with the checkpoints, where a later binlog sync continues.
//   - Shard tables that hold rows this split did not write are refused
//     (WithReplace drops them).
type Split struct {
	source                     *mysql.Config
	database, table, keyColumn string
	router                     shard.Router
	locs                       []shard.Location
	instances                  []*splitInstance
	cfg                        config
	checkpoint                 *checkpoint.Store
	running                    runGuard
	// skip marks the locations whose rows are not written (a Rebalance's
	// rows that stay where they are); nil writes every row.
	skip []bool
}

var _ Executor = (*Split)(nil)

// splitInstance is one shard server and the shards it holds.
type splitInstance struct {
	name string
	cfg  *mysql.Config
	locs []int // indexes into Split.locs
	// keyDB names the split on this server: its checkpoint run and lock.
	keyDB string
}

// NewSplit prepares the split of database.table from the server at
// sourceDSN into the locations of router, routed on keyColumn's value (or
// WithKeyExpression's). targets maps every Location.Instance of the
// layout to the DSN of its server (go-sql-driver DSNs; their database part
// is ignored). It connects to nothing: call Plan for a dry run.
func NewSplit(sourceDSN, database, table, keyColumn string, router shard.Router, targets map[string]string, opts ...SplitOption) (*Split, error) {
	src, err := parseDSN(Source, sourceDSN)
	if err != nil {
		return nil, err
	}
	cfg := defaultEngineConfig()
	s := &Split{source: src, database: database, table: table, keyColumn: keyColumn, router: router}
	if err := s.configure(targets, &cfg, opts); err != nil {
		return nil, fmt.Errorf("migrate: split %s: %w", schema.QualifiedName(database, table), err)
	}
	s.cfg = cfg
	s.checkpoint = checkpoint.New(cfg.checkpointDB)
	return s, nil
}

// configure checks NewSplit's arguments, applies opts and groups the
// locations by server.
func (s *Split) configure(targets map[string]string, cfg *config, opts []SplitOption) error {
	if err := schema.ValidateName("database", s.database); err != nil {
		return err
	}
	if err := schema.ValidateName("table", s.table); err != nil {
		return err
	}
	if err := applyOptions(opts, SplitOption.applySplit, cfg); err != nil {
		return err
	}
	if s.keyColumn == "" && cfg.keyExpr == "" {
		return fmt.Errorf("no key column")
	}
	var err error
	if s.locs, s.instances, err = groupLocations(s.router, targets, cfg.checkpointDB); err != nil {
		return err
	}
	for _, l := range s.locs {
		if c := instanceOf(s.instances, l).cfg; c.Addr == s.source.Addr && c.Net == s.source.Net && l.Database == s.database && l.Table == s.table {
			return fmt.Errorf("%w: shard %d is the source table", ErrSameDatabase, l.Shard)
		}
	}
	return nil
}

func (s *Split) scope() Scope {
	targets := make([]string, len(s.instances))
	dbs := map[string]bool{}
	for i, in := range s.instances {
		targets[i] = conn.Endpoint(in.cfg)
	}
	var names []string
	for _, l := range s.locs {
		if !dbs[l.Database] {
			dbs[l.Database] = true
			names = append(names, l.Database)
		}
	}
	return Scope{Executor: "split", Source: conn.Endpoint(s.source), Target: strings.Join(targets, ","),
		SourceDatabase: s.database, TargetDatabase: strings.Join(names, ",")}
}

// splitFacts are what the plan learned that Run needs.
type splitFacts struct {
	def      *schema.TableDef
	sourceDB schema.Database
	key      keyset.Key
	ct       *copyTable       // the source table as tableStatements reads it
	create   string           // SHOW CREATE TABLE without foreign keys; createHead names the table
	deferred []deferredClause // secondary indexes added after the rows (WithDeferredIndexes)
	keyKind  shard.KeyKind
	binlog   bool // the source writes a binary log: its position goes into the report
	resume   bool
	exists   []bool // by location
	runs     []*checkpoint.Run
}

// Plan connects to the source and every shard server and checks, without
// changing anything, that the split can run: the table exists with a key
// to chunk along and the key column (or expression), every shard server
// allows LOAD DATA LOCAL INFILE, and no shard table holds rows this split
// did not write. Its Tables list one entry per shard: the rows expected
// there (the source's estimate spread as a sample of up to 10,000 keys
// routes), whether the table exists and holds rows, and its CREATE TABLE.
func (s *Split) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := s.plan(ctx)
	return plan, err
}

// sampleRows is how many source keys Plan routes to estimate the rows of
// each shard.
const sampleRows = 10_000

func (s *Split) sourceErr(object string, err error) error {
	return &EndpointError{Side: Source, Endpoint: conn.Endpoint(s.source), Object: object, Err: err}
}

func (in *splitInstance) targetErr(object string, err error) error {
	return &EndpointError{Side: Target, Endpoint: conn.Endpoint(in.cfg), Object: object, Err: err}
}

func (s *Split) sourceTable() string { return "table " + schema.QualifiedName(s.database, s.table) }

func (s *Split) plan(ctx context.Context) (*Plan, *splitFacts, error) {
	plan := &Plan{Scope: s.scope()}
	src, err := s.cfg.open(ctx, Source, s.source, 2, conn.ReaderSession().Params(), false)
	if err != nil {
		return plan, nil, err
	}
	defer src.Close()
	f := &splitFacts{}
	if err := s.planSource(ctx, src, f); err != nil {
		return plan, nil, err
	}
	expected, err := s.sample(ctx, src, f)
	if err != nil {
		return plan, nil, err
	}
	var problems []error
	f.exists = make([]bool, len(s.locs))
	f.runs = make([]*checkpoint.Run, len(s.instances))
	hasRows := make([]bool, len(s.locs))
	// A split resumes when every server holds its run and one at least
	// is still copying: a run killed while it marked the servers done one
	// by one has some done and others not.
	resumable, copying := true, false
	for i, in := range s.instances {
		run, err := s.planInstance(ctx, in, f.exists, hasRows)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		f.runs[i] = run
		resumable = resumable && run != nil && run.Matches(conn.Endpoint(s.source), s.database, s.pairs(in))
		copying = copying || run != nil && run.State == checkpoint.Copying
	}
	f.resume = resumable && copying && len(problems) == 0
	var notEmpty []string
	for i, l := range s.locs {
		tp := TablePlan{Name: s.table, TargetName: l.String(), Engine: f.def.Engine, Rows: expected[i], TargetExists: f.exists[i], TargetHasRows: hasRows[i],
			Key: f.key.Columns, CreateTable: s.createStatement(f, l), Resume: f.resume,
			DeferredIndexes: clauseNames(f.deferred), AfterRows: addClauses(schema.QualifiedName(l.Database, l.Table), f.deferred)}
		if hasRows[i] && !f.resume && !s.cfg.replace {
			notEmpty = append(notEmpty, l.String())
		}
		plan.Tables = append(plan.Tables, tp)
	}
	if len(notEmpty) > 0 {
		problems = append(problems, &EndpointError{Side: Target, Endpoint: plan.Target, Object: "shards " + strings.Join(notEmpty, ", "),
			Err: fmt.Errorf("%w: they hold rows that this split did not write (WithReplace drops them)", ErrNotEmpty)})
	}
	plan.Locks, plan.Steps = s.describe(plan, f)
	return plan, f, errors.Join(problems...)
}

// planSource reads the source table's definition, key and key kind.
func (s *Split) planSource(ctx context.Context, src *sql.DB, f *splitFacts) error {
	object := s.sourceTable()
	var err error
	if f.sourceDB, err = schema.LookupDatabase(ctx, src, s.database); err != nil {
		return s.sourceErr("database "+schema.QuoteIdent(s.database), err)
	}
	if f.def, err = schema.LoadTable(ctx, src, s.database, s.table); err != nil {
		return s.sourceErr(object, err)
	}
	if f.key, err = keyset.ForTable(f.def); err != nil {
		return s.sourceErr(object, fmt.Errorf("%w: a split in chunks needs one", ErrNoKey))
	}
	f.ct = &copyTable{def: f.def, target: s.table, key: f.key, columns: f.def.InsertableColumns()}
	if !rowcodec.NewLoad(s.table, f.ct.columns).Exact() {
		return s.sourceErr(object, fmt.Errorf("it has BIT or YEAR and AUTO_INCREMENT columns, which LOAD DATA cannot write exactly; a split writes only with LOAD DATA"))
	}
	var name string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+schema.QualifiedName(s.database, s.table)).Scan(&name, &f.create); err != nil {
		return s.sourceErr(object, fmt.Errorf("show create table: %w", err))
	}
	if !createHead.MatchString(f.create) {
		return s.sourceErr(object, fmt.Errorf("unexpected SHOW CREATE TABLE output: %.60q", f.create))
	}
	if f.create, f.deferred, err = s.cfg.deferSecondary(f.def, withoutForeignKeys(f.create)); err != nil {
		return s.sourceErr(object, err)
	}
	if v, err := schema.Variable(ctx, src, "log_bin"); err != nil {
		return s.sourceErr(serverFault, err)
	} else {
		f.binlog = v == "ON"
	}
	if f.keyKind, err = shardroute.KindOf(ctx, src, schema.QualifiedName(s.database, s.table), s.routeExpr()); err != nil {
		return s.sourceErr(object, err)
	}
	return nil
}

// routeExpr is the expression a split routes on.
func (s *Split) routeExpr() string {
	if s.cfg.keyExpr != "" {
		return "(" + s.cfg.keyExpr + ")"
	}
	return schema.QuoteIdent(s.keyColumn)
}

// sample routes the keys of up to sampleRows source rows and spreads the
// table's estimated rows over the locations as they do.
func (s *Split) sample(ctx context.Context, src *sql.DB, f *splitFacts) ([]int64, error) {
	rows, err := src.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s LIMIT %d", s.routeExpr(), schema.QualifiedName(s.database, s.table), sampleRows))
	if err != nil {
		return nil, s.sourceErr(s.sourceTable(), fmt.Errorf("sample: %w", err))
	}
	defer rows.Close()
	r := shardroute.New(s.router, s.locs, f.keyKind)
	counts := make([]int64, len(s.locs))
	var n int64
	var v sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return nil, s.sourceErr(s.sourceTable(), fmt.Errorf("sample: %w", err))
		}
		i, err := r.Route(v)
		if err != nil {
			return nil, s.sourceErr(s.sourceTable(), err)
		}
		counts[i]++
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, s.sourceErr(s.sourceTable(), fmt.Errorf("sample: %w", err))
	}
	total := max(f.def.Rows, n)
	for i := range counts {
		if n > 0 {
			counts[i] = counts[i] * total / n
		}
	}
	return counts, nil
}

// planInstance reads a shard server's state: whether each of its shard
// tables exists and holds rows, and the checkpointed run of this split.
func (s *Split) planInstance(ctx context.Context, in *splitInstance, exists, hasRows []bool) (*checkpoint.Run, error) {
	db, err := s.cfg.open(ctx, Target, in.cfg, 2, nil, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if v, err := schema.Variable(ctx, db, "local_infile"); err != nil {
		return nil, in.targetErr(serverFault, err)
	} else if v != "ON" {
		return nil, in.targetErr(serverFault, fmt.Errorf("local_infile is OFF: a split writes with LOAD DATA LOCAL INFILE"))
	}
	for _, i := range in.locs {
		l := s.locs[i]
		tables, err := schema.Tables(ctx, db, l.Database)
		if err != nil {
			return nil, in.targetErr("database "+schema.QuoteIdent(l.Database), err)
		}
		if !slices.ContainsFunc(tables, func(t schema.Table) bool { return t.Name == l.Table && !t.View }) {
			continue
		}
		exists[i] = true
		if hasRows[i], err = schema.HasRows(ctx, db, l.Database, l.Table); err != nil {
			return nil, in.targetErr("table "+schema.QualifiedName(l.Database, l.Table), err)
		}
	}
	if err := s.checkpoint.Check(ctx, db); err != nil {
		return nil, in.targetErr("checkpoint", err)
	}
	run, err := s.checkpoint.LoadRun(ctx, db, in.keyDB)
	if err != nil {
		return nil, in.targetErr("checkpoint", err)
	}
	return run, nil
}

// pairs lists "table=database.shard" for the shards of in, the tables of
// its checkpoint run.
func (s *Split) pairs(in *splitInstance) []string {
	out := make([]string, len(in.locs))
	for i, li := range in.locs {
		out[i] = s.table + "=" + s.locs[li].Database + "." + s.locs[li].Table
	}
	return out
}

// createStatement is the CREATE TABLE of shard l.
func (s *Split) createStatement(f *splitFacts, l shard.Location) string {
	return createHead.ReplaceAllLiteralString(f.create, "CREATE TABLE "+schema.QualifiedName(l.Database, l.Table)+" (")
}

// withoutForeignKeys removes the foreign keys of a SHOW CREATE TABLE: a
// shard's rows cannot refer to tables that are not sharded with it.
func withoutForeignKeys(create string) string {
	lines := strings.Split(create, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !foreignKeyLine.MatchString(l) {
			out = append(out, l)
		}
	}
	// The line before the closing parenthesis may now end with a comma.
	for i := 1; i < len(out); i++ {
		if strings.HasPrefix(out[i], ")") {
			out[i-1] = strings.TrimSuffix(out[i-1], ",")
		}
	}
	return strings.Join(out, "\n")
}

// describe says what will be locked and what Run will do.
func (s *Split) describe(plan *Plan, f *splitFacts) (locks, steps []string) {
	if s.cfg.snapshot == SnapshotConsistent {
		locks = append(locks,
			fmt.Sprintf("source: commits are blocked (BACKUP STAGE BLOCK_COMMIT) while %d reader transactions start WITH CONSISTENT SNAPSHOT", s.cfg.threads),
			fmt.Sprintf("source: %d REPEATABLE READ snapshot transactions stay open for the whole split", s.cfg.threads))
	} else {
		locks = append(locks, "source: no locks: each chunk is read in its own short transaction")
	}
	locks = append(locks, fmt.Sprintf("shard servers: each chunk is one transaction per server of at most %s; it locks only the rows it inserts", formatBytes(s.cfg.chunkBytes())))
	var create int
	for _, t := range plan.Tables {
		if !t.TargetExists {
			create++
		}
	}
	if f.resume {
		var done int64
		for _, r := range f.runs {
			done += r.TotalRows()
		}
		steps = append(steps, fmt.Sprintf("resume the interrupted split recorded in %s on the shard servers: %d rows already written; servers ahead of the others are rewound to the same chunk first", schema.QuoteIdent(s.cfg.checkpointDB), done))
	} else {
		steps = append(steps, fmt.Sprintf("create %d shard table(s) (existing empty ones are dropped and created again) and the checkpoint in %s on %d server(s)", len(plan.Tables), schema.QuoteIdent(s.cfg.checkpointDB), len(s.instances)))
	}
	if create > 0 {
		steps = append(steps, fmt.Sprintf("%d of the %d shard tables do not exist yet", create, len(plan.Tables)))
	}
	switch {
	case f.binlog && f.resume:
		steps = append(steps, "keep the first run's source binlog position: the split is not consistent with it (its rows come from several snapshots)")
	case f.binlog:
		steps = append(steps, "record the source binlog file, position and GTID of the snapshot on every shard server, for a later sync")
	}
	steps = append(steps,
		fmt.Sprintf("read %s in keyset chunks with %d thread(s), route each row on %s, and write each chunk with LOAD DATA, one transaction with its checkpoint per shard server", schema.QualifiedName(s.database, s.table), s.cfg.threads, s.routeExpr()),
		"add the deferred secondary indexes, if any, to each shard table once every chunk is in; check that each shard server's tables hold the rows its checkpoints count")
	return locks, steps
}
