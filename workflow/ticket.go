package workflow

import (
	"time"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/verify"
)

// Kind names what a ticket asks for; each kind has an executor factory
// registered with the Engine (WithKind).
type Kind string

// The built-in kinds.
const (
	// KindSQLChange runs a reviewed SQL script on one target instance and
	// database, statement by statement (migrate.Statements).
	KindSQLChange Kind = "sql_change"
	// KindDataMigration copies a database, or some of its tables, from a
	// source instance to a target instance (migrate.Pipe or migrate.Copier).
	KindDataMigration Kind = "data_migration"
	// KindLiveMove moves tables from a source instance to a target
	// instance while the application writes to them (migrate.Sync): a
	// snapshot copy, then the source's binary log applied until a person
	// cuts over (Engine.Cutover) once the ticket awaits it.
	KindLiveMove Kind = "live_move"
)

// Migration methods of a data-migration ticket.
const (
	MethodPipe   = "pipe"   // mariadb-dump | mariadb; no checkpoint: a dead worker fails the ticket
	MethodCopier = "copier" // native parallel copy; a dead worker's run is resumed from its checkpoint
	MethodSync   = "sync"   // a live move (KindLiveMove): copy, then binlog sync until the cutover; resumed from its checkpoint
)

// Migration describes the work of a data-migration or live-move ticket.
// The target is the ticket's Instance and Database.
type Migration struct {
	SourceInstance string   `json:"source_instance"`
	SourceDatabase string   `json:"source_database"`
	Tables         []string `json:"tables,omitempty"` // empty: the whole database
	// Method is MethodPipe or MethodCopier (default) for a data
	// migration, MethodSync for a live move.
	Method  string `json:"method"`
	Replace bool   `json:"replace,omitempty"`
	// Fence is how a live move's cutover stops writes on the source: a
	// migrate.FenceMethod's name, "flush-tables" (default), "accounts" or
	// "read-only". Accounts are the application's accounts ("user@host")
	// that FenceAccounts makes read-only on the moved tables.
	Fence    string   `json:"fence,omitempty"`
	Accounts []string `json:"accounts,omitempty"`
	// Reverse keeps a live move's way back after its cutover, a rollback
	// window (migrate.WithReverseSync): the source stays fenced and the
	// target's writes are applied back to it (StateRollbackWindow) until
	// a person cuts back (Engine.CutBack) or closes the window
	// (Engine.EndWindow). It needs the fence "accounts" or "read-only",
	// and a target that meets the source's binary log requirements.
	Reverse bool `json:"reverse,omitempty"`
	// PendingSwitch is a live move's answer to a cutover with the fence
	// "flush-tables" that recorded its switch and whose worker died
	// holding the lock, when the source took changes to the moved tables
	// once the lock ended (migrate.WithPendingSwitch): "refuse" (default:
	// the run fails with migrate.ErrSwitchPending), "abandon" (the
	// application never wrote the target: the sync applies them and the
	// cutover can be approved again) or "finish" (it was switched: the
	// cutover is finished without them, counted in its report). Every run
	// of the ticket uses it; it changes nothing while there is no such
	// cutover.
	PendingSwitch string `json:"pending_switch,omitempty"`
}

