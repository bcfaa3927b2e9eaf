package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/review"
)

// OnlineAlter changes a table's definition while the application keeps
// reading and writing it, the way gh-ost does: a shadow table
// `_<table>_new` is created with the ALTER applied, the rows are copied
// into it in chunks by the copy engine (each chunk is copied inside the
// server with INSERT ... SELECT, in the transaction of its checkpoint,
// and the shadow's plain secondary indexes are built after the rows),
// then the table's changes since the copy started are applied to it from
// the binary log (the change stream and the applier of a Sync, columns
// matched by name: a dropped column is left out, an added one takes its
// default, generated columns are computed), both tables are checksummed
// on the columns they share with the same definition, and the shadow is
// swapped in. The original is kept as `_<table>_old` (WithDropOld drops
// it).
//
// # Throttling
//
// WithThrottler's Throttler (for example a LoadThrottler, on the
// server's Threads_running and its replicas' lag, which also pauses and
// resumes the change) is consulted before each chunk of the copy and,
// during the catch-up, before each transaction applied to the shadow:
// both write the server (and, through it, its replicas), so both wait
// while it holds, as gh-ost's row copy and binary log apply do. The cut-over waits
// for it before its first lock and is then not held: under its locks the
// application's writes wait for the shadow. Progress.Throttled says why
// a LoadThrottler holds the work. WithRateLimit paces the copy only.
//
// # Cut-over
//
// The swap is gh-ost's atomic two-connection cut-over, on MariaDB and
// MySQL alike. MariaDB refuses RENAME TABLE under LOCK TABLES (ERROR
// 1192), so Spirit's single-connection swap (MySQL 8.0.13+: LOCK TABLES
// t WRITE, shadow WRITE; apply the last changes on the locking
// connection; RENAME TABLE; UNLOCK) is not available there, and on MySQL
// it would need the shadow locked by the connection that holds the lock
// while the applier writes it on its own. Two ALTER TABLE ... RENAME
// statements under LOCK TABLES, which MariaDB accepts, are not one
// atomic swap. The steps:
//
//  1. Verification at a quiet point: the applier catches up without a
//     lock and verify prepares its tables and connections; then LOCK
//     TABLES t READ (writes wait, reads go on), the applier catches up
//     with the binary log position read under the lock (the last
//     moments' writes), verify starts consistent snapshots of both
//     tables and the lock is released at once; the checksums then run on
//     the snapshots while the application writes. A difference, or a
//     shadow table that cannot be compared, stops the change
//     (ErrNotVerified) before the swap.
//  2. The applier catches up again and the RENAME's connection (B
//     below) is set up, without a lock. Two cut-over tables are
//     created: a sentry `<table>_sgs` and a helper `<table>_sgh`.
//     Connection A takes LOCK TABLES t WRITE,
//     `<table>_sgs` WRITE (waiting at most WithCutoverLock's wait; a
//     timeout is retried). Writes and reads of t now wait: the write
//     stall starts.
//  3. The applier catches up with the position read under the lock and
//     the stream stops.
//  4. Connection B runs RENAME TABLE t TO `_<table>_old`, `_<table>_new`
//     TO t, `<table>_sgh` TO `<table>_sgs`, which fails while the sentry
//     exists. The server takes a statement's metadata locks one at a time
//     in the order of their names, so B takes the free names that sort
//     before t, then queues for t itself behind A's lock; A sees it
//     waiting in the process list, drops the sentry (whose name sorts
//     after t: B's place in t's queue does not change) and unlocks. The
//     server grants the queued RENAME's exclusive lock before the
//     application's queued statements, which then run on the new table:
//     no session sees the table missing or the old table after the swap.
//     (gh-ost's sentry is `_<table>_old` itself, which sorts before t: B
//     then waits for the sentry, and once A drops it B still has to wake
//     and queue for t; a statement of the application waiting for t can
//     be granted in between and write the old table after the catch-up.
//     On a loaded MariaDB 10.11 that lost writes; the sentry after t
//     closes the window.)
//  5. If A dies before dropping the sentry, its locks go and the RENAME
//     fails on the sentry: the table is untouched and the cut-over is
//     retried (or the next Run resumes). If A dies after dropping it, the
//     RENAME, queued first, runs: the swap is complete, as the catch-up
//     was.
//  6. The helper, now named as the sentry, is dropped.
//
// Writes pause twice, and both pauses are measured and reported: the
// verification's lock (step 1, from its request to its release) in
// Report.Cutover.VerifyPause, and the swap's stall (step 2 to the
// RENAME's end; the catch-up of what the application wrote in the last
// moments, plus the RENAME) in Report.Cutover.Pause. LongestPause is the
// longest of all, failed attempts included. The catch-up under each lock
// ends once the stream hands over a position that holds the one read
// under the lock; while it waits, the stream hands over the position of
// every transaction it reads, of other tables too (the applier's own
// included), so the wait is for the server's last events to arrive, or,
// when the server is idle and the stream has read them all already, for
// its next heartbeat (250 ms).
//
// # Bytes
//
// The rows' values never leave the server (each chunk is an INSERT ...
// SELECT; the copy engine reads only their keys), so no byte count of
// the copy is measured: Report.Bytes,
// TableReport.Bytes, Progress.Bytes and BytesPerSecond are an estimate,
// the rows copied times the table's average row length when the run
// started (DATA_LENGTH / TABLE_ROWS of information_schema.TABLES, InnoDB's
// sampled statistics; 1 byte a row when they say the table is empty).
// Rows and Chunks are exact. Measuring the bytes would cost another pass
// over every chunk's rows (a sum of the columns' lengths, the BLOB pages
// included) on the server whose load the copy is throttled by; the size
// of the new table is for SHOW TABLE STATUS after the change.
//
// # Rules
//
// Refused before anything changes, with an error naming the table and the
// reason: a table without a primary key (ErrNoKey); triggers on the table
// (ErrTriggers: the new table would not have them, RENAME keeps them on
// the old one); foreign keys of other tables referencing it (ErrReferenced:
// after the swap they would reference `_<table>_old`); an ALTER clause that
// renames the table or a column, drops a foreign key, or does not parse
// (ErrAlterClause). Foreign keys of the table to other tables are kept on
// the shadow under names with a leading underscore toggled (`fk` becomes
// `_fk`, `_fk` becomes `fk`), as InnoDB wants constraint names unique per
// database; Plan names them. Composite and string primary keys, secondary
// unique keys (the stream is replayed with REPLACE, and so is the copy
// when the ALTER keeps the unique keys as they are, so that a unique value
// or a key that moved between rows while the copy ran converges) and
// generated columns are handled. An ALTER that adds or changes a unique
// key copies with INSERT: a duplicate fails the change, as natively, and
// so does a unique value the application moves from a copied row to one
// not copied yet (run it again when the application is quieter).
//
// # Interruptions
//
// When ctx is done, Run stops, drops the shadow (and the cut-over tables) and the
// checkpoint, and returns an error wrapping ctx.Err(): the original table
// is untouched. If the process dies (kill -9), a new Run with the same
// arguments resumes: the copy from its checkpoint (kept in the checkpoint
// database, WithCheckpointDatabase, on the same server), the stream from
// the position saved with the last transaction applied, and a swap that
// happened is recognised and finished; the cut-over tables left by a
// cut-over killed before its swap are dropped once the dead run's waiting
// RENAME is gone (it fails on the sentry, the table untouched). The run
// is recorded in the checkpoint before the shadow is created, and the
// CREATE statement carries this change's marker (the shadow's table
// comment until the checkpoint records the copy's position, then the
// comment the table is to have): a shadow left by a run killed before it
// recorded its position is known by either, and the next run drops it
// and starts over. A table under the shadow's name that neither carries
// the marker nor has this change's checkpoint is never touched: Plan and
// Run refuse it (ErrNotEmpty), Abort leaves it.
// Abort removes what an interrupted change left. Other errors leave the shadow and the
// checkpoint for a resume (or Abort).
//
// A change of the table's definition by someone else while the change
// runs (seen in the binary log from the copy's start to the swap's lock)
// stops Run with an error wrapping ErrSchemaChange that names the
// statement; the table is untouched by the change, and Abort removes the
// shadow before the change is run again.
//
// The server needs binlog_format=ROW, binlog_row_image=FULL,
// binlog_row_metadata=FULL and GTIDs, as a Sync's source; the account
// REPLICATION SLAVE and BINLOG MONITOR besides ALTER, CREATE, DROP, LOCK
// TABLES, SELECT, INSERT, UPDATE and DELETE on the database. Verified on
// MariaDB 10.11; the MySQL flavor is written from its documentation and
// untested.
type OnlineAlter struct {
	dsn                     *mysql.Config
	database, table, clause string
	cfg                     onlineAlterConfig
	checkpoint              *checkpoint.Store

	running runGuard
	mu      sync.Mutex
	phase   Phase
	// hook, set by tests only (export_test.go), is called at Run's named
	// points (SetOnlineAlterHook).
	hook func(point string)
}

