package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// Errors of the store, branched on with errors.Is.
var (
	// ErrNotFound: no ticket has that id. It is not migrate.ErrNotFound
	// (a database or table missing on a server), so a "no such ticket"
	// handler never fires for a table missing inside a ticket's work.
	ErrNotFound = errors.New("workflow: no such ticket")
	// ErrConflict: the ticket changed since it was read (wrapped by
	// *ConflictError).
	ErrConflict = errors.New("workflow: ticket changed concurrently")
	// ErrStoreVersion: the MySQLStore's tables were written by a newer or
	// unknown version of this library; NewMySQLStore and Migrate refuse
	// them, changing nothing.
	ErrStoreVersion = errors.New("workflow: store of an incompatible version")
	// ErrLeaseLost: the worker no longer holds the ticket's lease.
	ErrLeaseLost = errors.New("workflow: lease lost")
)

// ConflictError reports a transition decided on an old version of a
// ticket: someone else changed it first.
type ConflictError struct {
	Ticket  int64
	Action  Action
	Version int64 // the version the transition was decided on
	Current *Ticket
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("workflow: ticket #%d: cannot %s it: it changed (version %d, now %d, %s)",
		e.Ticket, e.Action, e.Version, e.Current.Version, e.Current.State)
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Change is one transition of a ticket, applied by Store.Transition in one
// transaction.
type Change struct {
	Ticket int64
	// Version is the version the change was decided on.
	Version int64
	Action  Action
	To      State
	Actor   string
	Comment string
	At      time.Time
	// Update, if set, is called with the locked current ticket (already
	// checked against Version and the transition table) and may change
	// its fields other than ID, State and Version; an error aborts the
	// change and is returned as is.
	Update func(t *Ticket) error
}

// Beat is a worker's heartbeat: it extends the lease and stores progress.
type Beat struct {
	Ticket     int64
	Worker     string
	LeaseUntil time.Time
	// Progress and Results replace the stored ones when not nil.
	Progress *migrate.Progress
	Results  []migrate.StatementResult
}

// Store persists tickets and their audit trail. Implementations must be
// safe for concurrent use, also by several processes sharing one database
// (MySQLStore); workflowtest.TestStore is their conformance suite.
type Store interface {
	// Create stores a new ticket in state submitted with the audit entry
	// of its submission, assigning ID and Version 1. If t.ClientKey is
	// not empty and a ticket with that key exists, Create returns that
	// ticket and created false, and stores nothing.
	Create(ctx context.Context, t *Ticket, at time.Time) (stored *Ticket, created bool, err error)
	// Transition applies c in one transaction: it locks the ticket, returns
	// a *ConflictError if its version is not c.Version, a
	// *TransitionError if the table does not allow c, or Update's error;
	// otherwise it calls Update, sets the state, increases the version,
	// sets UpdatedAt, appends the audit entry and returns the new ticket.
	Transition(ctx context.Context, c Change) (*Ticket, error)
	// Claim moves the oldest queued ticket whose window is open at now to
	// running, leased to worker until now+lease, with the audit entry of
	// the start, and returns it; (nil, nil) when none is ready. Tickets
	// locked by another claim are skipped, never waited for.
	Claim(ctx context.Context, worker string, now time.Time, lease time.Duration) (*Ticket, error)
	// Heartbeat applies b if b.Worker holds the ticket (its Worker field,
	// whatever its state) and returns the ticket's state, or ErrLeaseLost.
	// The lease is extended only while the ticket is leased (State.Leased:
	// running, awaiting_cutover, cutting_over). It does not change the
	// version.
	Heartbeat(ctx context.Context, b Beat) (State, error)
	// Get returns the ticket with its audit trail, or ErrNotFound.
	Get(ctx context.Context, id int64) (*Detail, error)
	// List returns the tickets f selects, newest first.
	List(ctx context.Context, f Filter) ([]*Ticket, error)
}

// normalize checks f and applies the default limit.
func (f Filter) normalize() (Filter, error) {
	switch {
	case f.Limit < 0 || f.Limit > 1000:
		return f, fmt.Errorf("workflow: list: limit %d is not between 0 and 1000", f.Limit)
	case f.Limit == 0:
		f.Limit = 50
	}
	return f, nil
}
