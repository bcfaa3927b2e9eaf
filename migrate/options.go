package migrate

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Options are checked at compile time against the constructor they are
// given to, in the style of pressly/goose: each constructor takes its own
// option interface (PipeOption, CopierOption, StatementsOption). An option
// that one executor takes has that executor's type; an option that several
// take has a type that satisfies each of their interfaces (CopyOption for
// Pipe and Copier, ExecutorOption for all three). WithThreads given to
// NewPipe does not compile. Options validate their arguments, constructors
// check them against each other, and a constructor returns the first
// error, an *OptionError naming the option.

// PipeOption configures a Pipe (NewPipe).
type PipeOption interface {
	applyPipe(*config) error
}

// CopierOption configures a Copier (NewCopier). Each is also a
// SyncOption: it configures a Sync's snapshot copy.
type CopierOption interface {
	applyCopier(*config) error
	SyncOption
}

// StatementsOption configures a Statements executor (NewStatements).
type StatementsOption interface {
	applyStatements(*Statements) error
}

// SplitOption configures a Split (NewSplit).
type SplitOption interface {
	applySplit(*config) error
}

// MergeOption configures a Merge (NewMerge).
type MergeOption interface {
	applyMerge(*config) error
}

// EngineOption is an option of the executors that copy with the copy
// engine (chunked reads, checkpoints): it is a CopierOption, a
// SplitOption and a MergeOption.
type EngineOption interface {
	CopierOption
	SplitOption
	MergeOption
}

// RowsOption is an option of every executor that copies rows into tables
// it creates: Pipe, Copier, Split and Merge.
type RowsOption interface {
	CopyOption
	SplitOption
	MergeOption
}

// OnlineAlterOption configures an OnlineAlter (NewOnlineAlter).
type OnlineAlterOption interface {
	applyOnlineAlter(*onlineAlterConfig) error
}

// ChunkOption is an option of every executor that copies with the copy
// engine, the online schema change included: it is an EngineOption and an
// OnlineAlterOption.
type ChunkOption interface {
	EngineOption
	OnlineAlterOption
}

// CopyOption is an option both copy executors take: it is a PipeOption
// and a CopierOption.
type CopyOption interface {
	PipeOption
	CopierOption
}

// ExecutorOption is an option every executor takes: it is a RowsOption
// and a StatementsOption.
type ExecutorOption interface {
	RowsOption
	StatementsOption
	OnlineAlterOption
}

// copyOption is an option of Pipe and Copier.
type copyOption func(*config) error

func (o copyOption) applyPipe(c *config) error   { return o(c) }
func (o copyOption) applyCopier(c *config) error { return o(c) }

// executorOption is an option of every executor.
type executorOption func(*executorConfig) error

func (o executorOption) applyPipe(c *config) error           { return o(&c.executorConfig) }
func (o executorOption) applyCopier(c *config) error         { return o(&c.executorConfig) }
func (o executorOption) applyStatements(s *Statements) error { return o(&s.executorConfig) }
func (o executorOption) applySplit(c *config) error          { return o(&c.executorConfig) }
func (o executorOption) applyMerge(c *config) error          { return o(&c.executorConfig) }
func (o executorOption) applyOnlineAlter(c *onlineAlterConfig) error {
	return o(&c.executorConfig)
}

// engineOption is an option of Copier and Split.
type engineOption func(*config) error

func (o engineOption) applyCopier(c *config) error { return o(c) }
func (o engineOption) applySplit(c *config) error  { return o(c) }
func (o engineOption) applyMerge(c *config) error  { return o(c) }

// rowsOption is an option of Pipe, Copier, Split and Merge.
type rowsOption func(*config) error

func (o rowsOption) applyPipe(c *config) error   { return o(c) }
func (o rowsOption) applyCopier(c *config) error { return o(c) }
func (o rowsOption) applySplit(c *config) error  { return o(c) }
func (o rowsOption) applyMerge(c *config) error  { return o(c) }

// chunkOption is an option of Copier, Split and OnlineAlter.
type chunkOption func(*config) error

func (o chunkOption) applyCopier(c *config) error                 { return o(c) }
func (o chunkOption) applySplit(c *config) error                  { return o(c) }
func (o chunkOption) applyMerge(c *config) error                  { return o(c) }
func (o chunkOption) applyOnlineAlter(c *onlineAlterConfig) error { return o(&c.config) }