// Window is when a ticket may start. A zero bound is open.
type Window struct {
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// Open reports whether now is inside w.
func (w *Window) Open(now time.Time) bool {
	if w == nil {
		return true
	}
	return (w.NotBefore.IsZero() || !now.Before(w.NotBefore)) && !w.Closed(now)
}

// Closed reports whether w's end has passed.
func (w *Window) Closed(now time.Time) bool {
	return w != nil && !w.NotAfter.IsZero() && now.After(w.NotAfter)
}

// Request is what a person submits.
type Request struct {
	// ClientKey makes Submit idempotent: a second Submit with the same key
	// returns the first ticket. Optional.
	ClientKey string
	Kind      Kind
	Title     string
	Submitter string
	// CC lists further people told about every step.
	CC []string
	// Instance and Database are the target.
	Instance string
	Database string
	// SQL is the script of a SQL change.
	SQL string
	// Migration is the work of a data migration.
	Migration *Migration
	// Window, if set, holds execution until it opens.
	Window *Window
	// ConfirmOutcomeUnknown submits a SQL change although an earlier
	// ticket with the same SQL on the same target ended in
	// outcome_unknown (its statements may have run, in part or in whole).
	// Without it Submit refuses such a request with ErrOutcomeUnknown; set
	// it only after checking the target.
	ConfirmOutcomeUnknown bool
}

// Ticket is a request and everything that has happened to it since.
type Ticket struct {
	ID        int64      `json:"id"`
	ClientKey string     `json:"client_key,omitempty"`
	Kind      Kind       `json:"kind"`
	Title     string     `json:"title"`
	Submitter string     `json:"submitter"`
	CC        []string   `json:"cc,omitempty"`
	Instance  string     `json:"instance"`
	Database  string     `json:"database"`
	SQL       string     `json:"sql,omitempty"`
	Migration *Migration `json:"migration,omitempty"`
	Window    *Window    `json:"window,omitempty"`

	State State `json:"state"`
	// Version increases with every transition; a transition names the
	// version it was decided on (optimistic concurrency).
	Version int64 `json:"version"`
	// Step is the index of the current approval step.
	Step int `json:"step"`
	// Awaiting reports that the current step's approver left it to a
	// person (ActionAwait). While it is false in pending_approval, the
	// engine still owes the step's automatic decision, and any engine
	// takes that over if the process deciding it died.
	Awaiting  bool       `json:"awaiting,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`

	// Review is the automatic review of the SQL; Plan the executor's dry
	// run.
	Review *review.Result `json:"review,omitempty"`
	Plan   *migrate.Plan  `json:"plan,omitempty"`

	// Results are the statements run so far (SQL changes); Progress the
	// latest progress report; Report the executor's report.
	Results  []migrate.StatementResult `json:"results,omitempty"`
	Progress *migrate.Progress         `json:"progress,omitempty"`
	Report   *migrate.Report           `json:"report,omitempty"`
	// CutBack is the report of the cut-back that closed a live move's
	// rollback window (Engine.CutBack); Report.Cutover stays the
	// cutover's. Nil when the window closed without one (Engine.EndWindow).
	CutBack *migrate.CutoverReport `json:"cutback,omitempty"`
	// Carried is a live move's request that a person approved and no run
	// has made yet, carried over to the ticket's next run: ActionCutover,
	// ActionCutBack or ActionEndWindow, "" for none. The approval is
	// recorded as the ticket's state (cutting_over, cutting_back,
	// ending_window); a run that stops before making it (requeued by a
	// shutdown or by the reaper) leaves it here, and so does closing a
	// stopped window (EndWindow from source_fenced). The next run makes it
	// without a new approval, as soon as it can (the cutover and the
	// cut-back once in sync again), and says so in the audit trail; a
	// refusal then is recorded as a person's would be, and ends the
	// request. A window that stops (source_fenced) drops it.
	Carried Action `json:"carried,omitempty"`
	// Verification is the comparison of a copy's target with its source
	// that ended its last run (data migrations, see Verified).
	Verification *verify.Report `json:"verification,omitempty"`
	// Error says why the ticket failed, or, from a live move's failed
	// cutover until the next is approved, why it failed. ErrorCode names its
	// condition ("" with an Error stored before codes existed); Err
	// returns both as an error that errors.Is matches against the code's
	// sentinels.
	Error     string    `json:"error,omitempty"`
	ErrorCode ErrorCode `json:"error_code,omitempty"`
	// Tables are the sub-tasks of a migration, one per table, as its
	// last run's end left them (Subtasks adds a running run's progress).
	Tables []TableTask `json:"tables,omitempty"`

	// Worker holds the lease until LeaseUntil while the ticket runs.
	Worker     string    `json:"worker,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// Attempts counts the runs started (more than one after a requeue).
	Attempts int `json:"attempts"`

	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Approval is one step's decision.
type Approval struct {
	Step    int       `json:"step"`
	Name    string    `json:"name"`
	Actor   string    `json:"actor"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// SourceInstance returns the instance data is read from, if any.
func (t *Ticket) SourceInstance() string {
	if t.Migration != nil {
		return t.Migration.SourceInstance
	}
	return ""
}

// Clone returns a deep enough copy of t that changing the copy's slices
// and pointers never changes t.
func (t *Ticket) Clone() *Ticket {
	c := *t
	c.CC = append([]string(nil), t.CC...)
	c.Approvals = append([]Approval(nil), t.Approvals...)
	c.Results = append([]migrate.StatementResult(nil), t.Results...)
	c.Tables = append([]TableTask(nil), t.Tables...)
	if t.Migration != nil {
		m := *t.Migration
		m.Tables = append([]string(nil), m.Tables...)
		m.Accounts = append([]string(nil), m.Accounts...)
		c.Migration = &m
	}
	if t.Window != nil {
		w := *t.Window
		c.Window = &w
	}
	if t.Progress != nil {
		p := *t.Progress
		c.Progress = &p
	}
	return &c
}

// AuditEntry is one transition of a ticket.
type AuditEntry struct {
	Ticket  int64     `json:"ticket"`
	Actor   string    `json:"actor"`
	Action  Action    `json:"action"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Detail is a ticket with its audit trail, oldest entry first.
type Detail struct {
	Ticket *Ticket      `json:"ticket"`
	Audit  []AuditEntry `json:"audit"`
}

// Filter selects tickets for List. Zero fields select everything.
type Filter struct {
	Submitter string
	States    []State
	// Instance matches the target or the source instance.
	Instance string
	Kind     Kind
	// ErrorCode matches the code of the ticket's error (Ticket.ErrorCode).
	ErrorCode ErrorCode
	// CreatedFrom and CreatedTo bound the creation time: From inclusive,
	// To exclusive.
	CreatedFrom, CreatedTo time.Time
	// Keyword matches a substring of the SQL text (case-insensitively for
	// ASCII letters) or of the title.
	Keyword string
	// Limit is the page size (default 50, at most 1000). Tickets come
	// newest first; BeforeID continues after the last ticket of the
	// previous page.
	Limit    int
	BeforeID int64
}

// Actor for the engine's own transitions.
const SystemActor = "system"
