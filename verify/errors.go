package verify

import (
	"errors"
	"fmt"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNoKey: a table has neither a primary key nor a unique key over NOT
	// NULL columns, which chunking and row comparison need. It is the same
	// value as migrate.ErrNoKey.
	ErrNoKey = schema.ErrNoKey
	// ErrNotFound: a database, table or column does not exist. It is the
	// same value as migrate.ErrNotFound and review.ErrNotFound.
	ErrNotFound = schema.ErrNotFound
	// ErrMismatch: the two tables of a pair cannot be compared as they are
	// defined (a column on one side only, a key column of another type or
	// collation).
	ErrMismatch = errors.New("definitions do not match")
	// ErrUnsupported: a key column has a type rows cannot be ordered by in
	// Go the way the server orders them (JSON, BLOB, spatial).
	ErrUnsupported = errors.New("unsupported")
	// ErrTriggers: a target table has triggers that fire on the statements
	// that would repair it (see Repair).
	ErrTriggers = errors.New("triggers fire on the repair's statements")
	// ErrSameTable: a pair's target is its source table (one server,
	// whatever its DSNs call it, and the same database and table).
	ErrSameTable = errors.New("source and target are the same table")
)

// Side names one end of a comparison. It is migrate.Side too.
type Side = conn.Side

// The two ends of a comparison.
const (
	Source = conn.Source
	Target = conn.Target
)

// TableError is a problem with one table of a pair. Err wraps one of the
// sentinel errors above or the driver's error.
type TableError struct {
	Side     Side
	Database string
	Table    string
	Err      error
}

func (e *TableError) Error() string {
	return fmt.Sprintf("verify: %s table %s.%s: %v", e.Side, e.Database, e.Table, e.Err)
}

func (e *TableError) Unwrap() error { return e.Err }
