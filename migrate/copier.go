package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Copier copies a database, or some of its tables, natively: parallel
// keyset-chunked reads on the source and LOAD DATA LOCAL INFILE (or
// multi-row INSERT) writes on the target, with a checkpoint per chunk.
//
//   - Reads walk each table's primary key (or unique NOT NULL key) chunk
//     by chunk, never with LIMIT ... OFFSET; large tables are split into
//     segments copied in parallel.
//   - By default all readers share one consistent snapshot, aligned by
//     blocking the source's commits for milliseconds; the report carries
//     the binlog position and GTID of that point. SnapshotNone takes no
//     lock.
//   - Every chunk is written in one target transaction together with its
//     checkpoint, so a copy killed at any point continues, when run again
//     with the same arguments, from the last committed chunk and ends with
//     exactly the source's rows.
//   - Memory is bounded by bytes in flight, not rows (WithMemoryBudget).
//   - Target tables that hold rows not written by this copy are not
//     replaced unless WithReplace says so.
//   - Views, routines, triggers and events are created after the rows.
//
// The checkpoints live in the database _shiftgate on the target
// (WithCheckpointDatabase); a finished copy marks itself done there. Its
// tables carry a schema version: Plan and Run refuse a checkpoint database
// written by a newer or unknown version of this library, with an error
// naming the database and the versions, rather than start the copy over.
type Copier struct {
	source, target *mysql.Config
	database       string
	cfg            config
	checkpoint     *checkpoint.Store
	running        runGuard
}

var _ Executor = (*Copier)(nil)

// Defaults of a Copier.
const (
	defaultThreads      = 4
	defaultMemoryBudget = 256 << 20
	defaultChunkTime    = 500 * time.Millisecond
	defaultSegmentRows  = 250_000
	defaultCheckpointDB = "_shiftgate"
	firstChunkRows      = 2_000
	minChunkRows        = 100
	maxChunkRows        = 200_000
)

// NewCopier prepares a copy of database from the server at sourceDSN to
// the server at targetDSN (go-sql-driver DSNs; their database part is
// ignored). It connects to nothing: call Plan for a dry run.
func NewCopier(sourceDSN, targetDSN, database string, opts ...CopierOption) (*Copier, error) {
	cfg := config{
		executorConfig:   executorConfig{logger: slog.New(slog.DiscardHandler)},
		skip:             map[ObjectKind]bool{},
		progressInterval: time.Second,
		copierConfig: copierConfig{
			threads:      defaultThreads,
			deferIndexes: true,
			memoryBudget: defaultMemoryBudget,
			chunkTime:    defaultChunkTime,
			segmentRows:  defaultSegmentRows,
			checkpointDB: defaultCheckpointDB,
		},
	}
	src, dst, err := prepare("copier", sourceDSN, targetDSN, database, &cfg, func(c *config) error {
		return applyOptions(opts, CopierOption.applyCopier, c)
	})
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(cfg.targetDatabase, cfg.checkpointDB) {
		return nil, fmt.Errorf("migrate: copier: target database %s is the checkpoint database", schema.QuoteIdent(cfg.targetDatabase))
	}
	return &Copier{source: src, target: dst, database: database, cfg: cfg, checkpoint: checkpoint.New(cfg.checkpointDB)}, nil
}

// copyTable is what Plan learned about one base table.
type copyTable struct {
	def      *schema.TableDef
	target   string
	key      keyset.Key
	keyless  bool // copied in one chunk (WithKeylessTables)
	columns  []schema.Column
	create   string           // target CREATE TABLE
	deferred []deferredClause // added after the rows (WithDeferredIndexes)
	resume   bool             // an interrupted copy of this table continues
	exists   bool             // target table exists
}

// copierFacts are what the plan learned that Run needs.
type copierFacts struct {
	sourceDB  schema.Database
	targetHas bool
	binlog    bool
	tables    []*copyTable
	views     []string
	routines  []schema.Routine
	method    WriteMethod
	run       *checkpoint.Run // the checkpointed run on the target, if any
	resume    bool
	estimate  copyEstimate // the expected copy time, when sampled
}

