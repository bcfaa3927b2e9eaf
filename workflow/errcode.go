package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// ErrorCode names the condition a ticket's error is, so that a host that
// reads the ticket back (another process, after a restart, the console's
// JSON) can branch on it: Ticket.ErrorCode, or errors.Is on Ticket.Err.
// Codes are stable: a code once released keeps its name and meaning.
type ErrorCode string

// The error codes, each with the sentinel errors a ticket's Err with it
// matches under errors.Is.
const (
	// CodeOther: an error that matches none of the codes below.
	CodeOther ErrorCode = "other"

	// CodeSwitchPending: a live move's cutover recorded its switch and
	// is not finished (migrate.ErrSwitchPending).
	CodeSwitchPending ErrorCode = "switch_pending"
	// CodeNotVerified: verification found the tables different, or could
	// not compare some (migrate.ErrNotVerified): a copy's verification
	// (Verified), an OnlineAlter's shadow table, a live move's cutover.
	CodeNotVerified ErrorCode = "not_verified"
	// CodeSchemaChange: the source changed the schema of a followed table
	// (migrate.ErrSchemaChange).
	CodeSchemaChange ErrorCode = "schema_change"
	// CodeBinlogPurged: the binary log the position needs has been purged
	// (migrate.ErrBinlogPurged, with migrate.ErrBinlogSettings).
	CodeBinlogPurged ErrorCode = "binlog_purged"
	// CodeBinlogPositionAhead: the position holds transactions the
	// source's binary log never had (migrate.ErrBinlogPositionAhead, with
	// migrate.ErrBinlogSettings).
	CodeBinlogPositionAhead ErrorCode = "binlog_position_ahead"
	// CodeBinlogSettings: a server's binary log cannot serve the work
	// that reads it (migrate.ErrBinlogSettings).
	CodeBinlogSettings ErrorCode = "binlog_settings"
	// CodeNotInSync: migrate.ErrNotInSync.
	CodeNotInSync ErrorCode = "not_in_sync"
	// CodeCutOver: the move already cut over (migrate.ErrCutOver).
	CodeCutOver ErrorCode = "cut_over"
	// CodeDrain: sessions still ran on the source after the cutover's
	// wait (migrate.ErrDrain).
	CodeDrain ErrorCode = "drain"
	// CodeCatchUpTimeout: the target did not catch up within the
	// cutover's timeout (migrate.ErrCatchUpTimeout).
	CodeCatchUpTimeout ErrorCode = "catch_up_timeout"
	// CodeBroadGrant: the cutover's fence cannot narrow an account's
	// write grant to the moved tables (migrate.ErrBroadGrant).
	CodeBroadGrant ErrorCode = "broad_grant"
	// CodeBypass: an account named for the cutover's fence bypasses
	// read_only (migrate.ErrBypass).
	CodeBypass ErrorCode = "bypass"
	// CodeRunning: another run holds the work (migrate.ErrRunning).
	CodeRunning ErrorCode = "running"
	// CodeRowsDiffer: the target does not hold the rows its checkpoints
	// count (migrate.ErrRowsDiffer).
	CodeRowsDiffer ErrorCode = "rows_differ"
	// CodeCheckpointVersion: migrate.ErrCheckpointVersion.
	CodeCheckpointVersion ErrorCode = "checkpoint_version"
	// CodeNotEmpty: migrate.ErrNotEmpty.
	CodeNotEmpty ErrorCode = "not_empty"
	// CodeSameDatabase: migrate.ErrSameDatabase.
	CodeSameDatabase ErrorCode = "same_database"
	// CodeNoKey: migrate.ErrNoKey (the same value as verify.ErrNoKey).
	CodeNoKey ErrorCode = "no_key"
	// CodeViewDependency: migrate.ErrViewDependency.
	CodeViewDependency ErrorCode = "view_dependency"
	// CodeShardsDiffer: migrate.ErrShardsDiffer.
	CodeShardsDiffer ErrorCode = "shards_differ"
	// CodeTriggers: migrate.ErrTriggers (an OnlineAlter's table).
	CodeTriggers ErrorCode = "triggers"
	// CodeReferenced: migrate.ErrReferenced.
	CodeReferenced ErrorCode = "referenced"
	// CodeAlterClause: migrate.ErrAlterClause.
	CodeAlterClause ErrorCode = "alter_clause"
	// CodeDefinitionsDiffer: verify.ErrMismatch.
	CodeDefinitionsDiffer ErrorCode = "definitions_differ"
	// CodeSnapshotPrivilege: migrate.ErrSnapshotPrivilege (which wraps
	// migrate.ErrPrivilege).
	CodeSnapshotPrivilege ErrorCode = "snapshot_privilege"
	// CodePrivilege: migrate.ErrPrivilege.
	CodePrivilege ErrorCode = "privilege"
	// CodeTimeout: migrate.ErrTimeout (connecting did not finish in time).
	CodeTimeout ErrorCode = "timeout"
	// CodeConnect: migrate.ErrConnect.
	CodeConnect ErrorCode = "connect"
	// CodeLockWaitTimeout: a statement waited for a lock longer than the
	// server's lock_wait_timeout or innodb_lock_wait_timeout (server
	// error 1205: matches &mysql.MySQLError{Number: 1205}).
	CodeLockWaitTimeout ErrorCode = "lock_wait_timeout"
	// CodeNotFound: a database or table does not exist
	// (migrate.ErrNotFound).
	CodeNotFound ErrorCode = "not_found"
	// CodeNoClient: migrate.ErrNoClient.
	CodeNoClient ErrorCode = "no_client"
	// CodeUnknownInstance: ErrUnknownInstance.
	CodeUnknownInstance ErrorCode = "unknown_instance"
	// CodeReviewRefused: the review refused the SQL (ErrReviewRefused).
	CodeReviewRefused ErrorCode = "review_refused"
	// CodeAbandoned: the worker died during a run that does not resume
	// (ErrAbandoned).
	CodeAbandoned ErrorCode = "abandoned"
	// CodeCanceled: context.Canceled.
	CodeCanceled ErrorCode = "canceled"
	// CodeDeadlineExceeded: context.DeadlineExceeded.
	CodeDeadlineExceeded ErrorCode = "deadline_exceeded"
)

