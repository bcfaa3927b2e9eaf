package console

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
)

// Instance is an instance of the registry as the API shows it: never its
// credentials.
type Instance struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Tags    map[string]string `json:"tags"`
	// Submit reports whether the caller may submit tickets to it.
	Submit bool `json:"submit"`
}

// Migration is the work of a data-migration or live-move ticket; its
// target is the ticket's instance and database.
type Migration struct {
	SourceInstance string   `json:"source_instance"`
	SourceDatabase string   `json:"source_database"`
	Tables         []string `json:"tables,omitempty"`
	// Method is "copier" (default) or "pipe" for a data migration, "sync"
	// (default) for a live move.
	Method  string `json:"method,omitempty"`
	Replace bool   `json:"replace,omitempty"`
	// Fence is how a live move's cutover stops writes on the source:
	// "flush-tables" (default), "accounts" or "read-only"; Accounts are
	// the application's accounts ("user@host") the "accounts" fence makes
	// read-only on the moved tables.
	Fence    string   `json:"fence,omitempty"`
	Accounts []string `json:"accounts,omitempty"`
	// Reverse keeps a live move's way back after its cutover: the source
	// stays fenced and the target's writes are applied back to it
	// (state rollback_window) until a cut-back or the end of the window
	// (actions cutback and endwindow). It needs the fence "accounts" or
	// "read-only".
	Reverse bool `json:"reverse,omitempty"`
	// PendingSwitch is what a run does with a "flush-tables" cutover that
	// recorded its switch and whose worker died holding the lock, once
	// the source took changes since: "refuse" (default), "abandon" (the
	// application never wrote the target) or "finish" (it was switched).
	PendingSwitch string `json:"pending_switch,omitempty"`
}