// Plan connects to both servers and checks, without changing anything,
// that the copy can run: the source database and tables exist and have a
// key to chunk along, both users hold the privileges needed, and no target
// table holding rows that this copy did not write would be replaced
// (unless WithReplace). It lists the tables with estimates, chunk plan and
// target DDL, the objects to copy and what is locked for how long. Its
// last step is the copy's expected time, an estimate from reading the
// largest table with a key for about a second (at most 4 MiB, plain
// SELECTs as the copy's chunks, no lock beyond theirs) and its basis, or
// why it is unavailable; a failed sample never fails the Plan.
func (c *Copier) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := c.plan(ctx, true)
	return plan, err
}

func (c *Copier) scope() Scope {
	return Scope{Executor: "copier", Source: conn.Endpoint(c.source), Target: conn.Endpoint(c.target),
		SourceDatabase: c.database, TargetDatabase: c.cfg.targetDatabase}
}

// plan is Plan, also returning what Run needs to know: the survey of both
// servers, the tables with their keys and target DDL, the checkpoint of an
// interrupted copy and the write method the target allows. With sample,
// it also reads a sample of the source for the expected copy time
// (estimate); Run, which does not print it, skips that.
func (c *Copier) plan(ctx context.Context, sample bool) (*Plan, *copierFacts, error) {
	plan := &Plan{Scope: c.scope()}
	facts := &copierFacts{method: c.cfg.writeMethod}
	s, err := takeSurvey(ctx, plan, &c.cfg, c.source, c.target)
	if err != nil {
		return plan, nil, err
	}
	defer s.Close()
	facts.sourceDB, facts.targetHas, facts.binlog = s.sourceDB, s.targetHas, s.binlog
	for name := range c.cfg.tableNames {
		if !slices.ContainsFunc(s.tables, func(t schema.Table) bool { return t.Name == name && !t.View }) {
			s.sourceProblem("table "+schema.QualifiedName(c.database, name), fmt.Errorf("%w (renamed by WithTableNames)", ErrNotFound))
		}
	}
	facts.routines = s.routines
	plan.Objects = c.cfg.objects(s.tables, s.routines)
	defs, err := schema.LoadTables(ctx, s.src, c.database)
	if err != nil {
		s.sourceProblem("database "+schema.QuoteIdent(c.database), err)
		return plan, nil, s.err()
	}
	selected, referenced := c.selectDefs(s.tables, defs, facts)
	c.loadCheckpoint(ctx, s, plan, facts, selected)
	c.chooseWriteMethod(ctx, s, plan, facts)

	var notEmpty []string
	for _, d := range selected {
		ct, tp := c.planTable(ctx, s, plan, facts, d, referenced[d.Name])
		if tp.TargetHasRows && !ct.resume {
			notEmpty = append(notEmpty, ct.target)
		}
		facts.tables = append(facts.tables, ct)
		plan.Tables = append(plan.Tables, tp)
	}
	if len(notEmpty) > 0 && !c.cfg.replace {
		s.hintedProblem(Target, "database "+schema.QuoteIdent(c.cfg.targetDatabase),
			fmt.Errorf("%w: %s hold rows that this copy did not write; the copy would replace them", ErrNotEmpty, strings.Join(notEmpty, ", ")), "allow it with WithReplace")
	}
	c.checkPrivileges(ctx, s, facts)
	plan.Locks, plan.Steps = c.describe(plan, facts)
	if sample {
		facts.estimate = c.estimate(ctx, s, facts)
		plan.Steps = append(plan.Steps, facts.estimate.step())
	}
	return plan, facts, s.err()
}

