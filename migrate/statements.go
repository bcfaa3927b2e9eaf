package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// StatementStatus is where one statement of a Statements run is.
type StatementStatus string

// The statuses of a statement.
const (
	StatementPending   StatementStatus = "pending"   // not started
	StatementRunning   StatementStatus = "running"   // sent to the server, no answer yet
	StatementSucceeded StatementStatus = "succeeded" // done
	StatementFailed    StatementStatus = "failed"    // the server returned an error, or the run was canceled during it
)

// StatementResult is what happened to one statement of a Statements run.
type StatementResult struct {
	Index        int             `json:"index"` // 0-based position in the script
	Text         string          `json:"text"`
	Status       StatementStatus `json:"status"`
	AffectedRows int64           `json:"affected_rows"`
	Duration     time.Duration   `json:"duration"`
	// Warnings are SHOW WARNINGS after the statement, as
	// "Level Code: Message".
	Warnings []string  `json:"warnings,omitempty"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	// GTID is the statement's transaction (WithRollbackSQL), "" when it
	// logged none.
	GTID string `json:"gtid,omitempty"`
	// Rollback is the SQL that undoes the statement (WithRollbackSQL):
	// statements each ending with ";\n", to run in order on one session
	// in any default database (see internal/rollback for what they do).
	// "" when there is none, and RollbackNote says why.
	Rollback     string `json:"rollback,omitempty"`
	RollbackNote string `json:"rollback_note,omitempty"`
	// Method is how an ALTER TABLE ran with WithOnlineAlter ("online" or
	// "native", AlterPlan.Method) and MethodWhy why; "" for the others.
	Method    string `json:"method,omitempty"`
	MethodWhy string `json:"method_why,omitempty"`
}

// StatementError reports the statement a Statements run stopped at.
type StatementError struct {
	Index int
	Text  string // the statement, shortened
	Err   error
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("migrate: statement %d (%s): %v", e.Index+1, e.Text, e.Err)
}

func (e *StatementError) Unwrap() error { return e.Err }

// WithStatementTimeout bounds each statement: a statement still running
// after d is killed (KILL QUERY) and the run stops with an error.
func WithStatementTimeout(d time.Duration) StatementsOption {
	return statementsOption(func(s *Statements) error {
		if d <= 0 {
			return optionError("WithStatementTimeout", "%v is not positive", d)
		}
		s.timeout = d
		return nil
	})
}

// Statements runs statements that a review passed, one by one on one
// connection to the target, in a default database. For each it records the
// affected rows, the duration, SHOW WARNINGS and the error; it stops at the
// first error. It never re-runs a statement: a second Run of the same
// Statements is refused once one has started.
//
// Progress reports map the run onto migrate.Progress: TablesDone and
// TablesTotal count statements, Rows sums affected rows and Table is a
// short label of the statement running ("#2 UPDATE orders ..."). Progress
// is called before each statement starts, after it ends and at the end;
// Results returns the per-statement detail at any time, also from another
// goroutine.
//
// Canceling Run's context kills the running statement on the server
// (KILL QUERY) and stops; statements are not wrapped in a transaction, so
// what succeeded before stays. With WithRollbackSQL, the result of each
// DML statement also carries the SQL that undoes it. With WithOnlineAlter,
// each ALTER TABLE runs through an OnlineAlter.
type Statements struct {
	target         *mysql.Config
	database       string
	statements     []string
	timeout        time.Duration
	rollback       *rollbackSQL // nil: no rollback SQL
	online         []OnlineAlterOption
	onlineSet      bool // WithOnlineAlter: ALTER TABLE runs through an OnlineAlter
	executorConfig      // WithLogger logs each statement's outcome

	running runGuard
	started atomic.Bool

	mu      sync.Mutex
	results []StatementResult
}

var _ Executor = (*Statements)(nil)

// NewStatements prepares statements to run in database on the server at
// targetDSN (a go-sql-driver DSN; its database part is ignored). Each
// element is exactly one statement, without a trailing delimiter. It
// connects to nothing: call Plan for a dry run.
func NewStatements(targetDSN, database string, statements []string, opts ...StatementsOption) (*Statements, error) {
	cfg, err := parseDSN(Target, targetDSN)
	if err != nil {
		return nil, err
	}
	if err := schema.ValidateName("database", database); err != nil {
		return nil, fmt.Errorf("migrate: statements: %w", err)
	}
	if len(statements) == 0 {
		return nil, errors.New("migrate: statements: no statement to run")
	}
	s := &Statements{target: cfg, database: database, executorConfig: executorConfig{logger: slog.New(slog.DiscardHandler)}}
	for i, st := range statements {
		st = strings.TrimSpace(st)
		if st == "" {
			return nil, fmt.Errorf("migrate: statements: statement %d is empty", i+1)
		}
		s.statements = append(s.statements, st)
		s.results = append(s.results, StatementResult{Index: i, Text: st, Status: StatementPending})
	}
	if err := applyOptions(opts, StatementsOption.applyStatements, s); err != nil {
		return nil, fmt.Errorf("migrate: statements: %w", err)
	}
	return s, nil
}

func (s *Statements) scope() Scope {
	return Scope{Executor: "statements", Target: s.target.Addr, TargetDatabase: s.database}
}

// Plan connects to the target, checks that the database exists, and lists
// the statements as the plan's steps. It runs nothing.
func (s *Statements) Plan(ctx context.Context) (*Plan, error) {
	plan := &Plan{Scope: s.scope()}
	for i, st := range s.statements {
		plan.Steps = append(plan.Steps, fmt.Sprintf("%d. %s", i+1, st))
	}
	if s.rollback != nil {
		plan.Steps = append(plan.Steps, "after each INSERT, REPLACE, UPDATE and DELETE: its rollback SQL, from the row images of its transaction in the binary log")
	}
	db, err := openSide(ctx, Target, s.target, conn.Options{Timeouts: s.timeouts, MaxConns: 1, Logger: s.logger})
	if err != nil {
		return plan, err
	}
	defer db.Close()
	if err := s.check(ctx, db); err != nil {
		return plan, err
	}
	if s.onlineSet {
		return plan, s.planOnline(ctx, plan)
	}
	return plan, nil
}

func (s *Statements) check(ctx context.Context, db *sql.DB) error {
	if s.rollback != nil {
		if err := s.rollback.check(ctx, db, s.target, s.database); err != nil {
			return err
		}
	}
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", s.database).Scan(&n)
	object := "database " + schema.QuoteIdent(s.database)
	if err != nil {
		return &EndpointError{Side: Target, Endpoint: conn.Endpoint(s.target), Object: object, Err: err}
	}
	if n == 0 {
		return &EndpointError{Side: Target, Endpoint: conn.Endpoint(s.target), Object: object, Err: ErrNotFound}
	}
	return nil
}

// Results returns a copy of every statement's result so far, in order.
func (s *Statements) Results() []StatementResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StatementResult, len(s.results))
	for i, r := range s.results {
		r.Warnings = append([]string(nil), r.Warnings...)
		out[i] = r
	}
	return out
}

func (s *Statements) setResult(r StatementResult) {
	s.mu.Lock()
	s.results[r.Index] = r
	s.mu.Unlock()
}

// Run runs the statements in order and stops at the first error, which it
// returns as a *StatementError.
func (s *Statements) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := s.running.enter(ctx, "statements on "+s.target.Addr); err != nil {
		return nil, err
	}
	defer s.running.leave()
	if s.started.Load() {
		return nil, fmt.Errorf("migrate: statements on %s: already run once; statements are never re-run", s.target.Addr)
	}
	// The statements may run long before the server answers: no read
	// timeout (WithStatementTimeout and ctx bound them).
	t := s.timeouts
	t.Read = -1
	db, err := openSide(ctx, Target, s.target, conn.Options{Timeouts: t, MaxConns: 2, Logger: s.logger})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := s.check(ctx, db); err != nil {
		return nil, err
	}
	session, err := db.Conn(ctx)
	if err != nil {
		return nil, &EndpointError{Side: Target, Endpoint: conn.Endpoint(s.target), Object: serverFault, Err: fmt.Errorf("%w: %w", ErrConnect, err)}
	}
	defer session.Close()
	var connID int64
	if err := session.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&connID); err != nil {
		return nil, fmt.Errorf("migrate: statements: %w", err)
	}
	if _, err := session.ExecContext(ctx, "USE "+schema.QuoteIdent(s.database)); err != nil {
		return nil, &EndpointError{Side: Target, Endpoint: conn.Endpoint(s.target), Object: "database " + schema.QuoteIdent(s.database), Err: err}
	}

	s.started.Store(true)
	report := &Report{Scope: s.scope(), Started: time.Now()}
	p := Progress{TablesTotal: len(s.statements)}
	emit := func() {
		p.Elapsed = time.Since(report.Started)
		if progress != nil {
			progress(p)
		}
	}
	for i, text := range s.statements {
		p.Table = label(i, text)
		r := StatementResult{Index: i, Text: text, Status: StatementRunning, Started: time.Now()}
		s.setResult(r)
		emit()
		if err := ctx.Err(); err != nil {
			// Canceled before it was sent (by the progress function, too).
			r.Status = StatementPending
			s.setResult(r)
			report.Duration = time.Since(report.Started)
			return report, &StatementError{Index: i, Text: shorten(text), Err: fmt.Errorf("not run: %w (statements 1 to %d ran, the target keeps their changes)", err, i)}
		}
		var mark *rollbackMark
		if s.rollback != nil {
			if mark, r.RollbackNote, err = s.rollback.before(ctx, session, text); err != nil {
				r.Status, r.Error = StatementPending, err.Error()
				s.setResult(r)
				report.Duration = time.Since(report.Started)
				return report, &StatementError{Index: i, Text: shorten(text), Err: fmt.Errorf("not run: %w", err)}
			}
		}
		var affected int64
		online := false
		if s.onlineSet {
			online, err = s.runOnline(ctx, &r, &p, emit)
			affected = r.AffectedRows
		}
		if !online {
			affected, r.Warnings, err = s.exec(ctx, db, session, connID, text)
		}
		r.Duration = time.Since(r.Started)
		r.AffectedRows = affected
		if err != nil {
			r.Status, r.Error = StatementFailed, err.Error()
			s.setResult(r)
			report.Duration = time.Since(report.Started)
			s.logger.Warn("statement failed", "index", i+1, "statement", p.Table, "err", err)
			p.Table = ""
			emit()
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (canceled; statements 1 to %d ran, the target keeps their changes)", err, i)
			}
			return report, &StatementError{Index: i, Text: shorten(text), Err: err}
		}
		r.Status = StatementSucceeded
		if mark != nil {
			r.GTID, r.Rollback, r.RollbackNote = s.rollback.after(ctx, session, s.target, mark, affected)
			if r.Rollback == "" {
				s.logger.Warn("statement has no rollback SQL", "index", i+1, "statement", label(i, text), "reason", r.RollbackNote)
			}
		}
		s.setResult(r)
		s.logger.Info("statement done", "index", i+1, "statement", label(i, text), "rows", affected, "duration", r.Duration)
		p.TablesDone++
		p.Rows += max(affected, 0)
		report.Rows = p.Rows
		report.Tables = append(report.Tables, TableReport{Name: label(i, text), Rows: max(affected, 0), Done: true})
	}
	p.Table = ""
	report.Duration = time.Since(report.Started)
	emit()
	return report, nil
}

// exec runs one statement on conn and reads its warnings. When ctx ends or
// the timeout passes, the statement is killed on the server through a
// second connection.
func (s *Statements) exec(ctx context.Context, db *sql.DB, conn *sql.Conn, connID int64, text string) (int64, []string, error) {
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if s.timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	defer cancel()
	done := make(chan struct{})
	killed := make(chan struct{})
	var didKill atomic.Bool
	go func() {
		defer close(killed)
		select {
		case <-done:
		case <-sctx.Done():
			didKill.Store(true)
			kctx, kcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer kcancel()
			_, _ = db.ExecContext(kctx, fmt.Sprintf("KILL QUERY %d", connID))
		}
	}()
	// The statement runs with a context that is not canceled: the driver
	// would otherwise drop the connection while the server goes on; KILL
	// QUERY stops it on the server and the driver then returns its error.
	res, err := conn.ExecContext(context.WithoutCancel(ctx), text)
	close(done)
	<-killed
	var affected int64
	switch {
	case err == nil && didKill.Load():
		// A killed SLEEP returns no error; the statement was interrupted.
		err = fmt.Errorf("killed: %w", sctx.Err())
	case err == nil:
		affected, _ = res.RowsAffected()
	case sctx.Err() != nil:
		err = fmt.Errorf("%w: %w", sctx.Err(), err)
	}
	warnings, werr := showWarnings(conn)
	if err == nil && werr != nil {
		err = fmt.Errorf("SHOW WARNINGS: %w", werr)
	}
	return affected, warnings, err
}

func showWarnings(conn *sql.Conn) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var level, message string
		var code int
		if err := rows.Scan(&level, &code, &message); err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s %d: %s", level, code, message))
	}
	return out, rows.Err()
}

// label names statement i for progress lines: "#2 UPDATE orders SET ...".
func label(i int, text string) string { return fmt.Sprintf("#%d %s", i+1, shorten(text)) }

func shorten(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return text
}
