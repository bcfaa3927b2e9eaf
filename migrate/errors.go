package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/mysqlcli"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNotEmpty: a target table already holds rows and replacing it was
	// not allowed.
	ErrNotEmpty = errors.New("target table is not empty")
	// ErrNotFound: a source database or table does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPrivilege: the user of an endpoint lacks a privilege the work needs.
	ErrPrivilege = errors.New("missing privilege")
	// ErrConnect: an endpoint cannot be reached or refuses the credentials.
	ErrConnect = errors.New("cannot connect")
	// ErrTimeout: connecting to an endpoint (dial or handshake) did not
	// finish in time (WithTimeouts). It comes wrapped with ErrConnect.
	ErrTimeout = conn.ErrTimeout
	// ErrSameDatabase: the source and target of a copy are one database of
	// one server, however the DSNs spell its host. Nothing was changed.
	ErrSameDatabase = errors.New("source and target are the same database")
	// ErrRunning: Run was called while the executor was already running.
	ErrRunning = errors.New("executor is already running")
	// ErrNoClient: a command-line client program the executor runs is not
	// installed (or not where an option said).
	ErrNoClient = mysqlcli.ErrNoClient
)

// Side names one end of a copy.
type Side string

// The two ends of a copy.
const (
	Source Side = "source"
	Target Side = "target"
)

// EndpointError is a problem with one endpoint: it cannot be reached, the
// user lacks a privilege, a database or table is missing or not empty.
// Err is one of the sentinel errors above, or the driver's error.
type EndpointError struct {
	Side     Side
	Endpoint string // host:port, never credentials
	Object   string // the database or table at fault, if any
	Err      error
}

func (e *EndpointError) Error() string {
	s := fmt.Sprintf("migrate: %s %s", e.Side, e.Endpoint)
	if e.Object != "" {
		s += ": " + e.Object
	}
	return s + ": " + e.Err.Error()
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
	// Remedy says how to finish the work.
	Remedy string
	Err    error
}

func (e *IncompleteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %s did not finish: %v; target state: ", e.Op, e.Err)
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
	if e.Remedy != "" {
		b.WriteString("; " + e.Remedy)
	}
	return b.String()
}

func (e *IncompleteError) Unwrap() error { return e.Err }