// selectDefs returns the definitions of the base tables in list, in list's
// order, recording its views in facts, and the key columns of each source
// table that a foreign key references (those indexes are never deferred).
func (c *Copier) selectDefs(list []schema.Table, defs []*schema.TableDef, facts *copierFacts) ([]*schema.TableDef, map[string][][]string) {
	byName := map[string]*schema.TableDef{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	var selected []*schema.TableDef
	for _, t := range list {
		if t.View {
			facts.views = append(facts.views, t.Name)
		} else if d := byName[t.Name]; d != nil {
			selected = append(selected, d)
		}
	}
	referenced := map[string][][]string{}
	for _, d := range defs {
		for _, fk := range d.ForeignKeys {
			if fk.RefDatabase == c.database {
				referenced[fk.RefTable] = append(referenced[fk.RefTable], fk.RefColumns)
			}
		}
	}
	return selected, referenced
}

// loadCheckpoint reads the checkpoint of an interrupted copy into facts and
// decides whether this copy resumes it. A checkpoint of a newer or unknown
// version is a problem, never started over; a run whose target database is
// gone (dropped to start over) is not resumed; another copy's unfinished
// run is a problem unless WithReplace.
func (c *Copier) loadCheckpoint(ctx context.Context, s *survey, plan *Plan, facts *copierFacts, selected []*schema.TableDef) {
	var err error
	if err = c.checkpoint.Check(ctx, s.dst); err != nil {
		s.targetProblem("checkpoint", err)
		return
	}
	if facts.run, err = c.checkpoint.LoadRun(ctx, s.dst, c.cfg.targetDatabase); err != nil {
		s.targetProblem("checkpoint", err)
		return
	}
	if facts.run == nil || facts.run.State != checkpoint.Copying || !s.targetHas {
		return
	}
	if facts.run.Matches(plan.Source, c.database, c.pairs(selected)) {
		facts.resume = true
	} else if !c.cfg.replace {
		s.hintedProblem(Target, "database "+schema.QuoteIdent(c.cfg.targetDatabase), fmt.Errorf("%w: it holds an unfinished copy of %s from %s (tables %s)",
			ErrNotEmpty, schema.QuoteIdent(facts.run.SourceDB), facts.run.Source, strings.Join(facts.run.Tables, ", ")),
			"run that copy again to finish it, or allow starting over with WithReplace")
	}
}

// chooseWriteMethod falls back from LOAD DATA to INSERT when the target
// has local_infile=OFF, and says so in the plan.
func (c *Copier) chooseWriteMethod(ctx context.Context, s *survey, plan *Plan, facts *copierFacts) {
	if facts.method != WriteLoadData {
		return
	}
	if v, err := schema.Variable(ctx, s.dst, "local_infile"); err != nil {
		s.targetProblem(serverFault, err)
	} else if v != "ON" {
		facts.method = WriteInsert
		plan.Steps = append(plan.Steps, "the target has local_infile=OFF: rows are written with multi-row INSERT instead of LOAD DATA LOCAL INFILE")
	}
}

// planTable plans the copy of source table d: its key (or why it has
// none), the target's CREATE TABLE and deferred indexes and foreign keys
// (never those in referenced), segments and chunk estimates, and the
// target table's state. Problems go to s; engines a consistent snapshot
// does not cover go to plan.Locks.
func (c *Copier) planTable(ctx context.Context, s *survey, plan *Plan, facts *copierFacts, d *schema.TableDef, referenced [][]string) (*copyTable, TablePlan) {
	ct := &copyTable{def: d, target: c.targetName(d.Name), columns: d.InsertableColumns()}
	tp := TablePlan{Name: d.Name, TargetName: ct.target, Engine: d.Engine, Rows: d.Rows, DataBytes: d.DataLength, IndexBytes: d.IndexLength}
	name := "table " + schema.QualifiedName(c.database, d.Name)
	if c.cfg.snapshot == SnapshotConsistent && !strings.EqualFold(d.Engine, "InnoDB") {
		plan.Locks = append(plan.Locks, fmt.Sprintf("source: table %s uses engine %s, which a consistent snapshot does not cover", d.Name, d.Engine))
	}
	var err error
	if ct.key, err = keyset.ForTable(d); err != nil {
		if c.cfg.keylessMaxRows == 0 {
			s.hintedProblem(Source, name, fmt.Errorf("%w: a copy in chunks needs one", ErrNoKey),
				"allow copying small keyless tables in one chunk with WithKeylessTables")
		} else if d.Rows > c.cfg.keylessMaxRows {
			s.hintedProblem(Source, name, fmt.Errorf("%w, and with about %d rows it is larger than the %d rows allowed in one chunk", ErrNoKey, d.Rows, c.cfg.keylessMaxRows),
				"raise the limit of WithKeylessTables")
		}
		ct.keyless = true
	} else {
		tp.Key = ct.key.Columns
	}
	if ct.create, ct.deferred, err = c.createStatement(ctx, s.src, d, ct.target, referenced); err != nil {
		s.sourceProblem(name, err)
	}
	tp.CreateTable = ct.create
	for _, dc := range ct.deferred {
		if dc.foreignKey {
			tp.DeferredForeignKeys = append(tp.DeferredForeignKeys, dc.name)
		} else {
			tp.DeferredIndexes = append(tp.DeferredIndexes, dc.name)
		}
	}
	tp.AfterRows = addClauses(schema.QualifiedName(c.cfg.targetDatabase, ct.target), ct.deferred)
	tp.Segments, tp.Chunks = 1, 1
	tp.ChunkRows = c.firstChunkRows(d)
	if !ct.keyless {
		tp.Segments = int(min(int64(c.cfg.threads*8), max(1, (d.Rows+int64(c.cfg.segmentRows)-1)/int64(c.cfg.segmentRows))))
		tp.Chunks = max(int64(tp.Segments), d.Rows/int64(tp.ChunkRows)+int64(tp.Segments))
	}
	tp.TargetExists, tp.TargetHasRows = s.targetState(ctx, ct.target, !facts.resume)
	ct.exists = tp.TargetExists
	if facts.resume {
		ct.resume = true
		tp.Resume = true
		tp.CheckpointRows = facts.run.Rows[ct.target]
		tp.TargetHasRows = tp.TargetExists && tp.CheckpointRows > 0
	}
	return ct, tp
}

// pairs lists "source=target" for the tables copied, for the run record.
func (c *Copier) pairs(defs []*schema.TableDef) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name + "=" + c.targetName(d.Name)
	}
	return out
}

