package migrate

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Option configures a Pipe or a Copier. Options validate their arguments;
// NewPipe and NewCopier return the first error. An option that does not
// apply to the executor being built (WithThreads for a Pipe, WithCharset
// for a Copier) is an error at construction too.
type Option func(*config) error

// executorKind names the executor a config is built for.
type executorKind string

const (
	kindPipe   executorKind = "pipe"
	kindCopier executorKind = "copier"
)

// config is the configuration shared by Pipe and Copier; each option says
// which of them it applies to.
type config struct {
	kind             executorKind
	tables           []string
	targetDatabase   string
	replace          bool
	skip             map[ObjectKind]bool
	charset          string
	dumpProgram      string
	loadProgram      string
	tempDir          string
	logger           *slog.Logger
	progressInterval time.Duration
	timeouts         conn.Timeouts

	copierConfig
}

// OptionError is an option given a value it does not take, or given to an
// executor it does not apply to. Option names it ("WithThreads"), so that
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

// only restricts an option to one executor: it fails when the config is
// built for another.
func only(c *config, want executorKind, option string) error {
	if c.kind != want {
		return optionError(option, "option does not apply to a %s (only to a %s)", executorName(c.kind), executorName(want))
	}
	return nil
}

func executorName(k executorKind) string {
	if k == kindCopier {
		return "Copier"
	}
	return "Pipe"
}

// WithTables copies only the named tables (or views) of the source database
// instead of all of it. Triggers of those tables are copied with them;
// routines and events belong to the database and are not.
func WithTables(names ...string) Option {
	return func(c *config) error {
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
	}
}

// WithTargetDatabase writes into a database of another name on the target
// (by default the source database's name). It is created, with the source
// database's character set and collation, if it does not exist.
func WithTargetDatabase(name string) Option {
	return func(c *config) error {
		if err := schema.ValidateName("target database", name); err != nil {
			return optionError("WithTargetDatabase", "%w", err)
		}
		c.targetDatabase = name
		return nil
	}
}

// WithReplace allows the copy to drop and replace target tables that already
// hold rows. Without it such tables make Plan and Run fail with ErrNotEmpty
// before anything is changed.
func WithReplace() Option {
	return func(c *config) error { c.replace = true; return nil }
}

// WithoutObjects leaves the given kinds of schema object out of the copy.
// By default views, procedures, functions, triggers and events are copied.
// Procedures and functions can only be skipped together.
func WithoutObjects(kinds ...ObjectKind) Option {
	return func(c *config) error {
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
	}
}

// WithCharset sets the connection character set of both clients
// (default utf8mb4).
func WithCharset(charset string) Option {
	return func(c *config) error {
		if err := only(c, kindPipe, "WithCharset"); err != nil {
			return err
		}
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
	}
}

// WithClientPrograms sets the dump and load programs instead of looking up
// mariadb-dump (or mysqldump) and mariadb (or mysql) on PATH. An empty
// string keeps the lookup for that side.
func WithClientPrograms(dump, load string) Option {
	return func(c *config) error {
		if err := only(c, kindPipe, "WithClientPrograms"); err != nil {
			return err
		}
		c.dumpProgram, c.loadProgram = dump, load
		return nil
	}
}

// WithTempDir sets the directory in which Run looks for the option files
// holding credentials that earlier versions left behind when killed, and
// removes them (default: the system temp directory). Credentials are no
// longer written to files.
func WithTempDir(dir string) Option {
	return func(c *config) error {
		if err := only(c, kindPipe, "WithTempDir"); err != nil {
			return err
		}
		if dir == "" {
			return optionError("WithTempDir", "empty directory")
		}
		c.tempDir = dir
		return nil
	}
}

// WithLogger sets the logger (default: discard). Credentials are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return optionError("WithLogger", "nil logger")
		}
		c.logger = l
		return nil
	}
}

// Default connection timeouts of Pipe and Copier (WithTimeouts).
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
// chunk's commit, ALTER TABLE) are bounded by the context instead. A zero
// argument keeps that default. A failure names the endpoint and what timed
// out, and wraps ErrTimeout. A Pipe's client programs are held to the same
// connect timeout.
func WithTimeouts(connect, read, write time.Duration) Option {
	return func(c *config) error {
		if connect < 0 || read < 0 || write < 0 {
			return optionError("WithTimeouts", "connect %v, read %v, write %v: a timeout is not negative (0 keeps the default)", connect, read, write)
		}
		c.timeouts = conn.Timeouts{Connect: connect, Read: read, Write: write}
		return nil
	}
}

// WithProgressInterval sets how often Run reports progress between table
// boundaries (default 1s).
func WithProgressInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optionError("WithProgressInterval", "%v is not positive", d)
		}
		c.progressInterval = d
		return nil
	}
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
	// 11.65 s against 14.77 s for WriteInsert (21% less time), because the
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
func WithTableNames(names map[string]string) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithTableNames"); err != nil {
			return err
		}
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
	}
}

// WithThreads sets how many chunks a Copier copies at once (default 4):
// each thread holds one source reader connection and one target writer
// connection. Threads go to different tables first: writers into one
// table contend for its indexes. With both servers on 2 cores the benchmark data copied in
// 10.2 s with 2 threads and 10.7 s with 4 (single runs).
func WithThreads(n int) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithThreads"); err != nil {
			return err
		}
		if n < 1 || n > 64 {
			return optionError("WithThreads", "%d is not between 1 and 64", n)
		}
		c.threads = n
		return nil
	}
}

