package binlog

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// Errors callers branch on. Each is wrapped by an error that names the
// server, the setting, the table or the statement at fault.
var (
	// ErrBinlogOff: the source does not write a binary log (log_bin).
	ErrBinlogOff = errors.New("binary log is off")
	// ErrBinlogFormat: binlog_format is not ROW, or a transaction was
	// logged as statements.
	ErrBinlogFormat = errors.New("binlog_format is not ROW")
	// ErrRowImage: binlog_row_image is not FULL, or a row image lacks
	// columns.
	ErrRowImage = errors.New("binlog_row_image is not FULL")
	// ErrRowMetadata: binlog_row_metadata is not FULL (the table maps
	// carry no column names).
	ErrRowMetadata = errors.New("binlog_row_metadata is not FULL")
	// ErrNoGTID: the source has no usable GTIDs (MySQL: gtid_mode is not
	// ON) or the flavor is unknown.
	ErrNoGTID = errors.New("GTIDs are not usable")
	// ErrPurged: the source no longer holds the binary log the start
	// position needs. The stream never restarts from another position.
	ErrPurged = errors.New("the binary log the position needs has been purged")
	// ErrPositionAhead: the start position holds transactions the source
	// has not logged (a position from another server?).
	ErrPositionAhead = errors.New("the position is ahead of the source's binary log")
	// ErrDDL: a schema change on a followed table under DDLStop.
	ErrDDL = errors.New("schema change on a followed table")
	// ErrConnection: the replication connection was lost; Batches.Next
	// returns it wrapped, and Run reconnects.
	ErrConnection = errors.New("replication connection lost")
)

// SettingError is a source setting that makes streaming impossible.
type SettingError struct {
	Server  string // host:port
	Setting string // the variable, such as "binlog_format"
	Value   string // its value on the server
	Want    string // the value needed
	Err     error  // one of the sentinels above
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("binlog: server %s: %s is %q, need %s: %v", e.Server, e.Setting, e.Value, e.Want, e.Err)
}

func (e *SettingError) Unwrap() error { return e.Err }

// DDLError is a schema change that stopped the stream under DDLStop.
type DDLError struct {
	Server    string
	Statement string
	Tables    []rowchange.Table // the followed tables it touches
	GTID      string
}

func (e *DDLError) Error() string {
	names := make([]string, len(e.Tables))
	for i, t := range e.Tables {
		names[i] = t.String()
	}
	return fmt.Sprintf("binlog: server %s: transaction %s changes followed table %s: %s: %v",
		e.Server, e.GTID, termtext.Line(strings.Join(names, ", ")), termtext.Line(e.Statement), ErrDDL)
}

func (e *DDLError) Unwrap() error { return ErrDDL }

// DDLPolicy says what the stream does with a schema change on a followed
// table. Schema changes on other tables are always ignored.
type DDLPolicy uint8

const (
	// DDLStop stops Run with a *DDLError (errors.Is ErrDDL) once every
	// transaction before the change is applied.
	DDLStop DDLPolicy = iota
	// DDLSkip ignores the change; the position moves past it.
	DDLSkip
	// DDLApply passes it on as a Txn whose DDL is set.
	DDLApply
)

func (p DDLPolicy) String() string {
	switch p {
	case DDLStop:
		return "stop"
	case DDLSkip:
		return "skip"
	case DDLApply:
		return "apply"
	}
	return "DDLPolicy?"
}

// Defaults of Config's zero fields.
const (
	DefaultBudget      = 64 << 20
	DefaultHeartbeat   = time.Second
	DefaultReadTimeout = 5 * time.Second
	DefaultBackoffMin  = 200 * time.Millisecond
	DefaultBackoffMax  = 15 * time.Second
)

// positionEvery is how often, at most, a position-only Txn is delivered
// while only unfollowed transactions flow.
const positionEvery = time.Second

// Config configures a Stream.
type Config struct {
	// DSN is the source as a go-sql-driver DSN (user:password@tcp(host:port)/).
	// The account needs REPLICATION SLAVE and, for Check, BINLOG MONITOR
	// (MariaDB) or REPLICATION CLIENT (MySQL). Its password is never
	// logged nor put in an error.
	DSN string
	// ServerID is the server id the stream registers with on the source,
	// as a replica does. It must differ from the source's and from every
	// other replica's and stream's: the source drops an older connection
	// with the same id.
	ServerID uint32
	// Tables are the tables followed, matched exactly (schema and name as
	// the binary log spells them). Changes of other tables are filtered out.
	Tables []rowchange.Table
	// Start is the position to start after: a GTID set as
	// snapshot.Position.GTID holds it (MariaDB: "0-1-42,1-2-7"; MySQL:
	// "uuid:1-42"), or a Txn.Position. "" means the start of the source's
	// binary log, refused with ErrPurged if any of it has been purged.
	Start string
	// Budget bounds, in bytes (Change.Size), the row changes read and not
	// yet released by the sink; default DefaultBudget. A single row larger
	// than the budget is let through alone.
	Budget int64
	// DDL is the policy for schema changes on followed tables.
	DDL DDLPolicy
	// Heartbeat is the period at which an idle source sends a heartbeat;
	// default DefaultHeartbeat. ReadTimeout is how long a read may wait for
	// any event before the connection is taken as dead and reopened;
	// default DefaultReadTimeout, at least twice Heartbeat.
	Heartbeat   time.Duration
	ReadTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnect attempts,
	// doubling after each failed one; MaxAttempts > 0 gives up after that
	// many consecutive failed attempts (0: never). A source that does not
	// answer Run's check, when Run starts or before a reconnect, counts
	// as a failed attempt.
	BackoffMin, BackoffMax time.Duration
	MaxAttempts            int
	// Logger receives connects, reconnects and skipped schema changes;
	// nil discards.
	Logger *slog.Logger
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = max(DefaultReadTimeout, 2*c.Heartbeat)
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks the settings that need no server.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.DSN == "":
		return errors.New("binlog: no source DSN")
	case c.ServerID == 0:
		return errors.New("binlog: server id 0 cannot register as a replica")
	case len(c.Tables) == 0:
		return errors.New("binlog: no table to follow")
	case c.Budget < 0:
		return fmt.Errorf("binlog: negative budget %d", c.Budget)
	case c.DDL > DDLApply:
		return fmt.Errorf("binlog: unknown DDL policy %d", c.DDL)
	case c.Heartbeat < 0 || c.ReadTimeout < 2*c.Heartbeat:
		return fmt.Errorf("binlog: read timeout %s must be at least twice the heartbeat %s", c.ReadTimeout, c.Heartbeat)
	case c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("binlog: backoff %s..%s is not a range", c.BackoffMin, c.BackoffMax)
	case c.MaxAttempts < 0:
		return fmt.Errorf("binlog: negative attempts %d", c.MaxAttempts)
	}
	for _, t := range c.Tables {
		if t.Schema == "" || t.Name == "" {
			return fmt.Errorf("binlog: table %q: need schema and name", t.String())
		}
	}
	return nil
}