func (c *Copier) targetName(source string) string {
	if n, ok := c.cfg.tableNames[source]; ok {
		return n
	}
	return source
}

// firstChunkRows is the size of a table's first chunk: the fixed size, or
// what fits the time target at a guessed 100k rows/s, within the byte cap.
func (c *Copier) firstChunkRows(d *schema.TableDef) int {
	if c.cfg.chunkRows > 0 {
		return c.cfg.chunkRows
	}
	n := firstChunkRows
	if d.Rows > 0 && d.DataLength > 0 {
		avg := max(1, d.DataLength/d.Rows)
		n = int(min(int64(n), max(1, c.chunkBytes()/avg)))
	}
	return max(1, n)
}

// chunkBytes caps the encoded bytes of one chunk: an eighth of the budget
// holds rows, and each thread has up to three chunks in flight (one being
// read, one queued, one being written). The rest is for what the rows cost
// besides: the driver's packet buffers (one per row wider than 256 KiB),
// garbage between collections (the Go heap grows to twice what is live
// before it collects) and the runtime.
func (c *Copier) chunkBytes() int64 { return c.cfg.chunkBytes() }

// chunkBytes is the chunk byte cap of the copy engine's executors (see
// Copier.chunkBytes).
func (c *config) chunkBytes() int64 {
	return min(32<<20, c.memoryBudget/8/int64(3*c.threads))
}

var (
	indexLine      = regexp.MustCompile("^\\s*(?:UNIQUE |FULLTEXT |SPATIAL |VECTOR )?(?:KEY|INDEX) `((?:[^`]|``)*)`")
	foreignKeyLine = regexp.MustCompile("^\\s*CONSTRAINT `((?:[^`]|``)*)` FOREIGN KEY ")
	createHead     = regexp.MustCompile("^CREATE TABLE `(?:[^`]|``)*` \\(")
)

// deferredClause is an index or a foreign key that WithDeferredIndexes
// leaves out of a target table's CREATE TABLE and adds after its rows.
type deferredClause struct {
	name       string
	def        string // as in CREATE TABLE: "KEY `a` (`a`)", "CONSTRAINT `f` FOREIGN KEY ..."
	foreignKey bool
}

