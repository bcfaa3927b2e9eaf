package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// TableState is the state of one table of a migration ticket (TableTask).
type TableState string

// The states of a TableTask. Running is never stored: Ticket.Subtasks
// shows it while a run copies the table.
const (
	TablePending TableState = "pending" // the ticket's next run copies it (not run yet, or retried)
	TableRunning TableState = "running" // the ticket's current run copies it
	TableDone    TableState = "done"    // copied (and, once the ticket succeeded, verified)
	TableFailed  TableState = "failed"  // its copy or its verification failed, or the run stopped before it: Engine.RetryTable
)

// TableTask is one table of a migration ticket, a sub-task with its own
// state, rows and error.
type TableTask struct {
	// Name is the table's name in the source database.
	Name  string     `json:"name"`
	State TableState `json:"state"`
	// Rows are the rows copied by its last run; RowsEstimate the rows
	// expected, when known.
	Rows         int64 `json:"rows"`
	RowsEstimate int64 `json:"rows_estimate,omitempty"`
	// Error says why it failed.
	Error string `json:"error,omitempty"`
	// Retries counts the retries of this table alone.
	Retries int `json:"retries,omitempty"`
}

// ErrNotRetryable: the table of a RetryTable cannot be retried alone
// (its ticket's kind does not allow it, the table did not fail, or the
// ticket copies a whole database, or its execution window closed).
var ErrNotRetryable = errors.New("workflow: table cannot be retried alone")

// Subtasks returns the tables of t's migration as they stand: those
// recorded at the end of its last run (Tables), else those of its plan,
// all pending; while a run holds t, the tables it copies show its latest
// progress. It returns nil for tickets without a Migration.
func (t *Ticket) Subtasks() []TableTask {
	tasks := t.recordedTables()
	if !t.State.Leased() || t.Progress == nil {
		return tasks
	}
	for i := range tasks {
		if tasks[i].State != TablePending {
			continue
		}
		for _, p := range t.Progress.Tables {
			if p.Name == tasks[i].Name {
				tasks[i].Rows, tasks[i].RowsEstimate = p.Rows, cmp.Or(p.RowsEstimate, tasks[i].RowsEstimate)
				tasks[i].State = TableRunning
				if p.Done {
					tasks[i].State = TableDone
				}
			}
		}
		if t.Progress.Table == tasks[i].Name {
			tasks[i].State = TableRunning
		}
	}
	return tasks
}

// recordedTables returns a copy of t's tables as recorded (Tables), else
// those of its plan, all pending; nil for tickets without a Migration.
func (t *Ticket) recordedTables() []TableTask {
	if t.Migration == nil {
		return nil
	}
	tasks := slices.Clone(t.Tables)
	if tasks == nil && t.Plan != nil {
		for _, p := range t.Plan.Tables {
			tasks = append(tasks, TableTask{Name: p.Name, State: TablePending, RowsEstimate: p.Rows})
		}
	}
	return tasks
}

// retrying returns the tables t's run retries: those pending again once
// an earlier run recorded its tables; nil for a first run.
func (t *Ticket) retrying() []string {
	var names []string
	for _, tk := range t.Tables {
		if tk.State == TablePending {
			names = append(names, tk.Name)
		}
	}
	return names
}

// unfinished returns the tables of tasks not done.
func unfinished(tasks []TableTask) []string {
	var names []string
	for _, tk := range tasks {
		if tk.State != TableDone {
			names = append(names, tk.Name)
		}
	}
	return names
}

// failed returns the tables of tasks recorded as failed.
func failed(tasks []TableTask) []string {
	var names []string
	for _, tk := range tasks {
		if tk.State == TableFailed {
			names = append(names, tk.Name)
		}
	}
	return names
}

// recordTables returns t's tables once a run ended: the tables this run
// copied (all, for the first run; the pending ones, for a retry) take
// their rows and state from its report, its progress and runErr; the
// others stay as they were. Tickets without a Migration have none.
func recordTables(t *Ticket, end runEnd, runErr error) []TableTask {
	if t.Migration == nil {
		return nil
	}
	tasks := t.recordedTables()
	if len(tasks) == 0 && end.report != nil {
		for _, r := range end.report.Tables {
			tasks = append(tasks, TableTask{Name: r.Name, State: TablePending})
		}
	}
	culprits := culprits(runErr, t.Migration.SourceDatabase, tasks)
	var run []int // this run's tables
	for i := range tasks {
		tk := &tasks[i]
		if tk.State != TablePending {
			continue // not part of this run
		}
		run = append(run, i)
		done := false
		if end.report != nil {
			for _, r := range end.report.Tables {
				if r.Name == tk.Name || r.TargetName == tk.Name {
					tk.Rows, done = r.Rows, r.Done
				}
			}
		} else if end.progress != nil {
			for _, p := range end.progress.Tables {
				if p.Name == tk.Name {
					tk.Rows, done = p.Rows, p.Done
				}
			}
		}
		switch {
		case runErr == nil: // a run succeeds only once it copied all its tables
			tk.State, tk.Error = TableDone, ""
		case done:
			tk.State, tk.Error = TableDone, ""
			if why := verificationFault(end.verification, tk.Name); why != "" {
				tk.State, tk.Error = TableFailed, why
			}
		case slices.Contains(culprits, tk.Name):
			tk.State, tk.Error = TableFailed, runErr.Error()
		case len(culprits) > 0:
			tk.State, tk.Error = TableFailed, "not copied completely: the run stopped at table "+strings.Join(culprits, ", ")
		default:
			tk.State, tk.Error = TableFailed, "not copied completely: the run failed (see the ticket's error)"
		}
	}
	if runErr != nil && !slices.ContainsFunc(run, func(i int) bool { return tasks[i].State == TableFailed }) {
		// Every table copied, and the run failed after (its verification
		// could not run): none is proven, each may be retried.
		for _, i := range run {
			tasks[i].State, tasks[i].Error = TableFailed, runErr.Error()
		}
	}
	return tasks
}

