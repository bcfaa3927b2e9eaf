package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/fence"
	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNotEmpty: a target table already holds rows and replacing it was
	// not allowed.
	ErrNotEmpty = errors.New("target table is not empty")
	// ErrNotFound: a database or table does not exist (or an account a
	// Sync's WithFence names). It is the same value as verify.ErrNotFound
	// and review.ErrNotFound.
	ErrNotFound = schema.ErrNotFound
	// ErrPrivilege: the user of an endpoint lacks a privilege the work needs.
	ErrPrivilege = schema.ErrPrivilege
	// ErrConnect: an endpoint cannot be reached or refuses the credentials.
	ErrConnect = errors.New("cannot connect")
	// ErrTimeout: connecting to an endpoint (dial or handshake) did not
	// finish in time (WithTimeouts), whether a pool or a client program of
	// a Pipe was connecting. It comes wrapped with ErrConnect.
	ErrTimeout = conn.ErrTimeout
	// ErrSameDatabase: the source and target of a copy are one database of
	// one server, however the DSNs spell its host. Nothing was changed.
	ErrSameDatabase = errors.New("source and target are the same database")
	// ErrNoKey: a table has no primary key or unique NOT NULL key to copy
	// it in chunks along (Copier; see WithKeylessTables).
	ErrNoKey = schema.ErrNoKey
	// ErrSnapshotPrivilege: the source user cannot block commits to align
	// a Copier's consistent snapshot (see WithSnapshot). It wraps
	// ErrPrivilege.
	ErrSnapshotPrivilege = fmt.Errorf("%w for a consistent snapshot", ErrPrivilege)
	// ErrViewDependency: a view named in WithTables reads a table that is
	// neither copied with it nor on the target, so it cannot be created.
	ErrViewDependency = errors.New("view reads a table that is not copied")
	// ErrRowsDiffer: a target table does not hold the rows its checkpoints
	// count: someone else wrote to it, or rows were lost. Running the copy
	// again does not help; it has to start over.
	ErrRowsDiffer = errors.New("target rows differ from the checkpoint")
	// ErrShardsDiffer: the shard tables of a Merge do not all have the
	// columns of the first shard (names and types, in order).
	ErrShardsDiffer = errors.New("shard tables differ in their columns")
	// ErrRunning: Run was called while the executor was already running.
	ErrRunning = errors.New("executor is already running")
	// ErrNoClient: a command-line client program the executor runs is not
	// installed (or not where an option said).
	ErrNoClient = mysqlcli.ErrNoClient
	// ErrCheckpointVersion: the checkpoint database (WithCheckpointDatabase)
	// was written by a newer or unknown version of this library. The copy
	// is refused, nothing changed, never started over; WithReplace does not
	// override it.
	ErrCheckpointVersion = checkpoint.ErrVersion
	// ErrNotVerified: a verification after catch-up found tables
	// different, or could not compare some; the error says how many
	// differences. It stops a Sync's Cutover (and a ReverseSync's
	// CutBack): writes are restored and the sync goes on. It stops an
	// OnlineAlter before the swap: the table is untouched (Abort removes
	// the shadow table). The workflow package's Verified runs wrap it too.
	ErrNotVerified = errors.New("tables not verified")
	// ErrBinlogSettings: a server's binary log cannot serve the work that
	// reads it: the source of a Sync (or, WithReverseSync, the target) or
	// of an OnlineAlter, the target of Statements with WithRollbackSQL.
	// The cause is its format, row image, row metadata, GTIDs, flavor, or
	// a position that is purged (ErrBinlogPurged) or ahead of it
	// (ErrBinlogPositionAhead); the error names the server and the setting.
	ErrBinlogSettings = errors.New("unsuitable binary log")
	// ErrBinlogPurged: a server no longer holds the binary log a position
	// needs: the source of a Sync or an OnlineAlter (or, WithReverseSync,
	// the target) when a run resumes from a saved position or its stream
	// reconnects. The work never restarts from another position. Found
	// before the work starts, it comes wrapped with ErrBinlogSettings.
	// (Statements' WithRollbackSQL returns no error for it: the
	// statement's RollbackNote says so.)
	ErrBinlogPurged = binlog.ErrPurged
	// ErrBinlogPositionAhead: a position holds transactions the server's
	// binary log never had (a position from another server?); like
	// ErrBinlogPurged, found before the work starts, it comes wrapped with
	// ErrBinlogSettings.
	ErrBinlogPositionAhead = binlog.ErrPositionAhead
	// ErrBroadGrant: a Sync's cutover fencing accounts (FenceAccounts)
	// found an account whose write privilege on a moved table comes from a
	// grant it cannot narrow to the moved tables (global, a database
	// pattern matching other databases, a role or PUBLIC, a column grant).
	// Like every failed cutover it leaves the source's writes as they were
	// and the sync going on.
	ErrBroadGrant = fence.ErrBroadGrant
	// ErrSwitchPending: a Sync's cutover (or a ReverseSync's cut-back)
	// recorded that it calls the host's switch, and is not finished: the
	// application may write the target already, so the move never syncs
	// into it again, and the record stays until a Run finishes it. Run,
	// Cutover and ReverseSync.End return it when the switch failed (at
	// the cutover, with the record not removable, or when a Run finishes
	// one), when the cutover could not be recorded done after the switch,
	// and, after a crash of a FenceFlushTables cutover, when the source
	// took writes to the moved tables once its lock ended with the
	// process (the host must decide: WithPendingSwitch). The error says
	// what state both sides are in.
	ErrSwitchPending = errors.New("a cutover's switch is pending")
	// ErrCatchUpTimeout: a Sync's cutover (or a ReverseSync's cut-back)
	// stopped writes, but the target did not apply everything the source
	// had logged within WithCutoverTimeout. Like every failed cutover it
	// restores the source's writes and leaves the sync going on: Cutover
	// can be tried again, with less load or a longer timeout.
	ErrCatchUpTimeout = errors.New("the target did not catch up in time")
	// ErrBypass: a Sync's cutover fencing with read_only (FenceReadOnly)
	// found a named account that bypasses read_only (READ_ONLY ADMIN, or
	// SUPER where that is what bypasses it); as ErrBroadGrant.
	ErrBypass = fence.ErrBypass
)