// createStatement returns the target's CREATE TABLE for d from SHOW CREATE
// TABLE, renamed, with the foreign keys to renamed tables following them,
// and with WithDeferredIndexes the clauses it leaves out: the secondary
// indexes, except those that another table's foreign key references
// (referenced lists their columns), and the foreign keys.
func (c *Copier) createStatement(ctx context.Context, src *sql.DB, d *schema.TableDef, target string, referenced [][]string) (create string, deferred []deferredClause, err error) {
	var name string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+schema.QualifiedName(d.Database, d.Name)).Scan(&name, &create); err != nil {
		return "", nil, fmt.Errorf("show create table: %w", err)
	}
	if !createHead.MatchString(create) {
		return "", nil, fmt.Errorf("unexpected SHOW CREATE TABLE output: %.60q", create)
	}
	create = createHead.ReplaceAllLiteralString(create, "CREATE TABLE "+schema.QuoteIdent(target)+" (")
	for src, dst := range c.cfg.tableNames {
		create = strings.ReplaceAll(create, "REFERENCES "+schema.QuoteIdent(src)+" (", "REFERENCES "+schema.QuoteIdent(dst)+" (")
	}
	if !c.cfg.deferIndexes {
		return create, nil, nil
	}
	keep := map[string]bool{}
	if ix, err := d.RowKey(); err == nil {
		keep[ix.Name] = true
	}
	for _, cols := range referenced {
		if name, ok := leadingIndex(d, cols); ok {
			keep[name] = true
		}
	}
	return deferClauses(create, keep)
}

// leadingIndex names the first index of d whose leading columns are cols
// (one a foreign key on them can use).
func leadingIndex(d *schema.TableDef, cols []string) (string, bool) {
	for _, ix := range d.Indexes {
		if names := ix.ColumnNames(); len(names) >= len(cols) && slices.EqualFunc(names[:len(cols)], cols, strings.EqualFold) {
			return ix.Name, true
		}
	}
	return "", false
}

// deferClauses takes out of a CREATE TABLE (as SHOW CREATE TABLE prints
// it) its secondary indexes, except those named in keep, and its foreign
// keys, and returns them as the clauses to add after the rows.
func deferClauses(create string, keep map[string]bool) (string, []deferredClause, error) {
	var deferred []deferredClause
	lines := strings.Split(create, "\n")
	end := slices.IndexFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, ")") }) + 1
	if end < 1 {
		return "", nil, fmt.Errorf("unexpected SHOW CREATE TABLE output: no closing parenthesis")
	}
	// Indexes come before foreign keys: a foreign key added in the same
	// ALTER TABLE then uses the index its columns had on the source rather
	// than making its own.
	var body []string
	var foreignKeys []deferredClause
	for _, l := range lines[1:end] {
		l = strings.TrimSuffix(l, ",")
		if m := indexLine.FindStringSubmatch(l); m != nil {
			if name := strings.ReplaceAll(m[1], "``", "`"); !keep[name] {
				deferred = append(deferred, deferredClause{name: name, def: strings.TrimSpace(l)})
				continue
			}
		} else if m := foreignKeyLine.FindStringSubmatch(l); m != nil {
			foreignKeys = append(foreignKeys, deferredClause{name: strings.ReplaceAll(m[1], "``", "`"), def: strings.TrimSpace(l), foreignKey: true})
			continue
		}
		body = append(body, l)
	}
	deferred = append(deferred, foreignKeys...)
	out := append([]string{lines[0]}, strings.Join(body, ",\n"))
	return strings.Join(append(out, lines[end:]...), "\n"), deferred, nil
}

// clauseNames lists the names of clauses.
func clauseNames(clauses []deferredClause) []string {
	var out []string
	for _, dc := range clauses {
		out = append(out, dc.name)
	}
	return out
}

// addClauses is the ALTER TABLE that adds clauses to table, "" for none.
func addClauses(table string, clauses []deferredClause) string {
	if len(clauses) == 0 {
		return ""
	}
	adds := make([]string, len(clauses))
	for i, dc := range clauses {
		adds[i] = "ADD " + dc.def
	}
	return "ALTER TABLE " + table + " " + strings.Join(adds, ", ")
}