var _ Executor = (*OnlineAlter)(nil)

// Errors of an OnlineAlter's Plan.
var (
	// ErrTriggers: the table has triggers.
	ErrTriggers = errors.New("table has triggers")
	// ErrReferenced: foreign keys of other tables reference the table.
	ErrReferenced = errors.New("table is referenced by foreign keys")
	// ErrAlterClause: the ALTER clause cannot be run online (it does not
	// parse, renames the table or a column, drops a foreign key).
	ErrAlterClause = errors.New("ALTER clause cannot run online")
)

// Defaults of an OnlineAlter's cut-over (WithCutoverLock).
const (
	DefaultCutoverLockWait = 2 * time.Second
	DefaultCutoverAttempts = 5
)

// onlineAlterConfig is an OnlineAlter's configuration: the copy engine's
// (config) and its own.
type onlineAlterConfig struct {
	config
	dropOld   bool
	native    bool  // WithNativeMethod
	copyBelow int64 // WithNativeMethod's size under which COPY runs natively
	lockWait  time.Duration
	attempts  int
	serverID  uint32
}

// onlineAlterOption is an option only an OnlineAlter takes.
type onlineAlterOption func(*onlineAlterConfig) error

func (o onlineAlterOption) applyOnlineAlter(c *onlineAlterConfig) error { return o(c) }