// Errors of tickets that no other package names.
var (
	// ErrReviewRefused: the automatic review refused a ticket's SQL
	// (findings at error level, or a script without statements).
	ErrReviewRefused = errors.New("workflow: the review refused the SQL")
	// ErrAbandoned: the worker running the ticket died and the run does
	// not resume; its statements' outcome is on the ticket.
	ErrAbandoned = errors.New("workflow: abandoned by its dead worker")
)

// errorCodes maps each code to its sentinels, most specific first: the
// first entry whose first sentinel an error matches gives its code, and a
// TicketError with the code matches all of the entry's sentinels.
var errorCodes = []struct {
	code      ErrorCode
	sentinels []error
}{
	{CodeSwitchPending, []error{migrate.ErrSwitchPending}},
	{CodeNotVerified, []error{migrate.ErrNotVerified}},
	{CodeSchemaChange, []error{migrate.ErrSchemaChange}},
	{CodeBinlogPurged, []error{migrate.ErrBinlogPurged, migrate.ErrBinlogSettings}},
	{CodeBinlogPositionAhead, []error{migrate.ErrBinlogPositionAhead, migrate.ErrBinlogSettings}},
	{CodeBinlogSettings, []error{migrate.ErrBinlogSettings}},
	{CodeNotInSync, []error{migrate.ErrNotInSync}},
	{CodeCutOver, []error{migrate.ErrCutOver}},
	{CodeDrain, []error{migrate.ErrDrain}},
	{CodeCatchUpTimeout, []error{migrate.ErrCatchUpTimeout}},
	{CodeBroadGrant, []error{migrate.ErrBroadGrant}},
	{CodeBypass, []error{migrate.ErrBypass}},
	{CodeRunning, []error{migrate.ErrRunning}},
	{CodeRowsDiffer, []error{migrate.ErrRowsDiffer}},
	{CodeCheckpointVersion, []error{migrate.ErrCheckpointVersion}},
	{CodeNotEmpty, []error{migrate.ErrNotEmpty}},
	{CodeSameDatabase, []error{migrate.ErrSameDatabase}},
	{CodeNoKey, []error{migrate.ErrNoKey}},
	{CodeViewDependency, []error{migrate.ErrViewDependency}},
	{CodeShardsDiffer, []error{migrate.ErrShardsDiffer}},
	{CodeTriggers, []error{migrate.ErrTriggers}},
	{CodeReferenced, []error{migrate.ErrReferenced}},
	{CodeAlterClause, []error{migrate.ErrAlterClause}},
	{CodeDefinitionsDiffer, []error{verify.ErrMismatch}},
	{CodeSnapshotPrivilege, []error{migrate.ErrSnapshotPrivilege}},
	{CodePrivilege, []error{migrate.ErrPrivilege}},
	{CodeTimeout, []error{migrate.ErrTimeout}},
	{CodeConnect, []error{migrate.ErrConnect}},
	{CodeLockWaitTimeout, []error{&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}}},
	{CodeNotFound, []error{migrate.ErrNotFound}},
	{CodeNoClient, []error{migrate.ErrNoClient}},
	{CodeUnknownInstance, []error{ErrUnknownInstance}},
	{CodeReviewRefused, []error{ErrReviewRefused}},
	{CodeAbandoned, []error{ErrAbandoned}},
	{CodeCanceled, []error{context.Canceled}},
	{CodeDeadlineExceeded, []error{context.DeadlineExceeded}},
}

// ErrorCodeOf returns the code of err: the first code whose sentinel err
// matches under errors.Is, CodeOther for an error that matches none, ""
// for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.sentinels[0]) {
			return e.code
		}
	}
	return CodeOther
}

// TicketError is the error a ticket ended with, as read back from the
// store (Ticket.Err): its text, and the sentinels of its code, which
// errors.Is matches. A ticket stored before error codes existed, or whose
// error matched no code, matches no sentinel.
type TicketError struct {
	Ticket  int64
	Code    ErrorCode // "" for a ticket stored before codes existed
	Message string
}

func (e *TicketError) Error() string {
	return fmt.Sprintf("ticket #%d: %s", e.Ticket, e.Message)
}

// Unwrap returns the sentinels of e's code.
func (e *TicketError) Unwrap() []error {
	for _, c := range errorCodes {
		if c.code == e.Code {
			return slices.Clone(c.sentinels)
		}
	}
	return nil
}

// Err returns the error t failed with (Error, ErrorCode) as a
// *TicketError, nil when t has none.
func (t *Ticket) Err() error {
	if t.Error == "" {
		return nil
	}
	return &TicketError{Ticket: t.ID, Code: t.ErrorCode, Message: t.Error}
}

// setError records on t that it failed with err, described by msg.
func (t *Ticket) setError(msg string, err error) {
	t.Error, t.ErrorCode = msg, ErrorCodeOf(err)
}

// problem is an error whose text is told apart from the error it wraps:
// a ticket's problem as people read it, with the cause's identity.
type problem struct {
	msg string
	err error
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.err }
