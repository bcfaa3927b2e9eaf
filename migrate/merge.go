package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/shard"
)

// Merge is the reverse of Split: it copies every shard table of a layout
// (shard.Router's locations) into one target table, created from the first
// shard's definition (SHOW CREATE TABLE, renamed, without foreign keys)
// when missing.
//
//   - Each shard table is read in keyset chunks of its own primary key (or
//     unique NOT NULL key) by WithThreads readers per shard server; the
//     readers of all shard servers open their snapshots together
//     (WithSnapshot: commits are blocked on every shard server at once for
//     the moment the snapshots take to start).
//   - A chunk is written into the target table with LOAD DATA LOCAL
//     INFILE, in one transaction with its checkpoint on the target (the
//     checkpoint database, keyed by the target database; one segment
//     list per shard). A killed merge resumes from the last committed
//     chunk of each segment and ends with every shard row exactly once.
//   - The shards must hold disjoint keys of the target table: a row whose
//     key another shard already wrote fails the chunk (the target skips
//     it) with an error naming the shard table.
//   - The shard tables must have the same columns (names and types, in
//     order); the target table must be missing or empty (WithReplace drops
//     and creates it again), unless the merge resumes.
//   - After the last chunk the target's rows are counted against the
//     checkpoint: rows someone else wrote into the target fail the merge
//     with ErrRowsDiffer.
//
// The shard tables are only read: deleting them after a verified merge is
// the caller's decision.
type Merge struct {
	target          *mysql.Config
	database, table string
	locs            []shard.Location
	instances       []*splitInstance // shard servers: the sources here
	cfg             config
	checkpoint      *checkpoint.Store
	running         runGuard
}

var _ Executor = (*Merge)(nil)

// NewMerge prepares the merge of the shards of router into
// database.table on the server at targetDSN. sources maps every
// Location.Instance of the layout to the DSN of its server (go-sql-driver
// DSNs; their database part is ignored). It connects to nothing: call
// Plan for a dry run.
func NewMerge(sources map[string]string, router shard.Router, targetDSN, database, table string, opts ...MergeOption) (*Merge, error) {
	dst, err := parseDSN(Target, targetDSN)
	if err != nil {
		return nil, err
	}
	cfg := defaultEngineConfig()
	m := &Merge{target: dst, database: database, table: table}
	if err := m.configure(sources, router, &cfg, opts); err != nil {
		return nil, fmt.Errorf("migrate: merge into %s: %w", schema.QualifiedName(database, table), err)
	}
	m.cfg = cfg
	m.checkpoint = checkpoint.New(cfg.checkpointDB)
	return m, nil
}

// defaultEngineConfig is the configuration Split and Merge start from.
func defaultEngineConfig() config {
	return config{
		executorConfig:   executorConfig{logger: slog.New(slog.DiscardHandler)},
		progressInterval: time.Second,
		copierConfig: copierConfig{threads: defaultThreads, memoryBudget: defaultMemoryBudget, chunkTime: defaultChunkTime,
			segmentRows: defaultSegmentRows, checkpointDB: defaultCheckpointDB, deferIndexes: true},
	}
}

func (m *Merge) configure(sources map[string]string, router shard.Router, cfg *config, opts []MergeOption) error {
	if err := schema.ValidateName("database", m.database); err != nil {
		return err
	}
	if err := schema.ValidateName("table", m.table); err != nil {
		return err
	}
	if strings.EqualFold(m.database, cfg.checkpointDB) {
		return fmt.Errorf("database %s is the checkpoint database", schema.QuoteIdent(m.database))
	}
	if err := applyOptions(opts, MergeOption.applyMerge, cfg); err != nil {
		return err
	}
	var err error
	m.locs, m.instances, err = groupLocations(router, sources, cfg.checkpointDB)
	if err != nil {
		return err
	}
	for _, l := range m.locs {
		in := instanceOf(m.instances, l)
		if c := in.cfg; c.Addr == m.target.Addr && c.Net == m.target.Net && l.Database == m.database && l.Table == m.table {
			return fmt.Errorf("%w: shard %d is the target table", ErrSameDatabase, l.Shard)
		}
	}
	return nil
}