// culprits returns the tables of tasks, in database, that err names as
// at fault: by the typed errors of migrate, or as "`database`.`table`"
// in its text.
func culprits(err error, database string, tasks []TableTask) []string {
	if err == nil {
		return nil
	}
	var names []string
	for _, tk := range tasks {
		if strings.Contains(err.Error(), schema.QualifiedName(database, tk.Name)) {
			names = append(names, tk.Name)
		}
	}
	var ie *migrate.IncompleteError
	if errors.As(err, &ie) && ie.Partial != "" {
		names = append(names, strings.Split(ie.Partial, ", ")...)
	}
	var pe *migrate.ProcessError
	if errors.As(err, &pe) && pe.Table != "" {
		names = append(names, pe.Table)
	}
	var ee *migrate.EndpointError
	if errors.As(err, &ee) && strings.HasPrefix(ee.Object, "table ") {
		if i := strings.LastIndex(ee.Object, ".`"); i >= 0 {
			names = append(names, strings.ReplaceAll(strings.TrimSuffix(ee.Object[i+2:], "`"), "``", "`"))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// verificationFault says why table's verification in vr failed, "" when
// it found nothing wrong (or there was none).
func verificationFault(vr *verify.Report, table string) string {
	if vr == nil {
		return ""
	}
	for _, tr := range vr.Tables {
		if tr.SourceTable == table && (tr.Differences() > 0 || len(tr.ColumnDiffs) > 0) {
			return fmt.Sprintf("verification: %d row(s) differ (%d missing, %d extra, %d changed), %d column definition(s) differ",
				tr.Differences(), tr.Missing, tr.Extra, tr.Changed, len(tr.ColumnDiffs))
		}
	}
	for _, u := range vr.Unverified {
		if u.SourceTable == table {
			return "verification: not compared: " + u.Reason
		}
	}
	return ""
}

// RetryTable copies table of failed migration ticket id again, alone, as
// actor asked: the ticket goes back to the queue (without new approval:
// the table was approved with it) and its next run copies the tables
// marked pending, replacing what a failed run left of them in the
// target. The submitter and the CC list hear of it (EventRetried, whose
// detail names the table). The ticket succeeds once every table is done and the
// verification of all of them found no difference; while other tables
// stay failed, it fails again after the retried table is copied.
//
// Only kinds with KindSpec.TableRetry allow it, for tickets that name
// their tables (Migration.Tables; a copy of a whole database also copies
// its routines and events, which no table's retry does), whose execution
// window has not closed, and only for a table recorded as failed:
// otherwise the error wraps ErrNotRetryable. A
// ticket that is not failed gives a *TransitionError.
func (e *Engine) RetryTable(ctx context.Context, id int64, table, actor, comment string) (*Ticket, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.MayRetryTable(d.Ticket, table); err != nil {
		return nil, err
	}
	next, err := e.transition(ctx, Change{Ticket: id, Version: d.Ticket.Version, Action: ActionRetryTable, To: StateQueued, Actor: actor,
		Comment: cmp.Or(comment, "retry table "+table),
		Update: func(t *Ticket) error {
			if err := e.MayRetryTable(t, table); err != nil {
				return err
			}
			i := slices.IndexFunc(t.Tables, func(tk TableTask) bool { return tk.Name == table })
			t.Tables[i].State, t.Tables[i].Error = TablePending, ""
			t.Tables[i].Retries++
			t.setError("", nil)
			t.FinishedAt, t.Progress, t.Verification = time.Time{}, nil, nil
			return nil
		}})
	if err != nil {
		return nil, err
	}
	e.notify(ctx, next, EventRetried, actor, comment, "table "+table+" is copied again: "+e.describe(next))
	return next, nil
}

// MayRetryTable returns nil when table of t may be retried alone now
// (RetryTable), and otherwise the error RetryTable would give.
func (e *Engine) MayRetryTable(t *Ticket, table string) error {
	switch {
	case !e.kinds[t.Kind].TableRetry:
		return fmt.Errorf("%w: ticket #%d: kind %s copies its tables in one run", ErrNotRetryable, t.ID, t.Kind)
	case t.Migration == nil || len(t.Migration.Tables) == 0:
		return fmt.Errorf("%w: ticket #%d copies a whole database (with its routines and events): resubmit it with replace set instead", ErrNotRetryable, t.ID)
	case t.State != StateFailed:
		return CheckTransition(t.ID, t.State, ActionRetryTable, StateQueued)
	case t.Window.Closed(e.now()):
		return fmt.Errorf("%w: ticket #%d: its execution window closed at %s", ErrNotRetryable, t.ID, t.Window.NotAfter.Format(time.RFC3339))
	}
	i := slices.IndexFunc(t.Tables, func(tk TableTask) bool { return tk.Name == table })
	if i < 0 || t.Tables[i].State != TableFailed {
		return fmt.Errorf("%w: ticket #%d: table %q is not a failed table of the ticket", ErrNotRetryable, t.ID, table)
	}
	return nil
}