// WithDropOld drops `_<table>_old`, the original table, after the swap
// (default: kept, for a quick way back).
func WithDropOld() OnlineAlterOption {
	return onlineAlterOption(func(c *onlineAlterConfig) error { c.dropOld = true; return nil })
}

// WithNativeMethod lets Run change the table natively when review's
// prediction for this server says a native ALTER does not block writes
// for long, with ALGORITHM= and LOCK= spelled out so that a wrong
// prediction fails instead of locking: INSTANT runs with
// "ALGORITHM=INSTANT, LOCK=NONE", INPLACE with "ALGORITHM=INPLACE,
// LOCK=NONE", and COPY with "ALGORITHM=COPY, LOCK=SHARED" (reads go on,
// writes wait for the whole copy) only when the table's data and indexes
// (information_schema.TABLES) are under copyBelowBytes; a COPY on a
// larger table, or no prediction, runs online. 0 never copies natively.
// A native change skips the online method's refusals (triggers, foreign
// keys referencing the table, a table without a primary key, renames):
// the server runs it. Plan.Alter says which method Run will use and why.
// Without this option every change runs online.
func WithNativeMethod(copyBelowBytes int64) OnlineAlterOption {
	return onlineAlterOption(func(c *onlineAlterConfig) error {
		if copyBelowBytes < 0 {
			return optionError("WithNativeMethod", "negative size %d", copyBelowBytes)
		}
		c.native, c.copyBelow = true, copyBelowBytes
		return nil
	})
}

// WithCutoverLock bounds each attempt's wait for the table lock of the
// cut-over (default DefaultCutoverLockWait; the application's statements
// queue behind a waiting lock, so keep it short) and the attempts
// (default DefaultCutoverAttempts).
func WithCutoverLock(wait time.Duration, attempts int) OnlineAlterOption {
	return onlineAlterOption(func(c *onlineAlterConfig) error {
		if wait < time.Second || attempts < 1 {
			return optionError("WithCutoverLock", "wait %s, %d attempts: need at least 1s and 1 attempt", wait, attempts)
		}
		c.lockWait, c.attempts = wait, attempts
		return nil
	})
}

// WithReplicaServerID sets the server id the change stream registers
// with (default: derived from the server, database and table).
func WithReplicaServerID(id uint32) OnlineAlterOption {
	return onlineAlterOption(func(c *onlineAlterConfig) error {
		if id == 0 {
			return optionError("WithReplicaServerID", "server id 0 cannot register as a replica")
		}
		c.serverID = id
		return nil
	})
}