// groupLocations checks the locations of router (named, numbered once,
// no two alike, none in the checkpoint database) and groups them by
// server, each with its DSN from dsns.
func groupLocations(router shard.Router, dsns map[string]string, checkpointDB string) ([]shard.Location, []*splitInstance, error) {
	if router == nil {
		return nil, nil, fmt.Errorf("no router")
	}
	locs := router.Locations()
	if len(locs) == 0 {
		return nil, nil, fmt.Errorf("the router lists no location")
	}
	seen := map[shard.Location]bool{}
	numbers := map[int]bool{}
	byName := map[string]*splitInstance{}
	var instances []*splitInstance
	for i, l := range locs {
		if err := schema.ValidateName("database", l.Database); err != nil {
			return nil, nil, fmt.Errorf("shard %d: %w", l.Shard, err)
		}
		if err := schema.ValidateName("table", l.Table); err != nil {
			return nil, nil, fmt.Errorf("shard %d: %w", l.Shard, err)
		}
		if strings.EqualFold(l.Database, checkpointDB) {
			return nil, nil, fmt.Errorf("shard %d: database %s is the checkpoint database", l.Shard, schema.QuoteIdent(l.Database))
		}
		if numbers[l.Shard] {
			return nil, nil, fmt.Errorf("shard %d is listed twice", l.Shard)
		}
		numbers[l.Shard] = true
		k := shard.Location{Instance: l.Instance, Database: l.Database, Table: l.Table}
		if seen[k] {
			return nil, nil, fmt.Errorf("shard %d: location %s is listed twice", l.Shard, l)
		}
		seen[k] = true
		in := byName[l.Instance]
		if in == nil {
			dsn, ok := dsns[l.Instance]
			if !ok {
				return nil, nil, fmt.Errorf("shard %d: no DSN for instance %q", l.Shard, l.Instance)
			}
			c, err := parseDSN(Target, dsn)
			if err != nil {
				return nil, nil, err
			}
			in = &splitInstance{name: l.Instance, cfg: c, keyDB: l.Database}
			byName[l.Instance] = in
			instances = append(instances, in)
		}
		in.locs = append(in.locs, i)
		in.keyDB = min(in.keyDB, l.Database)
	}
	return locs, instances, nil
}

// instanceOf is the server of l among instances.
func instanceOf(instances []*splitInstance, l shard.Location) *splitInstance {
	for _, in := range instances {
		if in.name == l.Instance {
			return in
		}
	}
	return nil
}

func (m *Merge) scope() Scope {
	sources := make([]string, len(m.instances))
	for i, in := range m.instances {
		sources[i] = conn.Endpoint(in.cfg)
	}
	var dbs []string
	for _, l := range m.locs {
		if !slices.Contains(dbs, l.Database) {
			dbs = append(dbs, l.Database)
		}
	}
	return Scope{Executor: "merge", Source: strings.Join(sources, ","), Target: conn.Endpoint(m.target),
		SourceDatabase: strings.Join(dbs, ","), TargetDatabase: m.database}
}

// checkpointSource names the shard servers in the checkpoint's run: their
// endpoints, or a digest of them where they pass the column's 255
// characters.
func (m *Merge) checkpointSource() string {
	s := m.scope().Source
	if len(s) <= 255 {
		return s
	}
	return fmt.Sprintf("%d servers, sha256 %x", len(m.instances), sha256.Sum256([]byte(s)))
}

func (m *Merge) targetErr(object string, err error) error {
	return &EndpointError{Side: Target, Endpoint: conn.Endpoint(m.target), Object: object, Err: err}
}

// shardErr is an error of reading shard table i.
func (m *Merge) shardErr(i int, err error) error {
	l := m.locs[i]
	return &EndpointError{Side: Source, Endpoint: conn.Endpoint(instanceOf(m.instances, l).cfg), Object: "shard " + fmt.Sprint(l.Shard) + " table " + schema.QualifiedName(l.Database, l.Table), Err: err}
}

func (m *Merge) targetTable() string { return "table " + schema.QualifiedName(m.database, m.table) }

// label is the checkpoint's name for the segments of shard table i.
func (m *Merge) label(i int) string { return fmt.Sprintf("shard_%d", m.locs[i].Shard) }

// pairs lists "instance/database.table=table" for every shard: the tables
// of the checkpoint run.
func (m *Merge) pairs() []string {
	out := make([]string, len(m.locs))
	for i, l := range m.locs {
		out[i] = l.String() + "=" + m.table
	}
	return out
}

// mergeFacts are what the plan learned that Run needs.
type mergeFacts struct {
	defs      []*schema.TableDef // by location
	keys      []keyset.Key
	columns   []schema.Column // the first shard's insertable columns
	sourceDB  schema.Database
	create    string // the target's CREATE TABLE
	deferred  []deferredClause
	exists    bool
	hasRows   bool
	resume    bool
	resumeRun *checkpoint.Run
}

