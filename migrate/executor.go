package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// Executor does one unit of data work: a copy (Pipe, Copier), a live move
// (Sync), an online schema change (OnlineAlter), a move into,
// out of or between shards (Split, Merge, Rebalance) or a run of reviewed
// statements (Statements). Implementations are configured at
// construction; the methods only carry the context.
//
// Contract:
//   - Plan checks every precondition it can and describes the work without
//     changing anything on either server. It returns the plan it could build
//     and, when a precondition fails, a non-nil error that names every problem
//     found (joined with errors.Join, so errors.Is works on each).
//   - Run does the work. It first checks the same preconditions as Plan and
//     changes nothing if one fails. It calls progress (when non-nil) from one
//     goroutine at a time, at least at every table boundary and at the end;
//     progress must return quickly. Run stops promptly when ctx is done and
//     returns an error that wraps ctx.Err() and says what state the target is
//     left in. The report is non-nil whenever any work was attempted, also
//     on error, so callers can record what was done. Run returns no error
//     only when every table of the report is done.
//   - An Executor runs at most once at a time; Plan may be called any number
//     of times.
//
// migratetest.Run is the conformance suite of this contract, with feature
// flags for the parts some executors add. Every executor passes it:
// Statements and OnlineAlter the common checks; Pipe with Tables; Copier,
// Split, Merge and Rebalance also Resumable (the shard executors without
// Tables); Sync with Tables, Resumable, Streaming (Run follows the binary
// log after the copy until ctx ends) and Cutover.
type Executor interface {
	Plan(ctx context.Context) (*Plan, error)
	Run(ctx context.Context, progress ProgressFunc) (*Report, error)
}

// ProgressFunc receives progress reports from Executor.Run.
type ProgressFunc func(Progress)

// Scope says which executor works on which data: it heads both the Plan
// and the Report.
type Scope struct {
	// Executor is the kind of executor, such as "pipe".
	Executor string `json:"executor"`
	// Source and Target are the endpoints as host:port (never credentials).
	Source string `json:"source"`
	Target string `json:"target"`
	// SourceDatabase and TargetDatabase name the databases involved.
	SourceDatabase string `json:"source_database"`
	TargetDatabase string `json:"target_database"`
}

// Plan describes the work an Executor would do, as found by a dry run.
type Plan struct {
	Scope
	// Tables lists the base tables to copy: in the order named, or by name
	// when the whole database is copied.
	Tables []TablePlan `json:"tables"`
	// Objects lists the views, routines, triggers and events that will be
	// copied after the tables.
	Objects []Object `json:"objects,omitempty"`
	// Locks says what will be locked on either side and for how long.
	Locks []string `json:"locks,omitempty"`
	// Steps describes what Run will do, in order, in words.
	Steps []string `json:"steps,omitempty"`
	// Alter is what an OnlineAlter found: the predicted algorithm, the
	// method chosen and why, the helper tables.
	Alter *AlterPlan `json:"alter,omitempty"`
}

// TablePlan describes one table of a Plan. Row and byte counts come from
// information_schema and are estimates.
type TablePlan struct {
	Name       string `json:"name"`
	TargetName string `json:"target_name"`
	Engine     string `json:"engine"`
	Rows       int64  `json:"rows_estimate"`
	DataBytes  int64  `json:"data_bytes"`
	IndexBytes int64  `json:"index_bytes"`
	// TargetExists reports whether a table of that name exists on the
	// target; TargetHasRows whether it holds at least one row (for a table
	// whose copy resumes, whether its checkpoint counts any).
	TargetExists  bool `json:"target_exists"`
	TargetHasRows bool `json:"target_has_rows"`

	// The rest is filled by executors that copy in chunks (Copier).

	// Key lists the columns chunks are cut along; empty for a table copied
	// in one chunk.
	Key []string `json:"key,omitempty"`
	// Segments is how many parts of the key range are copied in parallel;
	// ChunkRows the rows of the first chunk (later ones adapt to the chunk
	// time); Chunks the estimated number of chunks.
	Segments  int   `json:"segments,omitempty"`
	ChunkRows int   `json:"chunk_rows,omitempty"`
	Chunks    int64 `json:"chunks_estimate,omitempty"`
	// CreateTable is the statement that creates the target table.
	CreateTable string `json:"create_table,omitempty"`
	// DeferredIndexes are added after the rows (WithDeferredIndexes).
	DeferredIndexes []string `json:"deferred_indexes,omitempty"`
	// DeferredForeignKeys are added after the rows (WithDeferredIndexes),
	// without checking the rows, which come from a source that had them.
	DeferredForeignKeys []string `json:"deferred_foreign_keys,omitempty"`
	// AfterRows is the ALTER TABLE that adds them.
	AfterRows string `json:"after_rows,omitempty"`
	// Resume reports that an interrupted copy of this table will continue
	// from its checkpoint; CheckpointRows is how many rows it holds.
	Resume         bool  `json:"resume,omitempty"`
	CheckpointRows int64 `json:"checkpoint_rows,omitempty"`
}