// Side names one end of a copy. It is verify.Side too.
type Side = conn.Side

// The two ends of a copy.
const (
	Source = conn.Source
	Target = conn.Target
)

// EndpointError is a problem with one endpoint: it cannot be reached, the
// user lacks a privilege, a database or table is missing or not empty.
// Err is one of the sentinel errors above, or the driver's error.
type EndpointError struct {
	Side     Side
	Endpoint string // host:port, never credentials
	// Object is the database, table or other object at fault, whenever
	// one is ("database `shop`", "table `shop`.`orders`", "checkpoint");
	// "" only for a fault of the server itself: connecting, its
	// identity, a server variable, a global privilege.
	Object string
	Err    error
	// Hint says what lets the work go through, in terms of this package's
	// options ("allow it with WithReplace"); "" when there is nothing to
	// say. Error appends it. A program that takes other input (command-line
	// flags) prints Problem and a hint of its own, chosen by the sentinel
	// errors Err wraps.
	Hint string
}

// serverFault is the Object of an EndpointError whose fault is the
// server's own: no database or table of it is at fault.
const serverFault = ""

// Problem is the error without its Hint.
func (e *EndpointError) Problem() string {
	s := fmt.Sprintf("migrate: %s %s", e.Side, e.Endpoint)
	if e.Object != "" {
		s += ": " + e.Object
	}
	return s + ": " + e.Err.Error()
}

func (e *EndpointError) Error() string {
	if e.Hint == "" {
		return e.Problem()
	}
	return e.Problem() + " (" + e.Hint + ")"
}

func (e *EndpointError) Unwrap() error { return e.Err }

// ProcessError reports a client program that failed: which side, which
// program, its exit status, the table (and for the target the input line)
// it was working on, and the first part of what it wrote to stderr.
type ProcessError struct {
	Side     Side
	Endpoint string
	Program  string
	// Table is the table or view the stream was at; "" if unknown.
	Table string
	// Line is the line of the dump the target reported the error at; 0 if
	// unknown.
	Line   int64
	Stderr string
	Err    error
}

func (e *ProcessError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %s %s: %s failed", e.Side, e.Endpoint, e.Program)
	if e.Table != "" {
		fmt.Fprintf(&b, " at table %s", e.Table)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " (dump line %d)", e.Line)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if msg := strings.TrimSpace(e.Stderr); msg != "" {
		fmt.Fprintf(&b, ": %s", msg)
	}
	return b.String()
}

func (e *ProcessError) Unwrap() error { return e.Err }

// IncompleteError is returned by Run when work started but did not finish:
// it was canceled or a side failed. It says what state the target is in.
type IncompleteError struct {
	// Op describes the work, such as "pipe shop to 127.0.0.1:3307/shop_copy".
	Op string
	// Done lists the tables whose rows were all sent to the target; Partial
	// the table being sent when the work stopped ("" if none).
	Done    []string
	Partial string
	// Remedy says how to finish the work, in terms of this package's
	// options; "" when the error itself says it. Error appends it; a
	// program with other input prints Problem and its own remedy.
	Remedy string
	Err    error
}

// Problem is the error without its Remedy.
func (e *IncompleteError) Problem() string {
	var b strings.Builder
	// Err is most often this package's own error: its prefix is not
	// repeated.
	fmt.Fprintf(&b, "migrate: %s did not finish: %s; target state: ", e.Op, strings.TrimPrefix(e.Err.Error(), "migrate: "))
	switch {
	case len(e.Done) == 0 && e.Partial == "":
		b.WriteString("no table written")
	case len(e.Done) > 0:
		fmt.Fprintf(&b, "%d table(s) sent completely (%s)", len(e.Done), strings.Join(e.Done, ", "))
		if e.Partial != "" {
			fmt.Fprintf(&b, ", table %s partially written", e.Partial)
		}
	default:
		fmt.Fprintf(&b, "table %s partially written", e.Partial)
	}
	return b.String()
}

func (e *IncompleteError) Error() string {
	if e.Remedy == "" {
		return e.Problem()
	}
	return e.Problem() + "; " + e.Remedy
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// Transient reports whether err is of the kind that running the work again
// can get past without changing anything: a cancellation, a timeout, a
// lost connection, a lock wait or a deadlock, a server shutting down.
func Transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || conn.Lost(err) {
		return true
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1205 || me.Number == 1213) // lock wait timeout, deadlock
}