// NewOnlineAlter prepares the change "ALTER TABLE database.table
// alterClause" (alterClause as "ADD COLUMN c INT, ADD INDEX (c)") on the
// server at dsn (a go-sql-driver DSN; its database part is ignored). It
// connects to nothing: call Plan for a dry run.
func NewOnlineAlter(dsn, database, table, alterClause string, opts ...OnlineAlterOption) (*OnlineAlter, error) {
	cfg := onlineAlterConfig{
		config: config{
			executorConfig:   executorConfig{logger: slog.New(slog.DiscardHandler)},
			progressInterval: time.Second,
			copierConfig: copierConfig{threads: 2, memoryBudget: defaultMemoryBudget, chunkTime: defaultChunkTime,
				segmentRows: defaultSegmentRows, checkpointDB: defaultCheckpointDB},
		},
		lockWait: DefaultCutoverLockWait, attempts: DefaultCutoverAttempts,
	}
	name := schema.QualifiedName(database, table)
	if err := applyOptions(opts, OnlineAlterOption.applyOnlineAlter, &cfg); err != nil {
		return nil, fmt.Errorf("migrate: online alter of %s: %w", name, err)
	}
	for _, n := range []struct{ kind, name string }{{"database", database}, {"table", table}} {
		if err := schema.ValidateName(n.kind, n.name); err != nil {
			return nil, fmt.Errorf("migrate: online alter: %w", err)
		}
	}
	if len([]rune(table)) > 64-5 {
		return nil, fmt.Errorf("migrate: online alter of %s: the name is too long for its shadow table `_%s_new` (at most 59 characters)", name, table)
	}
	if strings.TrimSpace(alterClause) == "" {
		return nil, fmt.Errorf("migrate: online alter of %s: %w: empty", name, ErrAlterClause)
	}
	if strings.EqualFold(database, cfg.checkpointDB) {
		return nil, fmt.Errorf("migrate: online alter of %s: the table is in the checkpoint database", name)
	}
	src, err := parseDSN(Source, dsn)
	if err != nil {
		return nil, err
	}
	a := &OnlineAlter{dsn: src, database: database, table: table, clause: strings.TrimSpace(alterClause), cfg: cfg, checkpoint: checkpoint.New(cfg.checkpointDB)}
	if a.cfg.serverID == 0 {
		h := fnv.New32a()
		h.Write([]byte(src.Addr + "/" + database + "." + table))
		a.cfg.serverID = 1<<30 | h.Sum32()>>2
	}
	return a, nil
}

// AlterPlan is what an OnlineAlter's Plan found, in Plan.Alter.
type AlterPlan struct {
	// Statement is the ALTER TABLE as the server would run it natively.
	Statement string `json:"statement"`
	// Algorithm is review's prediction for this server ("INSTANT",
	// "INPLACE", "COPY") and Reason, for COPY, review's reason
	// (its finding ddl.alter-copy).
	Algorithm string `json:"algorithm"`
	Reason    string `json:"reason"`
	// Method is how Run changes the table: "online" or "native"
	// (WithNativeMethod); Why says why. Native is the statement Run
	// runs natively, ALGORITHM= and LOCK= spelled out ("" online).
	Method string `json:"method"`
	Why    string `json:"why"`
	Native string `json:"native,omitempty"`
	// Shadow and Old name the helper tables.
	Shadow string `json:"shadow"`
	Old    string `json:"old"`
	// AddedColumns and DroppedColumns are named by the clause: added
	// columns take their default in rows copied, dropped ones are left
	// out.
	AddedColumns   []string `json:"added_columns,omitempty"`
	DroppedColumns []string `json:"dropped_columns,omitempty"`
	// ParentForeignKeys are the table's foreign keys to other tables, kept
	// on the new table under the names given ("fk -> _fk").
	ParentForeignKeys []string `json:"parent_foreign_keys,omitempty"`
	// Resume says what an interrupted change left: "" (nothing), "copy",
	// "stream" or "swapped".
	Resume string `json:"resume,omitempty"`
}

// alterFacts is what the dry run learned that Run needs.
type alterFacts struct {
	def       *schema.TableDef
	key       keyset.Key
	flavor    string
	algorithm string
	parsed    *ast.AlterTableStmt
	run       *checkpoint.Run    // this change's run, if one was recorded
	stream    *checkpoint.Stream // its stream position, if saved
	shadow    bool               // the shadow table exists
	marked    bool               // it carries this change's marker (shadowComment)
	old       bool               // `_<table>_old` exists
	cutover   []string           // cut-over tables left by an interrupted cut-over
}

// The resume states of AlterPlan.Resume.
const (
	resumeCopy    = "copy"
	resumeStream  = "stream"
	resumeSwapped = "swapped"
)

// resumeState is what an interrupted change left, from the facts.
func (f *alterFacts) resumeState() string {
	switch {
	case f.run == nil:
		return ""
	case !f.shadow && f.old:
		return resumeSwapped
	case !f.shadow || f.run.Position.GTID == "":
		return "" // stopped before the shadow was ready: starts over
	case f.run.State == checkpoint.Done:
		return resumeStream
	}
	return resumeCopy
}