// splitOption is an option only a Split takes.
type splitOption func(*config) error

func (o splitOption) applySplit(c *config) error { return o(c) }

// pipeOption is an option only a Pipe takes.
type pipeOption func(*config) error

func (o pipeOption) applyPipe(c *config) error { return o(c) }

// copierOption is an option only a Copier takes.
type copierOption func(*config) error

func (o copierOption) applyCopier(c *config) error { return o(c) }

// statementsOption is an option only a Statements executor takes.
type statementsOption func(*Statements) error

func (o statementsOption) applyStatements(s *Statements) error { return o(s) }

// applyOptions applies opts to target in order with apply (an option
// interface's method) and returns the first error; a nil option is one.
func applyOptions[O comparable, T any](opts []O, apply func(O, T) error, target T) error {
	var none O
	for _, o := range opts {
		if o == none {
			return errors.New("nil option")
		}
		if err := apply(o, target); err != nil {
			return err
		}
	}
	return nil
}

// executorConfig is the configuration every executor holds.
type executorConfig struct {
	logger   *slog.Logger
	timeouts conn.Timeouts // WithTimeouts; zero fields take conn's defaults
}

// config is the configuration of Pipe and Copier: the fields their shared
// options set, the Pipe's own fields and the Copier's (copierConfig).
type config struct {
	executorConfig
	tables           []string
	targetDatabase   string
	replace          bool
	skip             map[ObjectKind]bool
	charset          string
	dumpProgram      string
	loadProgram      string
	tempDir          string
	progressInterval time.Duration

	copierConfig
	keyExpr string // WithKeyExpression
}

// OptionError is an option given a value it does not take, or that
// conflicts with another option. Option names it ("WithThreads"), so that
// a program that sets options from its own input (command-line flags) can
// name that input instead.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

func optionError(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// WithTables copies only the named tables (or views) of the source database
// instead of all of it. Triggers of those tables are copied with them;
// routines and events belong to the database and are not.
func WithTables(names ...string) CopyOption {
	return copyOption(func(c *config) error {
		if len(names) == 0 {
			return optionError("WithTables", "no table named")
		}
		seen := map[string]bool{}
		for _, n := range names {
			if err := schema.ValidateName("table", n); err != nil {
				return optionError("WithTables", "%w", err)
			}
			if seen[n] {
				return optionError("WithTables", "table %q named twice", n)
			}
			seen[n] = true
		}
		c.tables = append([]string(nil), names...)
		return nil
	})
}

// WithTargetDatabase writes into a database of another name on the target
// (by default the source database's name). It is created, with the source
// database's character set and collation, if it does not exist.
func WithTargetDatabase(name string) CopyOption {
	return copyOption(func(c *config) error {
		if err := schema.ValidateName("target database", name); err != nil {
			return optionError("WithTargetDatabase", "%w", err)
		}
		c.targetDatabase = name
		return nil
	})
}

// WithReplace allows the copy to drop and replace target tables that already
// hold rows (a Split's shard tables, a Merge's target table). Without it
// such tables make Plan and Run fail with ErrNotEmpty before anything is
// changed. It never drops the tables of a copy it resumes.
func WithReplace() RowsOption {
	return rowsOption(func(c *config) error { c.replace = true; return nil })
}

// WithoutObjects leaves the given kinds of schema object out of the copy.
// By default views, procedures, functions, triggers and events are copied.
// Procedures and functions can only be skipped together.
func WithoutObjects(kinds ...ObjectKind) CopyOption {
	return copyOption(func(c *config) error {
		for _, k := range kinds {
			switch k {
			case KindView, KindTrigger, KindEvent:
				c.skip[k] = true
			case KindProcedure, KindFunction:
				c.skip[KindProcedure], c.skip[KindFunction] = true, true
			default:
				return optionError("WithoutObjects", "unknown object kind %q", k)
			}
		}
		return nil
	})
}

// WithCharset sets the connection character set of both clients
// (default utf8mb4).
func WithCharset(charset string) PipeOption {
	return pipeOption(func(c *config) error {
		if charset == "" {
			return optionError("WithCharset", "empty character set")
		}
		for _, r := range charset {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return optionError("WithCharset", "%q is not a character set name", charset)
			}
		}
		c.charset = charset
		return nil
	})
}