// checkPrivileges records the privileges each side lacks for this copy.
func (c *Copier) checkPrivileges(ctx context.Context, s *survey, facts *copierFacts) {
	srcNeed, dstNeed := copyPrivileges(&c.cfg, s.plan.Objects)
	dstNeed = append(dstNeed, "SELECT")
	if c.cfg.deferIndexes {
		dstNeed = append(dstNeed, "INDEX")
	}
	var names []string
	for _, t := range facts.tables {
		names = append(names, t.def.Name)
	}
	privs := s.requirePrivileges(ctx, Source, c.database, srcNeed, append(names, facts.views...))
	s.requireBinlogMonitor(privs)
	if privs != nil && c.cfg.snapshot == SnapshotConsistent && !privs.HasAny("RELOAD") {
		s.hintedProblem(Source, serverFault, fmt.Errorf("%w: user %s lacks RELOAD, needed for BACKUP STAGE to align the readers' snapshot", ErrSnapshotPrivilege, privs.User),
			"or copy lock-free with WithSnapshot(SnapshotNone)")
	}
	if tp := s.requirePrivileges(ctx, Target, c.cfg.targetDatabase, dstNeed, nil); tp != nil && c.cfg.noTargetBinlog && !tp.HasAny("BINLOG ADMIN", "SUPER") {
		s.targetProblem(serverFault, fmt.Errorf("%w: user %s lacks BINLOG ADMIN (or SUPER), needed to write without binlog (WithoutTargetBinlog)", ErrPrivilege, tp.User))
	}
	s.requirePrivileges(ctx, Target, c.cfg.checkpointDB, []string{"CREATE", "SELECT", "INSERT", "UPDATE", "DELETE"}, nil)
}

// describe says what will be locked and what Run will do.
func (c *Copier) describe(plan *Plan, facts *copierFacts) (locks, steps []string) {
	locks = plan.Locks
	threads := c.cfg.threads
	if c.cfg.snapshot == SnapshotConsistent {
		locks = append(locks,
			fmt.Sprintf("source: commits are blocked (BACKUP STAGE BLOCK_COMMIT) while %d reader transactions start WITH CONSISTENT SNAPSHOT: typically a few milliseconds; the report says how long", threads),
			fmt.Sprintf("source: %d REPEATABLE READ snapshot transactions stay open for the whole copy (no table locks; they hold back purge)", threads))
	} else {
		locks = append(locks, "source: no locks and no long transaction: each chunk is read in its own short transaction, so the copy is not a consistent snapshot")
	}
	locks = append(locks,
		fmt.Sprintf("target: each chunk is one transaction of at most %s; it locks only the rows it inserts", formatBytes(c.chunkBytes())),
		"target: tables are incomplete until their last chunk has committed")
	if c.cfg.deferIndexes {
		locks = append(locks, "target: deferred secondary indexes and foreign keys are added with ALTER TABLE once a table's rows are in (online, the table stays readable)")
	}
	var chunks int64
	for _, t := range plan.Tables {
		chunks += t.Chunks
	}
	if !facts.targetHas {
		steps = append(steps, fmt.Sprintf("create database %s on the target with %s / %s", schema.QuoteIdent(plan.TargetDatabase), facts.sourceDB.Charset, facts.sourceDB.Collation))
	}
	if facts.resume {
		steps = append(steps, fmt.Sprintf("resume the interrupted copy recorded in %s on the target: %d rows already copied; chunks are read from a new snapshot", schema.QuoteIdent(c.cfg.checkpointDB), facts.run.TotalRows()))
	} else {
		steps = append(steps, fmt.Sprintf("create %d table(s) on the target (existing empty ones are dropped first) and the checkpoint in %s", len(plan.Tables), schema.QuoteIdent(c.cfg.checkpointDB)))
	}
	steps = append(steps, fmt.Sprintf("copy about %d chunk(s) with %d thread(s) by %s, in keyset order, each with its checkpoint in the same transaction", chunks, threads, facts.method))
	if c.cfg.noTargetBinlog {
		steps = append(steps, "write the rows with sql_log_bin=0: the target's replicas do not receive them")
	}
	if c.cfg.deferIndexes {
		steps = append(steps, "add the deferred secondary indexes and foreign keys of each table after its rows")
	}
	steps = append(steps, "check that every target table holds the number of rows its checkpoints count")
	if len(plan.Objects) > 0 {
		steps = append(steps, fmt.Sprintf("create %d view(s), routine(s), trigger(s) and event(s)", len(plan.Objects)))
	}
	switch {
	case facts.binlog && facts.resume:
		steps = append(steps, "keep the first run's source binlog position: the copy is not consistent with it (its rows come from several snapshots)")
	case facts.binlog && c.cfg.snapshot == SnapshotNone:
		steps = append(steps, "record the source binlog file, position and GTID before the first chunk: the copy is not consistent with it (lock-free)")
	case facts.binlog:
		steps = append(steps, "record the source binlog file, position and GTID of the snapshot")
	default:
		steps = append(steps, "source has no binary log: no position is recorded")
	}
	return locks, steps
}