func (a *OnlineAlter) name() string { return schema.QualifiedName(a.database, a.table) }

func (a *OnlineAlter) shadowName() string { return "_" + a.table + "_new" }

func (a *OnlineAlter) oldName() string { return "_" + a.table + "_old" }

// sentryName and helperName name the cut-over's tables (see Cut-over).
// Both sort after the table's name, which is a prefix of them.
func (a *OnlineAlter) sentryName() string { return a.table + "_sgs" }

func (a *OnlineAlter) helperName() string { return a.table + "_sgh" }

// key names this change in the checkpoint: its run, segments and stream.
// It hashes the database, the table and the clause, so that a different
// change of the same table does not resume this one's shadow.
func (a *OnlineAlter) key() string {
	h := fnv.New64a()
	h.Write([]byte(a.database + "\x00" + a.table + "\x00" + a.clause))
	return fmt.Sprintf("osc-%016x", h.Sum64())
}

func (a *OnlineAlter) logger() *slog.Logger { return a.cfg.logger }

// at calls the test hook at point.
func (a *OnlineAlter) at(point string) {
	if a.hook != nil {
		a.hook(point)
	}
}

func (a *OnlineAlter) scope() Scope {
	ep := conn.Endpoint(a.dsn)
	return Scope{Executor: "online-alter", Source: ep, Target: ep, SourceDatabase: a.database, TargetDatabase: a.database}
}

func (a *OnlineAlter) err(object string, err error) error {
	return &EndpointError{Side: Source, Endpoint: conn.Endpoint(a.dsn), Object: object, Err: err}
}

func (a *OnlineAlter) tableErr(err error) error { return a.err("table "+a.name(), err) }

func (a *OnlineAlter) statement() string { return "ALTER TABLE " + a.name() + " " + a.clause }

// Plan connects to the server and checks, changing nothing, that the
// change can run online (see the rules of OnlineAlter), predicts the
// ALTER's algorithm with review, says which method Run will use, what an
// interrupted change left, what is locked and the steps.
func (a *OnlineAlter) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := a.plan(ctx)
	return plan, err
}

func (a *OnlineAlter) plan(ctx context.Context) (*Plan, *alterFacts, error) {
	plan := &Plan{Scope: a.scope()}
	db, err := openSide(ctx, Source, a.dsn, conn.Options{Timeouts: a.cfg.timeouts, MaxConns: 2, Logger: a.logger()})
	if err != nil {
		return plan, nil, err
	}
	defer db.Close()
	return a.planOn(ctx, db, plan)
}