// WithSnapshot sets how a Copier reads the source (default
// SnapshotConsistent).
func WithSnapshot(mode SnapshotMode) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithSnapshot"); err != nil {
			return err
		}
		if mode != SnapshotConsistent && mode != SnapshotNone {
			return optionError("WithSnapshot", "unknown mode %d", mode)
		}
		c.snapshot = mode
		return nil
	}
}

// WithWriteMethod sets how a Copier writes rows (default WriteLoadData).
func WithWriteMethod(m WriteMethod) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithWriteMethod"); err != nil {
			return err
		}
		if m != WriteLoadData && m != WriteInsert {
			return optionError("WithWriteMethod", "unknown method %d", m)
		}
		c.writeMethod = m
		return nil
	}
}

// WithDeferredIndexes says whether a Copier creates the target tables
// without their secondary indexes and foreign keys and adds them with one
// ALTER TABLE once a table's rows are in (the default), or creates the
// tables whole. Deferred, the rows go into the clustered index alone and
// InnoDB builds each secondary index by sorting, which is faster: in the
// benchmark (4.2M rows, 2 cores, 2 threads) the target spent 14
// CPU-seconds instead of 20. Indexes that identify rows or that another
// table's foreign key references are kept; foreign keys are added
// unchecked (foreign_key_checks=0), like the rows, which come from a
// source that held them. A unique index the rows violate fails that ALTER TABLE,
// naming the table.
func WithDeferredIndexes(deferred bool) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithDeferredIndexes"); err != nil {
			return err
		}
		c.deferIndexes = deferred
		return nil
	}
}

// WithKeylessTables lets a Copier copy tables without a primary key or
// unique NOT NULL key, as one chunk, when they hold at most maxRows rows.
// Without it such tables are an error naming them.
func WithKeylessTables(maxRows int64) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithKeylessTables"); err != nil {
			return err
		}
		if maxRows < 1 {
			return optionError("WithKeylessTables", "%d rows is not positive", maxRows)
		}
		c.keylessMaxRows = maxRows
		return nil
	}
}

// WithThrottler has a Copier consult t before reading every chunk.
func WithThrottler(t Throttler) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithThrottler"); err != nil {
			return err
		}
		if t == nil {
			return optionError("WithThrottler", "nil throttler")
		}
		c.throttler = t
		return nil
	}
}

// WithRateLimit caps a Copier's speed over all threads: at most
// rowsPerSecond rows and bytesPerSecond bytes per second; 0 leaves that
// measure unlimited.
func WithRateLimit(rowsPerSecond, bytesPerSecond float64) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithRateLimit"); err != nil {
			return err
		}
		if rowsPerSecond < 0 || bytesPerSecond < 0 || rowsPerSecond == 0 && bytesPerSecond == 0 {
			return optionError("WithRateLimit", "%v rows/s and %v bytes/s: give one positive limit", rowsPerSecond, bytesPerSecond)
		}
		c.rowsPerSecond, c.bytesPerSecond = rowsPerSecond, bytesPerSecond
		return nil
	}
}

// WithMemoryBudget bounds the memory a Copier uses (default 256 MiB): an
// eighth of it holds encoded rows in flight, shared by all threads, and the
// rest covers the driver's buffers, garbage between collections and the Go
// runtime (with the default GOGC=100). A single row larger than a thread's
// share is still copied, alone in its chunk, and needs about three times
// its size on top.
func WithMemoryBudget(bytes int64) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithMemoryBudget"); err != nil {
			return err
		}
		if bytes < 16<<20 {
			return optionError("WithMemoryBudget", "%d bytes is below 16 MiB", bytes)
		}
		c.memoryBudget = bytes
		return nil
	}
}

// WithChunkTime sets the time a chunk should take (default 500ms): chunk
// sizes adapt to it, within the memory budget.
func WithChunkTime(d time.Duration) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithChunkTime"); err != nil {
			return err
		}
		if d < time.Millisecond {
			return optionError("WithChunkTime", "%v is below 1ms", d)
		}
		c.chunkTime = d
		return nil
	}
}

// WithChunkRows fixes the rows per chunk instead of adapting them to the
// chunk time (the memory budget still cuts a chunk short).
func WithChunkRows(n int) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithChunkRows"); err != nil {
			return err
		}
		if n < 1 {
			return optionError("WithChunkRows", "%d is not positive", n)
		}
		c.chunkRows = n
		return nil
	}
}

// WithSegmentRows sets how many rows of a large table make one segment
// (default 250,000): segments of a table are copied in parallel, each with
// its own checkpoint.
func WithSegmentRows(n int) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithSegmentRows"); err != nil {
			return err
		}
		if n < 1 {
			return optionError("WithSegmentRows", "%d is not positive", n)
		}
		c.segmentRows = n
		return nil
	}
}

// WithCheckpointDatabase names the target database that holds a Copier's
// checkpoints (default "_shiftgate").
func WithCheckpointDatabase(name string) Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithCheckpointDatabase"); err != nil {
			return err
		}
		if err := schema.ValidateName("checkpoint database", name); err != nil {
			return optionError("WithCheckpointDatabase", "%w", err)
		}
		c.checkpointDB = name
		return nil
	}
}

// WithoutTargetBinlog writes the rows on the target with sql_log_bin=0
// (Copier only), as myloader does by default: the target's replicas do not
// receive them, and the target has less to write (in the benchmark 11.59 s
// instead of 11.65 s as the median of 3 runs: chunk commits overlap the
// binlog writes). Use it when the target has no replicas or they are
// seeded separately. Needs BINLOG ADMIN (or SUPER) on the target.
func WithoutTargetBinlog() Option {
	return func(c *config) error {
		if err := only(c, kindCopier, "WithoutTargetBinlog"); err != nil {
			return err
		}
		c.noTargetBinlog = true
		return nil
	}
}