// WithClientPrograms sets the dump and load programs instead of looking up
// mariadb-dump (or mysqldump) and mariadb (or mysql) on PATH. An empty
// string keeps the lookup for that side.
func WithClientPrograms(dump, load string) PipeOption {
	return pipeOption(func(c *config) error {
		c.dumpProgram, c.loadProgram = dump, load
		return nil
	})
}

// WithTempDir sets the directory in which Run looks for the option files
// holding credentials that earlier versions left behind when killed, and
// removes them (default: the system temp directory). Credentials are no
// longer written to files.
func WithTempDir(dir string) PipeOption {
	return pipeOption(func(c *config) error {
		if dir == "" {
			return optionError("WithTempDir", "empty directory")
		}
		c.tempDir = dir
		return nil
	})
}

// WithLogger sets the logger of any executor (default: discard).
// Credentials are never logged.
func WithLogger(l *slog.Logger) ExecutorOption {
	return executorOption(func(c *executorConfig) error {
		if l == nil {
			return optionError("WithLogger", "nil logger")
		}
		c.logger = l
		return nil
	})
}

// Default connection timeouts of every executor (WithTimeouts).
const (
	DefaultConnectTimeout = conn.DefaultConnectTimeout
	DefaultWriteTimeout   = conn.DefaultWriteTimeout
)

// WithTimeouts bounds the connections an executor opens to either server.
// connect bounds the TCP dial plus the protocol handshake of each
// connection (default DefaultConnectTimeout, 10s); write bounds each
// packet sent (default DefaultWriteTimeout, 60s); read bounds each packet
// awaited on the connections that run only short statements: the dry
// run's and a Copier's source readers (default: none). Connections that
// run statements the server may work on for long before it answers (a
// chunk's commit, ALTER TABLE, the statements of a Statements executor)
// are bounded by the context (and WithStatementTimeout) instead. A zero
// argument keeps that default. A failure names the endpoint and what timed
// out, and wraps ErrTimeout. A Pipe's client programs are held to the same
// connect timeout.
func WithTimeouts(connect, read, write time.Duration) ExecutorOption {
	return executorOption(func(c *executorConfig) error {
		if connect < 0 || read < 0 || write < 0 {
			return optionError("WithTimeouts", "connect %v, read %v, write %v: a timeout is not negative (0 keeps the default)", connect, read, write)
		}
		c.timeouts = conn.Timeouts{Connect: connect, Read: read, Write: write}
		return nil
	})
}

// WithProgressInterval sets how often Run reports progress between table
// boundaries (default 1s).
func WithProgressInterval(d time.Duration) RowsOption {
	return rowsOption(func(c *config) error {
		if d <= 0 {
			return optionError("WithProgressInterval", "%v is not positive", d)
		}
		c.progressInterval = d
		return nil
	})
}

// copierConfig holds the options that only a Copier takes.
type copierConfig struct {
	threads        int
	snapshot       SnapshotMode
	writeMethod    WriteMethod
	deferIndexes   bool
	keylessMaxRows int64
	throttler      Throttler
	rowsPerSecond  float64
	bytesPerSecond float64
	memoryBudget   int64
	chunkTime      time.Duration
	chunkRows      int
	segmentRows    int
	tableNames     map[string]string
	checkpointDB   string
	noTargetBinlog bool
}

// SnapshotMode says how a Copier's readers see the source.
type SnapshotMode int

const (
	// SnapshotConsistent (the default): every reader connection opens a
	// consistent-snapshot transaction at one point, aligned by blocking
	// commits on the source (MariaDB BACKUP STAGE BLOCK_COMMIT) for the few
	// milliseconds the transactions take to start. The copy is the source
	// at that point, and the report carries its binlog position and GTID.
	// Needs the RELOAD privilege on the source.
	SnapshotConsistent SnapshotMode = iota
	// SnapshotNone takes no lock at all: every chunk is read in its own
	// short transaction, so rows written during the copy may or may not be
	// in it. The report's position is the one at the start, and
	// Report.Consistent is false: a binlog sync from there must replay
	// idempotently.
	SnapshotNone
)

func (m SnapshotMode) String() string {
	if m == SnapshotNone {
		return "lock-free"
	}
	return "consistent"
}

// WriteMethod says how a Copier writes rows to the target.
type WriteMethod int