func (a *OnlineAlter) planOn(ctx context.Context, db *sql.DB, plan *Plan) (*Plan, *alterFacts, error) {
	f := &alterFacts{}
	ap := &AlterPlan{Statement: a.statement(), Shadow: a.shadowName(), Old: a.oldName(), Method: "online"}
	plan.Alter = ap
	var problems []error
	var err error
	if f.def, err = schema.LoadTable(ctx, db, a.database, a.table); err != nil {
		return plan, nil, a.tableErr(err)
	}
	if f.flavor, err = serverFlavor(ctx, db); err != nil {
		return plan, nil, a.err(serverFault, err)
	}
	server := review.MySQL80
	if f.flavor == binlog.MariaDB {
		server = review.MariaDB1011
	}
	a.predict(ctx, db, server, f, ap)
	if ap.Method == "native" {
		plan.Tables = []TablePlan{{Name: a.table, TargetName: a.table, Engine: f.def.Engine, Rows: f.def.Rows, DataBytes: f.def.DataLength, IndexBytes: f.def.IndexLength}}
		plan.Locks, plan.Steps = a.describe(ap, false)
		return plan, f, nil
	}
	if f.def.PrimaryKey() == nil {
		problems = append(problems, a.tableErr(fmt.Errorf("%w: an online change needs a primary key to copy and match rows by", ErrNoKey)))
	} else if f.key, err = keyset.ForTable(f.def); err != nil {
		problems = append(problems, a.tableErr(err))
	}
	problems = append(problems, a.checkDependents(ctx, db, f, ap)...)
	if err := a.parse(f, ap); err != nil {
		problems = append(problems, a.tableErr(err))
	}

	// What an interrupted change left.
	if err := a.checkpoint.Check(ctx, db); err != nil {
		return plan, f, a.err("checkpoint", err)
	}
	if f.run, err = a.checkpoint.LoadRun(ctx, db, a.key()); err != nil {
		return plan, f, a.err("checkpoint", err)
	}
	if f.stream, err = a.checkpoint.LoadStream(ctx, db, a.key()); err != nil {
		return plan, f, a.err("checkpoint", err)
	}
	var foreign []string
	if f.shadow, f.marked, f.old, f.cutover, foreign, err = a.helperTables(ctx, db); err != nil {
		return plan, f, a.tableErr(err)
	}
	ap.Resume = f.resumeState()
	if f.shadow && !f.marked && f.run == nil {
		problems = append(problems, a.err("table "+schema.QualifiedName(a.database, a.shadowName()),
			fmt.Errorf("%w: it is not the shadow of this change (another change of the table, or someone else's table: it lacks this change's marker); drop it to go on", ErrNotEmpty)))
	}
	if f.old && ap.Resume != resumeSwapped {
		problems = append(problems, a.err("table "+schema.QualifiedName(a.database, a.oldName()),
			fmt.Errorf("%w: the original would be kept under this name; drop or rename it first", ErrNotEmpty)))
	}
	for _, name := range foreign {
		problems = append(problems, a.err("table "+schema.QualifiedName(a.database, name),
			fmt.Errorf("%w: the cut-over needs this name for a table of its own; drop or rename it first", ErrNotEmpty)))
	}
	if ap.Method == "online" && ap.Resume != resumeSwapped {
		start := ""
		switch {
		case f.stream != nil:
			start = f.stream.Position
		case ap.Resume != "":
			start = f.run.Position.GTID
		}
		_, errs := checkBinlogSource(ctx, db, a.dsn, a.database, f.flavor, start)
		problems = append(problems, errs...)
	}
	plan.Tables = []TablePlan{{Name: a.table, TargetName: a.shadowName(), Engine: f.def.Engine, Rows: f.def.Rows, DataBytes: f.def.DataLength,
		IndexBytes: f.def.IndexLength, TargetExists: f.shadow, Key: f.key.Columns, Resume: ap.Resume == resumeCopy}}
	if ap.Resume == resumeCopy {
		plan.Tables[0].CheckpointRows = f.run.TotalRows()
	}
	plan.Locks, plan.Steps = a.describe(ap, f.shadow && (f.marked || f.run != nil) && ap.Resume == "")
	return plan, f, errors.Join(problems...)
}

// checkDependents refuses triggers and foreign keys that reference the
// table, and lists the table's own foreign keys.
func (a *OnlineAlter) checkDependents(ctx context.Context, db *sql.DB, f *alterFacts, ap *AlterPlan) []error {
	var problems []error
	var triggers []string
	err := scanStrings(ctx, db, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME",
		[]any{a.database, a.table}, &triggers)
	if err != nil {
		return []error{a.tableErr(err)}
	}
	if len(triggers) > 0 {
		problems = append(problems, a.tableErr(fmt.Errorf("%w (%s): the new table would not have them (RENAME keeps them on the old one); drop them for the change and create them again after, or run the ALTER natively",
			ErrTriggers, strings.Join(quoteAll(triggers), ", "))))
	}
	var children []string
	err = scanStrings(ctx, db, `SELECT CONCAT(CONSTRAINT_SCHEMA, '.', TABLE_NAME, '.', CONSTRAINT_NAME) FROM information_schema.REFERENTIAL_CONSTRAINTS
		WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? AND NOT (CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?) ORDER BY 1`,
		[]any{a.database, a.table, a.database, a.table}, &children)
	if err != nil {
		return append(problems, a.tableErr(err))
	}
	if len(children) > 0 {
		problems = append(problems, a.tableErr(fmt.Errorf("%w (%s): after the swap they would reference the old table, and rebuilding them locks the child tables; drop them for the change, or run the ALTER natively",
			ErrReferenced, strings.Join(children, ", "))))
	}
	for _, fk := range f.def.ForeignKeys {
		if fk.RefDatabase == a.database && fk.RefTable == a.table {
			problems = append(problems, a.tableErr(fmt.Errorf("%w: foreign key %s references the table itself", ErrReferenced, schema.QuoteIdent(fk.Name))))
			continue
		}
		ap.ParentForeignKeys = append(ap.ParentForeignKeys, fmt.Sprintf("%s -> %s (references %s)", fk.Name, shadowFKName(fk.Name), schema.QualifiedName(fk.RefDatabase, fk.RefTable)))
	}
	return problems
}