// Plan connects to every shard server and the target and checks, without
// changing anything, that the merge can run: every shard table exists with
// a key to chunk along and the first shard's columns, the target allows
// LOAD DATA LOCAL INFILE, and the target table is missing or empty (or
// the merge resumes). Its Tables list one entry per shard table.
func (m *Merge) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := m.plan(ctx)
	return plan, err
}

func (m *Merge) plan(ctx context.Context) (*Plan, *mergeFacts, error) {
	plan := &Plan{Scope: m.scope()}
	f := &mergeFacts{defs: make([]*schema.TableDef, len(m.locs)), keys: make([]keyset.Key, len(m.locs))}
	var problems []error
	for _, in := range m.instances {
		problems = append(problems, m.planShards(ctx, in, f)...)
	}
	if len(problems) > 0 {
		return plan, nil, errors.Join(problems...)
	}
	if err := m.planTarget(ctx, f); err != nil {
		return plan, nil, err
	}
	for i, l := range m.locs {
		plan.Tables = append(plan.Tables, TablePlan{Name: l.String(), TargetName: schema.QualifiedName(m.database, m.table), Engine: f.defs[i].Engine,
			Rows: f.defs[i].Rows, DataBytes: f.defs[i].DataLength, IndexBytes: f.defs[i].IndexLength, TargetExists: f.exists, TargetHasRows: f.hasRows,
			Key: f.keys[i].Columns, CreateTable: f.create, Resume: f.resume, DeferredIndexes: clauseNames(f.deferred),
			AfterRows: addClauses(schema.QualifiedName(m.database, m.table), f.deferred)})
	}
	if f.resume {
		for i := range plan.Tables {
			plan.Tables[i].CheckpointRows = f.resumeRun.Rows[m.label(i)]
		}
	}
	plan.Locks, plan.Steps = m.describe(f)
	if f.hasRows && !f.resume && !m.cfg.replace {
		return plan, f, m.targetErr(m.targetTable(), fmt.Errorf("%w: it holds rows that this merge did not write (WithReplace drops it)", ErrNotEmpty))
	}
	return plan, f, nil
}

// planShards reads the definitions and keys of in's shard tables and
// checks their columns against the first shard's.
func (m *Merge) planShards(ctx context.Context, in *splitInstance, f *mergeFacts) []error {
	db, err := m.cfg.open(ctx, Source, in.cfg, 2, conn.ReaderSession().Params(), false)
	if err != nil {
		return []error{err}
	}
	defer db.Close()
	var problems []error
	for _, i := range in.locs {
		l := m.locs[i]
		def, err := schema.LoadTable(ctx, db, l.Database, l.Table)
		if err != nil {
			problems = append(problems, m.shardErr(i, err))
			continue
		}
		if f.keys[i], err = keyset.ForTable(def); err != nil {
			problems = append(problems, m.shardErr(i, fmt.Errorf("%w: a merge in chunks needs one", ErrNoKey)))
			continue
		}
		f.defs[i] = def
		if i == 0 {
			if err := m.firstShard(ctx, db, f); err != nil {
				problems = append(problems, m.shardErr(i, err))
			}
		}
	}
	return problems
}

// firstShard reads the first shard's columns, database and CREATE TABLE,
// which the target takes.
func (m *Merge) firstShard(ctx context.Context, db *sql.DB, f *mergeFacts) error {
	l, def := m.locs[0], f.defs[0]
	f.columns = def.InsertableColumns()
	if !rowcodec.NewLoad(m.table, f.columns).Exact() {
		return fmt.Errorf("it has BIT or YEAR and AUTO_INCREMENT columns, which LOAD DATA cannot write exactly; a merge writes only with LOAD DATA")
	}
	var err error
	if f.sourceDB, err = schema.LookupDatabase(ctx, db, l.Database); err != nil {
		return err
	}
	var name string
	if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+schema.QualifiedName(l.Database, l.Table)).Scan(&name, &f.create); err != nil {
		return fmt.Errorf("show create table: %w", err)
	}
	if !createHead.MatchString(f.create) {
		return fmt.Errorf("unexpected SHOW CREATE TABLE output: %.60q", f.create)
	}
	f.create = createHead.ReplaceAllLiteralString(withoutForeignKeys(f.create), "CREATE TABLE "+schema.QualifiedName(m.database, m.table)+" (")
	f.create, f.deferred, err = m.cfg.deferSecondary(def, f.create)
	return err
}