const (
	// WriteLoadData streams each chunk as LOAD DATA LOCAL INFILE from
	// memory (the default; it needs local_infile=ON on the target, and
	// falls back to WriteInsert when it is OFF). It is the faster: in the
	// benchmark (4.2M rows, 464 MiB, 4 threads, 2 cores; median of 3 runs)
	// 11.85 s against 14.49 s for WriteInsert (18% less time), because the
	// server parses a tab-separated stream instead of SQL literals, and the
	// chunk is sent as it is, 16 KiB at a time, with no statement to build.
	WriteLoadData WriteMethod = iota
	// WriteInsert sends each chunk as multi-row INSERT statements.
	WriteInsert
)

func (m WriteMethod) String() string {
	if m == WriteInsert {
		return "insert"
	}
	return "load-data"
}

// WithTableNames gives target tables other names than their source
// tables: a map from source name to target name (Copier only). Foreign
// keys between copied tables follow the renames; views, routines and
// trigger bodies are copied as written.
func WithTableNames(names map[string]string) CopierOption {
	return copierOption(func(c *config) error {
		seen := map[string]string{}
		c.tableNames = map[string]string{}
		for src, dst := range names {
			if err := schema.ValidateName("table", src); err != nil {
				return optionError("WithTableNames", "%w", err)
			}
			if err := schema.ValidateName("target table", dst); err != nil {
				return optionError("WithTableNames", "%w", err)
			}
			if other, ok := seen[strings.ToLower(dst)]; ok {
				return optionError("WithTableNames", "tables %q and %q both renamed to %q", other, src, dst)
			}
			seen[strings.ToLower(dst)] = src
			c.tableNames[src] = dst
		}
		return nil
	})
}

// WithThreads sets how many chunks a Copier copies at once (default 4):
// each thread holds one source reader connection and one target writer
// connection. Threads go to different tables first: writers into one
// table contend for its indexes. With both servers on 2 cores the benchmark data copied in
// 10.2 s with 2 threads and 10.7 s with 4 (single runs).
func WithThreads(n int) ChunkOption {
	return chunkOption(func(c *config) error {
		if n < 1 || n > 64 {
			return optionError("WithThreads", "%d is not between 1 and 64", n)
		}
		c.threads = n
		return nil
	})
}

// WithSnapshot sets how a Copier reads the source (default
// SnapshotConsistent).
func WithSnapshot(mode SnapshotMode) EngineOption {
	return engineOption(func(c *config) error {
		if mode != SnapshotConsistent && mode != SnapshotNone {
			return optionError("WithSnapshot", "unknown mode %d", mode)
		}
		c.snapshot = mode
		return nil
	})
}

// WithWriteMethod sets how a Copier writes rows (default WriteLoadData).
func WithWriteMethod(m WriteMethod) CopierOption {
	return copierOption(func(c *config) error {
		if m != WriteLoadData && m != WriteInsert {
			return optionError("WithWriteMethod", "unknown method %d", m)
		}
		c.writeMethod = m
		return nil
	})
}

// WithDeferredIndexes says whether a Copier creates the target tables
// without their secondary indexes and foreign keys and adds them with one
// ALTER TABLE once a table's rows are in (the default), or creates the
// tables whole. A Split defers the secondary indexes of its shard tables
// the same way (each added once every chunk is in), a Merge those of its
// target table. Deferred, the rows go into the clustered index alone and
// InnoDB builds each secondary index by sorting, which is faster: in the
// benchmark (4.2M rows, 2 cores, 2 threads) the target spent 14
// CPU-seconds instead of 20. Indexes that identify rows or that another
// table's foreign key references are kept; foreign keys are added
// unchecked (foreign_key_checks=0), like the rows, which come from a
// source that held them. A unique index the rows violate fails that ALTER TABLE,
// naming the table.
func WithDeferredIndexes(deferred bool) EngineOption {
	return engineOption(func(c *config) error {
		c.deferIndexes = deferred
		return nil
	})
}

// WithKeylessTables lets a Copier copy tables without a primary key or
// unique NOT NULL key, as one chunk, when they hold at most maxRows rows.
// Without it such tables are an error naming them.
func WithKeylessTables(maxRows int64) CopierOption {
	return copierOption(func(c *config) error {
		if maxRows < 1 {
			return optionError("WithKeylessTables", "%d rows is not positive", maxRows)
		}
		c.keylessMaxRows = maxRows
		return nil
	})
}