// parse parses the clause and refuses what cannot run on a shadow table.
func (a *OnlineAlter) parse(f *alterFacts, ap *AlterPlan) error {
	stmt, err := parser.New().ParseOneStmt("ALTER TABLE "+schema.QuoteIdent(a.table)+" "+a.clause, "", "")
	if err != nil {
		return fmt.Errorf("%w: %q does not parse: %w", ErrAlterClause, a.clause, err)
	}
	alter, ok := stmt.(*ast.AlterTableStmt)
	if !ok {
		return fmt.Errorf("%w: %q is not one ALTER TABLE clause list", ErrAlterClause, a.clause)
	}
	f.parsed = alter
	for _, s := range alter.Specs {
		switch s.Tp {
		case ast.AlterTableRenameTable:
			return fmt.Errorf("%w: RENAME TO: rename the table natively", ErrAlterClause)
		case ast.AlterTableRenameColumn:
			return fmt.Errorf("%w: RENAME COLUMN %s: columns are matched by name; rename it natively (it is INSTANT)", ErrAlterClause, s.OldColumnName.Name.O)
		case ast.AlterTableChangeColumn:
			if len(s.NewColumns) > 0 && s.OldColumnName != nil && !strings.EqualFold(s.OldColumnName.Name.O, s.NewColumns[0].Name.Name.O) {
				return fmt.Errorf("%w: CHANGE COLUMN %s renames it to %s: columns are matched by name; rename it natively (it is INSTANT), change its type with MODIFY",
					ErrAlterClause, s.OldColumnName.Name.O, s.NewColumns[0].Name.Name.O)
			}
		case ast.AlterTableDropForeignKey:
			return fmt.Errorf("%w: DROP FOREIGN KEY %s: the shadow's foreign keys have other names; drop it natively (it is INPLACE)", ErrAlterClause, s.Name)
		case ast.AlterTableAddColumns:
			for _, c := range s.NewColumns {
				ap.AddedColumns = append(ap.AddedColumns, c.Name.Name.O)
			}
		case ast.AlterTableDropColumn:
			ap.DroppedColumns = append(ap.DroppedColumns, s.OldColumnName.Name.O)
		}
	}
	return nil
}

// predict asks review how the server would run the ALTER and chooses the
// method.
func (a *OnlineAlter) predict(ctx context.Context, db *sql.DB, server review.Server, f *alterFacts, ap *AlterPlan) {
	ap.Algorithm, ap.Why = "", "online by default: the table stays writable, the swap stalls writes briefly"
	cat, err := review.NewLiveCatalog(db)
	if err == nil {
		var rv *review.Reviewer
		if rv, err = review.New(review.WithCatalog(cat), review.WithDefaultDatabase(a.database), review.WithServer(server)); err == nil {
			var res *review.Result
			if res, err = rv.Review(ctx, a.statement()); err == nil && len(res.Statements) == 1 {
				st := res.Statements[0]
				ap.Algorithm = st.Algorithm
				if i := slices.IndexFunc(st.Findings, func(f review.Finding) bool { return f.Rule == "ddl.alter-copy" }); i >= 0 {
					ap.Reason = st.Findings[i].Message
				}
			}
		}
	}
	if err != nil {
		a.logger().Warn("online alter: review could not predict the algorithm", "table", a.name(), "err", err)
	}
	f.algorithm = ap.Algorithm
	size := f.def.DataLength + f.def.IndexLength
	switch {
	case !a.cfg.native && ap.Algorithm != "":
		ap.Why = "review predicts " + ap.Algorithm + ": run online (WithNativeMethod would run INSTANT and INPLACE natively)"
	case !a.cfg.native:
	case ap.Algorithm == "INSTANT" || ap.Algorithm == "INPLACE":
		spelled := "ALGORITHM=" + ap.Algorithm + ", LOCK=NONE"
		if ap.Algorithm == "INSTANT" && f.flavor != binlog.MariaDB {
			spelled = "ALGORITHM=INSTANT" // MySQL refuses any LOCK= but DEFAULT with INSTANT, which takes none
		}
		ap.Method, ap.Native = "native", a.statement()+", "+spelled
		ap.Why = "review predicts " + ap.Algorithm + " without a lock: run natively with " + spelled + " (the server refuses rather than locks if the prediction is wrong)"
	case ap.Algorithm == "COPY" && size < a.cfg.copyBelow:
		ap.Method, ap.Native = "native", a.statement()+", ALGORITHM=COPY, LOCK=SHARED"
		ap.Why = fmt.Sprintf("review predicts COPY, and the table (%d bytes of data and indexes) is under the %d bytes WithNativeMethod copies natively: run natively with ALGORITHM=COPY, LOCK=SHARED (writes wait for the copy)", size, a.cfg.copyBelow)
	case ap.Algorithm == "COPY":
		ap.Why = fmt.Sprintf("review predicts COPY (writes blocked for the whole copy) on a table of %d bytes of data and indexes, not under the %d bytes WithNativeMethod copies natively: run online", size, a.cfg.copyBelow)
	}
}