// deferSecondary takes the secondary indexes out of create, the CREATE
// TABLE of a table like def, when WithDeferredIndexes says so.
func (c *config) deferSecondary(def *schema.TableDef, create string) (string, []deferredClause, error) {
	if !c.deferIndexes {
		return create, nil, nil
	}
	keep := map[string]bool{}
	if ix, err := def.RowKey(); err == nil {
		keep[ix.Name] = true
	}
	return deferClauses(create, keep)
}

// sameColumns reports how shard i's columns differ from the first
// shard's, nil when they do not.
func (f *mergeFacts) sameColumns(i int) error {
	cols := f.defs[i].InsertableColumns()
	if len(cols) != len(f.columns) {
		return fmt.Errorf("%w: %d columns, the first shard has %d", ErrShardsDiffer, len(cols), len(f.columns))
	}
	for j, c := range cols {
		if w := f.columns[j]; !strings.EqualFold(c.Name, w.Name) || c.ColumnType != w.ColumnType {
			return fmt.Errorf("%w: column %d is %s %s, in the first shard %s %s", ErrShardsDiffer, j+1,
				schema.QuoteIdent(c.Name), c.ColumnType, schema.QuoteIdent(w.Name), w.ColumnType)
		}
	}
	return nil
}

// planTarget checks the shards' columns and reads the target's state:
// local_infile, the target table, the checkpointed run.
func (m *Merge) planTarget(ctx context.Context, f *mergeFacts) error {
	var problems []error
	for i := range m.locs {
		if err := f.sameColumns(i); err != nil {
			problems = append(problems, m.shardErr(i, err))
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	db, err := m.cfg.open(ctx, Target, m.target, 2, nil, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if v, err := schema.Variable(ctx, db, "local_infile"); err != nil {
		return m.targetErr(serverFault, err)
	} else if v != "ON" {
		return m.targetErr(serverFault, fmt.Errorf("local_infile is OFF: a merge writes with LOAD DATA LOCAL INFILE"))
	}
	tables, err := schema.Tables(ctx, db, m.database)
	if err != nil {
		return m.targetErr("database "+schema.QuoteIdent(m.database), err)
	}
	if f.exists = slices.ContainsFunc(tables, func(t schema.Table) bool { return t.Name == m.table && !t.View }); f.exists {
		if f.hasRows, err = schema.HasRows(ctx, db, m.database, m.table); err != nil {
			return m.targetErr(m.targetTable(), err)
		}
	}
	if err := m.checkpoint.Check(ctx, db); err != nil {
		return m.targetErr("checkpoint", err)
	}
	run, err := m.checkpoint.LoadRun(ctx, db, m.database)
	if err != nil {
		return m.targetErr("checkpoint", err)
	}
	f.resume = f.exists && run != nil && run.State == checkpoint.Copying && run.Matches(m.checkpointSource(), "", m.pairs())
	f.resumeRun = run
	return nil
}

// describe says what will be locked and what Run will do.
func (m *Merge) describe(f *mergeFacts) (locks, steps []string) {
	if m.cfg.snapshot == SnapshotConsistent {
		locks = append(locks, fmt.Sprintf("shard servers: commits are blocked (BACKUP STAGE BLOCK_COMMIT) on all %d at once while %d reader transactions per server start WITH CONSISTENT SNAPSHOT", len(m.instances), m.cfg.threads))
	} else {
		locks = append(locks, "shard servers: no locks: each chunk is read in its own short transaction")
	}
	locks = append(locks, fmt.Sprintf("target: each chunk is one transaction of at most %s; it locks only the rows it inserts", formatBytes(m.cfg.chunkBytes())))
	switch {
	case f.resume:
		steps = append(steps, fmt.Sprintf("resume the interrupted merge recorded in %s on the target: %d rows already written", schema.QuoteIdent(m.cfg.checkpointDB), f.resumeRun.TotalRows()))
	case f.exists && f.hasRows:
		steps = append(steps, "drop the target table, which holds rows (WithReplace), and create it again from the first shard's definition")
	case f.exists:
		steps = append(steps, "keep the empty target table")
	default:
		steps = append(steps, "create the target table from the first shard's definition")
	}
	return locks, append(steps,
		fmt.Sprintf("read the %d shard tables in keyset chunks with %d thread(s) per shard server and write each chunk with LOAD DATA, one transaction with its checkpoint", len(m.locs), m.cfg.threads),
		"add the deferred secondary indexes, if any, once every shard is in; check that the target table holds the rows the checkpoints count")
}