// Window bounds when a ticket may start; an absent bound is open.
type Window struct {
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// SubmitRequest files a ticket as the caller.
type SubmitRequest struct {
	// IdempotencyKey makes the submission idempotent: the same caller
	// sending the same key again gets the first ticket back (status 200
	// instead of 201). At most 128 characters.
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	Kind           string     `json:"kind"`
	Title          string     `json:"title,omitempty"`
	CC             []string   `json:"cc,omitempty"`
	Instance       string     `json:"instance"`
	Database       string     `json:"database"`
	SQL            string     `json:"sql,omitempty"`
	Migration      *Migration `json:"migration,omitempty"`
	Window         *Window    `json:"window,omitempty"`
	// ConfirmOutcomeUnknown resubmits SQL whose earlier run ended in
	// outcome_unknown, after the target was checked.
	ConfirmOutcomeUnknown bool `json:"confirm_outcome_unknown,omitempty"`
}

// ActionRequest is the body of approve, reject, cancel and retry.
type ActionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// RollbackRequest files the rollback of a finished SQL change.
type RollbackRequest struct {
	// IdempotencyKey makes the submission idempotent as in SubmitRequest;
	// without it, the caller's rollback of a ticket is filed once, and
	// asking again returns that ticket (200).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CheckRequest asks for the review of a script against an instance,
// without submitting it.
type CheckRequest struct {
	Instance string `json:"instance"`
	Database string `json:"database"`
	SQL      string `json:"sql"`
}

// CheckResponse is the review of a CheckRequest's script: findings carry
// their line and column.
type CheckResponse struct {
	Review *review.Result `json:"review"`
}

// Progress is a running ticket's latest progress.
type Progress struct {
	Table         string `json:"table,omitempty"`
	TablesDone    int    `json:"tables_done"`
	TablesTotal   int    `json:"tables_total"`
	Rows          int64  `json:"rows"`
	RowsEstimate  int64  `json:"rows_estimate,omitempty"`
	Bytes         int64  `json:"bytes"`
	BytesEstimate int64  `json:"bytes_estimate,omitempty"`
	// Percent is the share done, from 0 to 100, by bytes or rows or
	// tables, whichever has an estimate; 100 for a live move past its
	// copy (catching up, in sync and after).
	Percent   float64 `json:"percent"`
	ElapsedMS int64   `json:"elapsed_ms"`
	// ETAMS is the estimated time left; 0 when unknown.
	ETAMS  int64           `json:"eta_ms,omitempty"`
	Text   string          `json:"text"`
	Tables []TableProgress `json:"tables,omitempty"`

	// The rest is a live move's: its phase ("copying", "catching up",
	// "in sync", "cutting over", "verifying", "done", "failed"), how far
	// the target is behind the source (LagTxns: in transactions), and the
	// binary log's row changes and transactions applied.
	Phase          string `json:"phase,omitempty"`
	LagMS          int64  `json:"lag_ms,omitempty"`
	LagTxns        int64  `json:"lag_txns,omitempty"`
	AppliedRows    int64  `json:"applied_rows,omitempty"`
	AppliedTxns    int64  `json:"applied_txns,omitempty"`
	StreamPosition string `json:"stream_position,omitempty"`
}

// TableProgress is the progress of one table of a copy.
type TableProgress struct {
	Name         string `json:"name"`
	Rows         int64  `json:"rows"`
	RowsEstimate int64  `json:"rows_estimate"`
	Bytes        int64  `json:"bytes"`
	Done         bool   `json:"done"`
}

// TableTask is one table of a migration ticket: a sub-task with its own
// state, rows and error.
type TableTask struct {
	Name string `json:"name"`
	// State is pending, running, done or failed.
	State        string `json:"state"`
	Rows         int64  `json:"rows"`
	RowsEstimate int64  `json:"rows_estimate,omitempty"`
	Error        string `json:"error,omitempty"`
	// Retries counts the retries of this table alone.
	Retries int `json:"retries,omitempty"`
	// Retry reports that the caller may retry this table alone now
	// (POST /api/tickets/{id}/tables/{table}/retry).
	Retry bool `json:"retry,omitempty"`
}

// TicketSummary is a ticket as the list shows it.
type TicketSummary struct {
	ID             int64  `json:"id"`
	Kind           string `json:"kind"`
	Title          string `json:"title"`
	Submitter      string `json:"submitter"`
	Instance       string `json:"instance"`
	Database       string `json:"database"`
	SourceInstance string `json:"source_instance,omitempty"`
	State          string `json:"state"`
	// Step is the current approval step, from 1.
	Step int `json:"step"`
	// Awaiting reports that the step waits for a person.
	Awaiting bool `json:"awaiting,omitempty"`
	// Risk is the review's highest statement risk (SQL changes).
	Risk       string     `json:"risk,omitempty"`
	Progress   *Progress  `json:"progress,omitempty"`
	Error      string     `json:"error,omitempty"`
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// ErrorCode names the condition of Error (a workflow.ErrorCode), ""
	// without one or for an error stored before codes existed.
	ErrorCode string `json:"error_code,omitempty"`
}

// TicketList is a page of tickets, newest first.
type TicketList struct {
	Tickets []TicketSummary `json:"tickets"`
	// HasMore reports a next page; NextCursor, passed as cursor, fetches
	// it.
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
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

// StatementResult is one statement run by a SQL change.
type StatementResult struct {
	Index        int        `json:"index"`
	Text         string     `json:"text"`
	Status       string     `json:"status"`
	AffectedRows int64      `json:"affected_rows"`
	DurationMS   int64      `json:"duration_ms"`
	Warnings     []string   `json:"warnings,omitempty"`
	Error        string     `json:"error,omitempty"`
	Started      *time.Time `json:"started,omitempty"`
	// Rollback is the SQL that undoes the statement, when the engine
	// recorded it (migrate.WithRollbackSQL); RollbackNote says why there
	// is none.
	Rollback     string `json:"rollback,omitempty"`
	RollbackNote string `json:"rollback_note,omitempty"`
	// Method is how an ALTER TABLE ran ("online" or "native",
	// migrate.WithOnlineAlter) and MethodWhy why.
	Method    string `json:"method,omitempty"`
	MethodWhy string `json:"method_why,omitempty"`
}

// TableReport is what a copy did to one table.
type TableReport struct {
	Name       string `json:"name"`
	TargetName string `json:"target_name"`
	Rows       int64  `json:"rows"`
	Done       bool   `json:"done"`
	Bytes      int64  `json:"bytes,omitempty"`
}

// Report is what a ticket's executor did.
type Report struct {
	Executor       string        `json:"executor"`
	Source         string        `json:"source,omitempty"`
	Target         string        `json:"target"`
	SourceDatabase string        `json:"source_database,omitempty"`
	TargetDatabase string        `json:"target_database"`
	Tables         []TableReport `json:"tables,omitempty"`
	Rows           int64         `json:"rows"`
	Bytes          int64         `json:"bytes"`
	Started        time.Time     `json:"started"`
	DurationMS     int64         `json:"duration_ms"`
	// Position is the source binlog position ("file:pos gtid ..."), and
	// PositionNote how the copy relates to it.
	Position     string `json:"position,omitempty"`
	PositionNote string `json:"position_note,omitempty"`
	Consistent   bool   `json:"consistent,omitempty"`
	Resumed      bool   `json:"resumed,omitempty"`
	// A live move's: the binary log's row changes and transactions
	// applied, and the cutover that ended it.
	AppliedRows int64    `json:"applied_rows,omitempty"`
	AppliedTxns int64    `json:"applied_txns,omitempty"`
	Cutover     *Cutover `json:"cutover,omitempty"`
}

// Cutover is how a live move's cutover went.
type Cutover struct {
	// Method is how writes were stopped on the source; PauseMS how long
	// they were (the application's write pause).
	Method  string    `json:"method"`
	Stopped time.Time `json:"stopped"`
	PauseMS int64     `json:"pause_ms"`
	// CatchUpMS is how long the target took to apply what the source had
	// logged, VerifyMS how long the verification took.
	CatchUpMS      int64  `json:"catch_up_ms"`
	VerifyMS       int64  `json:"verify_ms"`
	SourcePosition string `json:"source_position"`
	VerifiedTables int    `json:"verified_tables"`
	VerifiedRows   int64  `json:"verified_rows"`
	KilledSessions int    `json:"killed_sessions,omitempty"`
	// DrainKilled counts the sessions of DrainKilledAccounts that the
	// drain killed, still active when its wait ended.
	DrainKilled         int      `json:"drain_killed,omitempty"`
	DrainKilledAccounts []string `json:"drain_killed_accounts,omitempty"`
	// UnappliedChanges counts the source's row changes up to
	// UnappliedUntil that are not on the target: a crashed "flush-tables"
	// cutover's lock ended before the cutover was finished.
	UnappliedChanges int64  `json:"unapplied_changes,omitempty"`
	UnappliedUntil   string `json:"unapplied_until,omitempty"`
}

// Verification is the comparison of a copy's target with its source.
type Verification struct {
	// Clean reports that every table was compared and none differs.
	Clean       bool              `json:"clean"`
	Differences int64             `json:"differences"`
	Started     time.Time         `json:"started"`
	DurationMS  int64             `json:"duration_ms"`
	Tables      []VerifiedTable   `json:"tables"`
	Unverified  []UnverifiedTable `json:"unverified,omitempty"`
}

// VerifiedTable is one compared table.
type VerifiedTable struct {
	Source     string `json:"source"` // database.table
	Target     string `json:"target"`
	Rows       int64  `json:"rows"`
	TargetRows int64  `json:"target_rows"`
	Missing    int64  `json:"missing"`
	Extra      int64  `json:"extra"`
	Changed    int64  `json:"changed"`
	// ColumnDiffs counts the compared columns defined differently.
	ColumnDiffs int `json:"column_diffs"`
}

// UnverifiedTable is a table that could not be compared, and why.
type UnverifiedTable struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// AuditEntry is one transition of a ticket.
type AuditEntry struct {
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// TicketDetail is everything about a ticket.
type TicketDetail struct {
	TicketSummary
	CC        []string   `json:"cc,omitempty"`
	SQL       string     `json:"sql,omitempty"`
	Migration *Migration `json:"migration,omitempty"`
	Window    *Window    `json:"window,omitempty"`
	Attempts  int        `json:"attempts"`
	Approvals []Approval `json:"approvals"`
	// Approvers may decide the current step in person.
	Approvers []string `json:"approvers,omitempty"`
	// Review is the automatic review of the SQL, with each finding's
	// position; Plan the executor's dry run.
	Review  *review.Result    `json:"review,omitempty"`
	Plan    *migrate.Plan     `json:"plan,omitempty"`
	Results []StatementResult `json:"results,omitempty"`
	// RollbackSQL undoes the statements that succeeded, last first, when
	// each of them has its rollback SQL; the console submits it as a new
	// SQL change (reviewed and approved as any other).
	RollbackSQL string `json:"rollback_sql,omitempty"`
	// Tables are a migration's sub-tasks, one per table.
	Tables []TableTask `json:"tables,omitempty"`
	Report *Report     `json:"report,omitempty"`
	// CutBack is the cut-back that closed a live move's rollback window
	// (Report.Cutover stays the cutover's): writes paused on the target,
	// the source caught up and verified.
	CutBack *Cutover `json:"cutback,omitempty"`
	// Verification is a data migration's proof.
	Verification *Verification `json:"verification,omitempty"`
	Audit        []AuditEntry  `json:"audit"`
	// Actions are what the caller may do to the ticket now: approve,
	// reject, cancel, retry, cutover (a live move in sync), cutback and
	// endwindow (a live move in its rollback window; endwindow and retry
	// in source_fenced, a stopped window that left the source fenced), rollback
	// (file the RollbackSQL as a new ticket); each is the last element
	// of its POST /api/tickets/{id}/... path.
	Actions []string `json:"actions"`
}

// Me is the caller, as the host's Identifier sees them.
type Me struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody names what is wrong: Code is stable (see the package
// documentation's table), Message is for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// progressOf converts p; statements says it counts the statements of a
// SQL change in its tables.
func progressOf(p *migrate.Progress, statements bool) *Progress {
	if p == nil {
		return nil
	}
	out := &Progress{Table: p.Table, TablesDone: p.TablesDone, TablesTotal: p.TablesTotal, Rows: p.Rows, RowsEstimate: p.RowsEstimate,
		Bytes: p.Bytes, BytesEstimate: p.BytesEstimate, ElapsedMS: ms(p.Elapsed), ETAMS: ms(p.ETA), Text: p.String()}
	switch {
	case statements && p.Phase != "":
		out.Text = fmt.Sprintf("%d of %d statements done; online ALTER %s: %d of about %d row(s) copied, %.0f rows/s, ETA %s, lag %s",
			p.TablesDone, p.TablesTotal, p.Phase, p.Rows, p.RowsEstimate, p.RowsPerSecond, p.ETA.Round(time.Second), p.Lag.Round(time.Millisecond))
	case statements:
		out.Text = fmt.Sprintf("%d of %d statements done, %d row(s)", p.TablesDone, p.TablesTotal, p.Rows)
	case p.Phase != "" && p.Phase != migrate.PhaseCopying:
		out.Text = fmt.Sprintf("%s: %d row change(s) in %d transaction(s) applied, lag %s (%d transaction(s) behind)", p.Phase, p.AppliedRows, p.AppliedTxns, p.Lag.Round(time.Millisecond), p.LagTxns)
	case p.Phase != "":
		out.Text = string(p.Phase) + ": " + out.Text
	}
	out.Phase, out.LagMS, out.LagTxns, out.AppliedRows, out.AppliedTxns, out.StreamPosition = string(p.Phase), ms(p.Lag), p.LagTxns, p.AppliedRows, p.AppliedTxns, p.StreamPosition
	switch {
	case statements && p.TablesTotal > 0:
		out.Percent = 100 * float64(p.TablesDone) / float64(p.TablesTotal)
	case p.Phase != "" && p.Phase != migrate.PhaseCopying && p.Phase != migrate.PhaseFailed:
		out.Percent = 100 // a live move past its copy: the bar is the copy's
	case p.BytesEstimate > 0:
		out.Percent = 100 * float64(p.Bytes) / float64(p.BytesEstimate)
	case p.RowsEstimate > 0:
		out.Percent = 100 * float64(p.Rows) / float64(p.RowsEstimate)
	case p.TablesTotal > 0:
		out.Percent = 100 * float64(p.TablesDone) / float64(p.TablesTotal)
	}
	out.Percent = min(out.Percent, 100)
	for _, t := range p.Tables {
		out.Tables = append(out.Tables, TableProgress{Name: t.Name, Rows: t.Rows, RowsEstimate: t.RowsEstimate, Bytes: t.Bytes, Done: t.Done})
	}
	return out
}

func summaryOf(t *workflow.Ticket) TicketSummary {
	s := TicketSummary{ID: t.ID, Kind: string(t.Kind), Title: t.Title, Submitter: t.Submitter, Instance: t.Instance, Database: t.Database,
		SourceInstance: t.SourceInstance(), State: t.State.String(), Step: t.Step + 1, Awaiting: t.Awaiting, Error: t.Error, ErrorCode: string(t.ErrorCode), Version: t.Version,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, StartedAt: timePtr(t.StartedAt), FinishedAt: timePtr(t.FinishedAt)}
	if t.Review != nil {
		s.Risk = t.Review.Summary.Risk.String()
	}
	if t.State.Leased() || t.State == workflow.StateSucceeded || t.State == workflow.StateFailed || t.State == workflow.StateSourceFenced {
		s.Progress = progressOf(t.Progress, t.Kind == workflow.KindSQLChange)
	}
	return s
}

// cutoverOf is c for people, nil when c is.
func cutoverOf(c *migrate.CutoverReport) *Cutover {
	if c == nil {
		return nil
	}
	return &Cutover{Method: c.Method, Stopped: c.Stopped, PauseMS: ms(c.Pause), CatchUpMS: ms(c.CatchUp), VerifyMS: ms(c.Verify),
		SourcePosition: c.SourcePosition, VerifiedTables: c.VerifiedTables, VerifiedRows: c.VerifiedRows, KilledSessions: c.KilledSessions,
		DrainKilled: c.DrainKilled, DrainKilledAccounts: c.DrainKilledAccounts, UnappliedChanges: c.UnappliedChanges, UnappliedUntil: c.UnappliedUntil}
}

func detailOf(d *workflow.Detail) TicketDetail {
	t := d.Ticket
	out := TicketDetail{TicketSummary: summaryOf(t), CC: t.CC, SQL: t.SQL, Attempts: t.Attempts, Review: t.Review, Plan: t.Plan,
		Approvals: []Approval{}, Audit: []AuditEntry{}, Actions: []string{}}
	if m := t.Migration; m != nil {
		out.Migration = &Migration{SourceInstance: m.SourceInstance, SourceDatabase: m.SourceDatabase, Tables: m.Tables, Method: m.Method, Replace: m.Replace,
			Fence: m.Fence, Accounts: m.Accounts, Reverse: m.Reverse, PendingSwitch: m.PendingSwitch}
	}
	if w := t.Window; w != nil {
		out.Window = &Window{NotBefore: timePtr(w.NotBefore), NotAfter: timePtr(w.NotAfter)}
	}
	for _, a := range t.Approvals {
		out.Approvals = append(out.Approvals, Approval{Step: a.Step + 1, Name: a.Name, Actor: a.Actor, Approve: a.Approve, Comment: a.Comment, At: a.At})
	}
	for _, r := range t.Results {
		out.Results = append(out.Results, StatementResult{Index: r.Index, Text: r.Text, Status: string(r.Status), AffectedRows: r.AffectedRows,
			DurationMS: ms(r.Duration), Warnings: r.Warnings, Error: r.Error, Started: timePtr(r.Started), Rollback: r.Rollback, RollbackNote: r.RollbackNote,
			Method: r.Method, MethodWhy: r.MethodWhy})
	}
	out.RollbackSQL = rollbackOf(t.Results)
	for _, tk := range t.Subtasks() {
		out.Tables = append(out.Tables, TableTask{Name: tk.Name, State: string(tk.State), Rows: tk.Rows, RowsEstimate: tk.RowsEstimate,
			Error: tk.Error, Retries: tk.Retries})
	}
	if r := t.Report; r != nil {
		rep := &Report{Executor: r.Executor, Source: r.Source, Target: r.Target, SourceDatabase: r.SourceDatabase, TargetDatabase: r.TargetDatabase,
			Rows: r.Rows, Bytes: r.Bytes, Started: r.Started, DurationMS: ms(r.Duration), PositionNote: r.PositionNote(),
			Consistent: r.Consistent, Resumed: r.Resumed}
		if !r.Position.IsZero() {
			rep.Position = r.Position.String()
		}
		for _, tr := range r.Tables {
			rep.Tables = append(rep.Tables, TableReport{Name: tr.Name, TargetName: tr.TargetName, Rows: tr.Rows, Done: tr.Done, Bytes: tr.Bytes})
		}
		rep.AppliedRows, rep.AppliedTxns = r.AppliedRows, r.AppliedTxns
		rep.Cutover = cutoverOf(r.Cutover)
		out.Report = rep
	}
	out.CutBack = cutoverOf(t.CutBack)
	if v := t.Verification; v != nil {
		out.Verification = &Verification{Clean: v.Clean(), Differences: v.Differences(), Started: v.Started, DurationMS: ms(v.Duration),
			Tables: []VerifiedTable{}}
		for _, tr := range v.Tables {
			out.Verification.Tables = append(out.Verification.Tables, VerifiedTable{Source: tr.SourceDatabase + "." + tr.SourceTable,
				Target: tr.TargetDatabase + "." + tr.TargetTable, Rows: tr.Rows, TargetRows: tr.TargetRows, Missing: tr.Missing,
				Extra: tr.Extra, Changed: tr.Changed, ColumnDiffs: len(tr.ColumnDiffs)})
		}
		for _, u := range v.Unverified {
			out.Verification.Unverified = append(out.Verification.Unverified, UnverifiedTable{Source: u.SourceDatabase + "." + u.SourceTable,
				Target: u.TargetDatabase + "." + u.TargetTable, Reason: u.Reason})
		}
	}
	for _, a := range d.Audit {
		out.Audit = append(out.Audit, AuditEntry{Actor: a.Actor, Action: string(a.Action), From: a.From.String(), To: a.To.String(), Comment: a.Comment, At: a.At})
	}
	return out
}

// rollbackOf is the SQL that undoes the succeeded statements of results,
// last first: "" when none succeeded or one has no rollback SQL.
func rollbackOf(results []migrate.StatementResult) string {
	var b strings.Builder
	for _, r := range slices.Backward(results) {
		if r.Status != migrate.StatementSucceeded {
			continue
		}
		if r.Rollback == "" {
			return ""
		}
		b.WriteString(r.Rollback)
	}
	return b.String()
}