// Object is a schema object other than a base table.
type Object struct {
	Kind ObjectKind `json:"kind"`
	Name string     `json:"name"`
}

// ObjectKind is the kind of a schema object.
type ObjectKind string

// The kinds of schema object an executor copies besides base tables.
const (
	KindView      ObjectKind = "view"
	KindProcedure ObjectKind = "procedure"
	KindFunction  ObjectKind = "function"
	KindTrigger   ObjectKind = "trigger"
	KindEvent     ObjectKind = "event"
)

// Progress is a snapshot of a running Executor.
type Progress struct {
	// Table is the table being copied now ("" between tables).
	Table string `json:"table"`
	// TablesDone and TablesTotal count base tables.
	TablesDone  int `json:"tables_done"`
	TablesTotal int `json:"tables_total"`
	// Rows and Bytes count what has been streamed so far.
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// BytesEstimate is the expected total, from the source's data size.
	BytesEstimate int64         `json:"bytes_estimate"`
	Elapsed       time.Duration `json:"elapsed"`
	// ETA is the estimated time left; zero when unknown.
	ETA time.Duration `json:"eta"`
	// RowsEstimate is the expected total of rows (Copier), and
	// RowsPerSecond and BytesPerSecond the average rates so far.
	RowsEstimate   int64   `json:"rows_estimate,omitempty"`
	RowsPerSecond  float64 `json:"rows_per_second,omitempty"`
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
	// Tables is the progress of each table (Copier).
	Tables []TableProgress `json:"tables,omitempty"`
	// Throttled says why the throttler (WithThrottler) holds the work,
	// "" when it does not (or cannot say: only a LoadThrottler does).
	// Filled by an OnlineAlter.
	Throttled string `json:"throttled,omitempty"`

	// The rest is filled by a Sync.

	// Phase is the Sync's phase; Lag how far the target is behind the
	// source (0 when it holds everything the source logged); LagTxns how
	// many transactions the source logged that the target's position does
	// not hold yet (of every database: the binary log is the server's).
	Phase   Phase         `json:"phase,omitempty"`
	Lag     time.Duration `json:"lag,omitempty"`
	LagTxns int64         `json:"lag_txns,omitempty"`
	// AppliedRows and AppliedTxns count the row changes and transactions
	// applied from the binary log, ApplyRowsPerSecond their recent rate;
	// StreamPosition is the source position the target holds.
	AppliedRows        int64   `json:"applied_rows,omitempty"`
	AppliedTxns        int64   `json:"applied_txns,omitempty"`
	ApplyRowsPerSecond float64 `json:"apply_rows_per_second,omitempty"`
	StreamPosition     string  `json:"stream_position,omitempty"`
}

// TableProgress is the progress of one table.
type TableProgress struct {
	Name         string        `json:"name"`
	Rows         int64         `json:"rows"`
	RowsEstimate int64         `json:"rows_estimate"`
	Bytes        int64         `json:"bytes"`
	Done         bool          `json:"done"`
	ETA          time.Duration `json:"eta,omitempty"`
}