// helperTables reports which of the change's tables exist: the shadow
// (marked: with this change's marker, shadowComment), `_<table>_old`, the
// cut-over tables (marked by their comment), and tables under a cut-over
// table's name that are not one (foreign).
func (a *OnlineAlter) helperTables(ctx context.Context, q schema.Querier) (shadow, marked, old bool, cutover, foreign []string, err error) {
	rows, err := q.QueryContext(ctx, "SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?, ?)",
		a.database, a.shadowName(), a.oldName(), a.sentryName(), a.helperName())
	if err != nil {
		return false, false, false, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			return false, false, false, nil, nil, err
		}
		switch {
		case name == a.shadowName():
			shadow, marked = true, comment == a.shadowComment()
		case name == a.oldName():
			old = true
		case comment == cutoverComment:
			cutover = append(cutover, name)
		default:
			foreign = append(foreign, name)
		}
	}
	return shadow, marked, old, cutover, foreign, rows.Err()
}

// describe says what Run locks and does; leftover tells that a run killed
// before it recorded its position left the shadow.
func (a *OnlineAlter) describe(ap *AlterPlan, leftover bool) (locks, steps []string) {
	if ap.Method == "native" {
		lock := "the server's own: a metadata lock at the start and the end (" + ap.Algorithm + ", LOCK=NONE: writes go on)"
		if ap.Algorithm == "COPY" {
			lock = "the server's own: LOCK=SHARED for the whole copy (reads go on, writes wait)"
		}
		return []string{lock}, []string{"run " + ap.Native}
	}
	locks = []string{
		fmt.Sprintf("at verification: LOCK TABLES %s READ (writes wait) until the stream caught up and the snapshots are open", a.name()),
		fmt.Sprintf("at the swap: LOCK TABLES %s WRITE (reads and writes wait, at most %s to get it, %d attempts) until the stream caught up and the RENAME ran", a.name(), a.cfg.lockWait, a.cfg.attempts),
	}
	switch ap.Resume {
	case resumeSwapped:
		return nil, []string{"the swap of an interrupted run happened: finish it (forget the checkpoint" + map[bool]string{true: ", drop " + ap.Old, false: ""}[a.cfg.dropOld] + ")"}
	case resumeCopy:
		steps = append(steps, "resume the copy into "+ap.Shadow+" from its checkpoint, add the secondary indexes")
	case resumeStream:
		steps = append(steps, "resume the stream into "+ap.Shadow+" from its saved position")
	default:
		if leftover {
			steps = append(steps, "drop "+ap.Shadow+", left by a run of this change killed before it recorded its position")
		}
		steps = append(steps, "record the run, create "+ap.Shadow+" like "+a.table+" (foreign keys renamed), run the ALTER on it and drop its plain secondary indexes",
			"record the binary log position, copy the rows in chunks inside the server (each with its checkpoint), add the secondary indexes")
	}
	if ap.Resume != resumeStream {
		steps = append(steps, "apply the table's changes since the copy started to "+ap.Shadow+" from the binary log")
	}
	steps = append(steps, "checksum both tables on their shared columns at a quiet point",
		"swap: "+a.table+" becomes "+ap.Old+", "+ap.Shadow+" becomes "+a.table+" (one RENAME queued behind a lock; the cut-over tables "+a.sentryName()+" and "+a.helperName()+" exist for milliseconds)")
	if a.cfg.dropOld {
		steps = append(steps, "drop "+ap.Old)
	}
	return locks, steps
}

// shadowFKName is the name of foreign key name on the shadow table: the
// leading underscore toggled.
func shadowFKName(name string) string {
	if strings.HasPrefix(name, "_") {
		return name[1:]
	}
	return "_" + name
}

// scanStrings appends the first column of query's rows to out.
func scanStrings(ctx context.Context, q schema.Querier, query string, args []any, out *[]string) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

func quoteAll(names []string) []string {
	out := slices.Clone(names)
	for i, n := range out {
		out[i] = schema.QuoteIdent(n)
	}
	return out
}

// Phase is the phase of the running (or last) Run.
func (a *OnlineAlter) Phase() Phase {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.phase
}

func (a *OnlineAlter) setPhase(p Phase) {
	a.mu.Lock()
	a.phase = p
	a.mu.Unlock()
}