// WithThrottler has a Copier consult t before reading every chunk (an
// OnlineAlter also before applying each transaction of its catch-up).
func WithThrottler(t Throttler) ChunkOption {
	return chunkOption(func(c *config) error {
		if t == nil {
			return optionError("WithThrottler", "nil throttler")
		}
		c.throttler = t
		return nil
	})
}

// WithRateLimit caps a Copier's speed over all threads: at most
// rowsPerSecond rows and bytesPerSecond bytes per second; 0 leaves that
// measure unlimited.
func WithRateLimit(rowsPerSecond, bytesPerSecond float64) ChunkOption {
	return chunkOption(func(c *config) error {
		if rowsPerSecond < 0 || bytesPerSecond < 0 || rowsPerSecond == 0 && bytesPerSecond == 0 {
			return optionError("WithRateLimit", "%v rows/s and %v bytes/s: give one positive limit", rowsPerSecond, bytesPerSecond)
		}
		c.rowsPerSecond, c.bytesPerSecond = rowsPerSecond, bytesPerSecond
		return nil
	})
}

// WithMemoryBudget bounds the memory a Copier uses (default 256 MiB): an
// eighth of it holds encoded rows in flight, shared by all threads, and the
// rest covers the driver's buffers, garbage between collections and the Go
// runtime (with the default GOGC=100). A single row larger than a thread's
// share is still copied, alone in its chunk, and needs about three times
// its size on top.
func WithMemoryBudget(bytes int64) ChunkOption {
	return chunkOption(func(c *config) error {
		if bytes < 16<<20 {
			return optionError("WithMemoryBudget", "%d bytes is below 16 MiB", bytes)
		}
		c.memoryBudget = bytes
		return nil
	})
}

// WithChunkTime sets the time a chunk should take (default 500ms): chunk
// sizes adapt to it, within the memory budget.
func WithChunkTime(d time.Duration) ChunkOption {
	return chunkOption(func(c *config) error {
		if d < time.Millisecond {
			return optionError("WithChunkTime", "%v is below 1ms", d)
		}
		c.chunkTime = d
		return nil
	})
}

// WithChunkRows fixes the rows per chunk instead of adapting them to the
// chunk time (the memory budget still cuts a chunk short).
func WithChunkRows(n int) ChunkOption {
	return chunkOption(func(c *config) error {
		if n < 1 {
			return optionError("WithChunkRows", "%d is not positive", n)
		}
		c.chunkRows = n
		return nil
	})
}

// WithSegmentRows sets how many rows of a large table make one segment
// (default 250,000): segments of a table are copied in parallel, each with
// its own checkpoint.
func WithSegmentRows(n int) ChunkOption {
	return chunkOption(func(c *config) error {
		if n < 1 {
			return optionError("WithSegmentRows", "%d is not positive", n)
		}
		c.segmentRows = n
		return nil
	})
}

// WithCheckpointDatabase names the target database that holds a Copier's
// checkpoints (default "_shiftgate").
func WithCheckpointDatabase(name string) ChunkOption {
	return chunkOption(func(c *config) error {
		if err := schema.ValidateName("checkpoint database", name); err != nil {
			return optionError("WithCheckpointDatabase", "%w", err)
		}
		c.checkpointDB = name
		return nil
	})
}

// WithoutTargetBinlog writes the rows on the target with sql_log_bin=0
// (Copier only), as myloader does by default: the target's replicas do not
// receive them, and the target has less to write (in the benchmark 10.77 s
// instead of 11.85 s as the median of 3 runs). Use it when the target has no replicas or they are
// seeded separately. Needs BINLOG ADMIN (or SUPER) on the target.
func WithoutTargetBinlog() EngineOption {
	return engineOption(func(c *config) error {
		c.noTargetBinlog = true
		return nil
	})
}

// WithKeyExpression has a Split route each row on the value of expr, an
// SQL expression over the source table's columns that the source
// evaluates (for example "LOWER(name)"), instead of the key column's
// value. An expression of an integer type routes as an integer key, any
// other as a string key (its text).
func WithKeyExpression(expr string) SplitOption {
	return splitOption(func(c *config) error {
		if strings.TrimSpace(expr) == "" {
			return optionError("WithKeyExpression", "empty expression")
		}
		c.keyExpr = expr
		return nil
	})
}