// String formats p for a progress line.
func (p Progress) String() string {
	s := fmt.Sprintf("%d/%d tables, %d rows, %s", p.TablesDone, p.TablesTotal, p.Rows, formatBytes(p.Bytes))
	if p.BytesEstimate > 0 {
		s += " of ~" + formatBytes(p.BytesEstimate)
	}
	if p.Table != "" {
		s += ", at " + p.Table
	}
	if p.RowsPerSecond > 0 {
		s += fmt.Sprintf(", %.0f rows/s, %s/s", p.RowsPerSecond, formatBytes(int64(p.BytesPerSecond)))
	}
	if p.ETA > 0 {
		s += ", ETA " + p.ETA.Round(time.Second).String()
	}
	if p.Throttled != "" {
		s += ", throttled: " + p.Throttled
	}
	return s
}

// Report is what an Executor did.
type Report struct {
	Scope
	Tables   []TableReport `json:"tables"`
	Objects  []Object      `json:"objects,omitempty"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Position is the source binlog position where a later binlog sync
	// continues: the one the copy is consistent with when Consistent,
	// else the one before the first row was read. Zero when the source has
	// no binary log. PositionNote says which, in words; the JSON form
	// carries it as position_note.
	Position Position `json:"position"`
	// Consistent reports that every row was read at Position (a
	// consistent snapshot); false for a lock-free or resumed copy.
	Consistent bool `json:"consistent,omitempty"`
	// CommitsBlocked is how long the source's commits were blocked to
	// align the snapshot of several readers.
	CommitsBlocked time.Duration `json:"commits_blocked,omitempty"`
	// Resumed reports that the run continued an interrupted copy. Rows
	// copied before the interruption were read from an earlier snapshot:
	// Position is the first run's, and Consistent is false.
	Resumed bool `json:"resumed,omitempty"`
	// WriteMethod is how rows were written ("load-data", "insert"; an
	// OnlineAlter's "insert-select": inside the server).
	WriteMethod string `json:"write_method,omitempty"`

	// The rest is filled by a Sync.

	// AppliedRows and AppliedTxns count the row changes and transactions
	// applied from the binary log by this Run; StreamPosition is the
	// source position the target holds at the end.
	AppliedRows    int64  `json:"applied_rows,omitempty"`
	AppliedTxns    int64  `json:"applied_txns,omitempty"`
	StreamPosition string `json:"stream_position,omitempty"`
	// Cutover is the cutover that ended the Run.
	Cutover *CutoverReport `json:"cutover,omitempty"`
}

// PositionNote says how the copy relates to Position, for everyone who
// reads the position: "" when there is none.
func (r *Report) PositionNote() string {
	switch {
	case r.Position.IsZero():
		return ""
	case r.Consistent:
		return "the copy is a consistent snapshot at this position"
	case r.Resumed:
		return "the copy is NOT consistent with this position: it resumed an interrupted copy, so its rows were read from several snapshots taken after it (this is the first run's position); a binlog sync from it must replay idempotently"
	default:
		return "the copy is NOT consistent with this position: it was copied lock-free, each chunk read at its own time after it; a binlog sync from it must replay idempotently"
	}
}

// MarshalJSON encodes the report with its PositionNote as position_note.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report // without this method
	return json.Marshal(struct {
		plain
		PositionNote string `json:"position_note,omitempty"`
	}{plain(r), r.PositionNote()})
}

// TableReport is what happened to one table.
type TableReport struct {
	Name       string `json:"name"`
	TargetName string `json:"target_name"`
	Rows       int64  `json:"rows"`
	// Done reports whether the table was copied completely.
	Done bool `json:"done"`
	// Bytes and Chunks are what a copying executor moved, this run and
	// the ones it resumed: for the Copier the bytes it sent; for
	// OnlineAlter, which copies inside the server, rows copied times the
	// table's average row length (see OnlineAlter).
	Bytes  int64 `json:"bytes,omitempty"`
	Chunks int64 `json:"chunks,omitempty"`
}

// Position is a point in a source's binary log: File, Pos and GTID (the
// GTID set at that point; MariaDB: the domain-server-seq list), with IsZero
// and String ("file:pos gtid ..."). internal/snapshot reads it.
type Position = snapshot.Position

// notDone lists the tables of r that were not copied completely. Run never
// reports success while it is not empty.
func notDone(r *Report) []string {
	var out []string
	for _, t := range r.Tables {
		if !t.Done {
			out = append(out, t.Name)
		}
	}
	return out
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
