package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// SQLChangeKind is the built-in KindSQLChange: it runs the statements the
// review passed, and only those, with migrate.Statements configured by
// opts. A ticket whose worker died is never re-run.
func SQLChangeKind(opts ...migrate.StatementsOption) KindSpec {
	opts = slices.Clone(opts)
	return KindSpec{
		Executor: func(_ context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
			if t.Review == nil || !t.Review.Summary.Pass {
				return nil, fmt.Errorf("workflow: ticket #%d: the SQL has not passed review", t.ID)
			}
			stmts := make([]string, 0, len(t.Review.Statements))
			for _, st := range t.Review.Statements {
				stmts = append(stmts, st.Text)
			}
			return migrate.NewStatements(string(ep.Target), t.Database, stmts, opts...)
		},
	}
}

// MigrationOptions are extra options of the executors of data-migration
// tickets, such as throttling (migrate.WithRateLimit) for the Copier. An
// option both take (migrate.WithLogger, migrate.WithTimeouts) goes in
// both lists.
type MigrationOptions struct {
	Pipe   []migrate.PipeOption
	Copier []migrate.CopierOption
	// Verify are the options of the verification that follows every copy
	// (see Verified).
	Verify []verify.Option
	// NoVerify leaves the copies unverified: their tickets end without
	// proof. For hosts that verify otherwise.
	NoVerify bool
}

// DataMigrationKind is the built-in KindDataMigration: it copies with
// migrate.Copier (a run whose worker died is requeued and resumes from
// the Copier's checkpoint) or migrate.Pipe (which has no checkpoint, so
// its ticket fails as abandoned instead), as the ticket's Method says.
// The Copier keeps its checkpoint in the database _shiftgate on every
// target it writes to; migrate.WithCheckpointDatabase in o.Copier names
// another.
func DataMigrationKind(o MigrationOptions) KindSpec {
	pipeOpts, copierOpts := slices.Clone(o.Pipe), slices.Clone(o.Copier)
	spec := KindSpec{
		Executor: func(_ context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
			m := t.Migration
			if m == nil {
				return nil, errors.New("workflow: data migration without Migration")
			}
			// The ticket's options come first: both executors take them.
			var pipe []migrate.PipeOption
			var copier []migrate.CopierOption
			ticket := func(o migrate.CopyOption) { pipe, copier = append(pipe, o), append(copier, o) }
			ticket(migrate.WithTargetDatabase(t.Database))
			tables, replace := m.Tables, m.Replace
			if retry := t.retrying(); len(retry) > 0 {
				// The failed run's rows of these tables are replaced.
				tables, replace = retry, true
			}
			if len(tables) > 0 {
				ticket(migrate.WithTables(tables...))
			}
			if replace {
				ticket(migrate.WithReplace())
			}
			if m.Method == MethodPipe {
				return migrate.NewPipe(string(ep.Source), string(ep.Target), m.SourceDatabase, append(pipe, pipeOpts...)...)
			}
			return migrate.NewCopier(string(ep.Source), string(ep.Target), m.SourceDatabase, append(copier, copierOpts...)...)
		},
		Resumable:  func(t *Ticket) bool { return t.Migration != nil && t.Migration.Method == MethodCopier },
		TableRetry: true,
	}
	if o.NoVerify {
		return spec
	}
	return Verified(spec, o.Verify...)
}

// Verified returns spec whose runs, once their copy succeeded, compare
// the ticket's tables (Migration.Tables, or every table of its source
// database) on the source with the target's (verify.Verifier with opts):
// a difference, or a table that could not be compared, fails the run with
// an error wrapping migrate.ErrNotVerified, and the verification report is
// kept on the ticket (Ticket.Verification). Every run verifies, a resumed
// one too: no ticket ends succeeded without its proof. A retry of some
// tables (Engine.RetryTable) verifies every table of the ticket, once none
// stays failed. spec's tickets must carry a Migration. DataMigrationKind
// uses it unless MigrationOptions.NoVerify is set.
func Verified(spec KindSpec, opts ...verify.Option) KindSpec {
	opts = slices.Clone(opts)
	inner := spec.Executor
	spec.Executor = func(ctx context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
		if t.Migration == nil {
			return nil, fmt.Errorf("workflow: ticket #%d: a verified copy without Migration", t.ID)
		}
		ex, err := inner(ctx, t, ep)
		if err != nil {
			return nil, err
		}
		return &verifiedCopy{Executor: ex, ep: ep, m: *t.Migration, target: t.Database, opts: opts, failed: failed(t.Tables)}, nil
	}
	return spec
}

// verifiedCopy is a copy followed by its verification.
type verifiedCopy struct {
	migrate.Executor
	ep     Endpoints
	m      Migration
	target string // database
	opts   []verify.Option
	// failed are the tables a retry of others leaves failed: the ticket
	// fails all the same, so its run skips the verification.
	failed []string

	mu     sync.Mutex
	report *verify.Report
}

// verificationer is the optional capability of executors whose runs end
// with a verification (verifiedCopy).
type verificationer interface {
	Verification() *verify.Report
}

// Verification returns the last run's verification, nil before one ends.
func (v *verifiedCopy) Verification() *verify.Report {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.report
}

// Run copies, then verifies the copy.
func (v *verifiedCopy) Run(ctx context.Context, progress migrate.ProgressFunc) (*migrate.Report, error) {
	report, err := v.Executor.Run(ctx, progress)
	if err != nil || len(v.failed) > 0 {
		return report, err
	}
	vr, err := v.verify(ctx)
	if err != nil {
		return report, fmt.Errorf("workflow: verification after the copy: %w", err)
	}
	v.mu.Lock()
	v.report = vr
	v.mu.Unlock()
	if !vr.Clean() {
		return report, &problem{err: migrate.ErrNotVerified, msg: fmt.Sprintf("workflow: verification after the copy: %d row(s) differ, %d column definition(s) differ, %d table(s) not compared",
			vr.Differences(), vr.ColumnDiffs(), len(vr.Unverified))}
	}
	return report, nil
}

func (v *verifiedCopy) verify(ctx context.Context) (*verify.Report, error) {
	open := func(side string, d DSN) (*sql.DB, error) {
		cfg, err := conn.ParseDSN(string(d))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", side, err)
		}
		return conn.Open(ctx, cfg, conn.Options{})
	}
	src, err := open("source", v.ep.Source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := open("target", v.ep.Target)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	vf, err := verify.New(src, dst, v.opts...)
	if err != nil {
		return nil, err
	}
	if len(v.m.Tables) == 0 {
		return vf.VerifyDatabase(ctx, v.m.SourceDatabase, v.target)
	}
	pairs := make([]verify.TablePair, len(v.m.Tables))
	for i, name := range v.m.Tables {
		pairs[i] = verify.TablePair{SourceDatabase: v.m.SourceDatabase, SourceTable: name, TargetDatabase: v.target}
	}
	return vf.Verify(ctx, pairs...)
}

// LiveMoveOptions configure the executors of live-move tickets.
type LiveMoveOptions struct {
	// Sync are extra options of every live move's migrate.Sync, applied
	// after the ticket's own (so a WithFence here overrides the
	// ticket's): WithMaxLag, WithDrainWait, WithCutoverTimeout,
	// throttling of the copy.
	Sync []migrate.SyncOption
	// Switch, if set, is the host's switch for ticket t
	// (migrate.WithSwitch): the cutover calls it once writes to the moved
	// tables are stopped on the source and the target holds and verified
	// them, to point t's application at the target. Without it the
	// cutover ends with the target verified equal and the source's writes
	// restored: the application must then be pointed at the target by
	// other means, and what it writes to the source meanwhile is not
	// moved. A run resumed after a crash during or after it calls it
	// again: it must be idempotent.
	Switch func(ctx context.Context, t *Ticket) error
	// SwitchBack, if set, is the host's switch back for ticket t, made
	// with Migration.Reverse (migrate.WithReverseSync): the cut-back
	// (Engine.CutBack) calls it once writes to the moved tables are
	// stopped on the target and the source holds and verified them, to
	// point t's application back at the source. A run resumed after a
	// crash during or after it calls it again: it must be idempotent.
	SwitchBack func(ctx context.Context, t *Ticket) error
}

// LiveMoveKind is the built-in KindLiveMove: it moves the ticket's tables
// with migrate.Sync, configured by the ticket's Migration (source,
// database, tables, Fence and Accounts) and o. Its review is the Sync's
// Plan; its run copies, catches up and follows the source until a person
// cuts over (Engine.Cutover) once the ticket awaits it. A run whose
// worker died is requeued and resumes from the Sync's checkpoint: the
// grants or locks of a cutover it left behind are restored first.
// Canceling the ticket stops the sync and leaves the target as it is (the
// tables and the stream position saved in the checkpoint database; a
// later live move into the same target database resumes from them); the
// source is never changed but for the cutover's fence, which is released.
//
// A ticket with Migration.Reverse keeps a rollback window after its
// cutover: the ticket goes to rollback_window, and the same run applies
// the target's writes back to the source (migrate.ReverseSync) until a
// person cuts back (Engine.CutBack, which calls o.SwitchBack) or closes
// the window (Engine.EndWindow); both end it succeeded. A run resumed
// after a crash past the cutover goes back to the window. A reverse sync
// that fails otherwise than by a shutdown (DDL on the target, a refusal),
// or a closing of the window that fails, leaves the ticket in
// source_fenced with its error: the source stays fenced until a cutover
// approver closes the window (Engine.EndWindow) or retries the reverse
// sync (Engine.Retry). A cutover, cut-back or end of the window approved
// but not made when a run stopped is made by the next run
// (Ticket.Carried).
func LiveMoveKind(o LiveMoveOptions) KindSpec {
	extra, switchFn, switchBack := slices.Clone(o.Sync), o.Switch, o.SwitchBack
	return KindSpec{
		Executor: func(_ context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
			m := t.Migration
			if m == nil {
				return nil, errors.New("workflow: live move without Migration")
			}
			method, err := ParseFence(m.Fence)
			if err != nil {
				return nil, err
			}
			pending, err := ParsePendingSwitch(m.PendingSwitch)
			if err != nil {
				return nil, err
			}
			opts := []migrate.SyncOption{migrate.WithTargetDatabase(t.Database), migrate.WithFence(method, m.Accounts...), migrate.WithPendingSwitch(pending)}
			if len(m.Tables) > 0 {
				opts = append(opts, migrate.WithTables(m.Tables...))
			}
			if m.Replace {
				opts = append(opts, migrate.WithReplace())
			}
			tc := t.Clone()
			if switchFn != nil {
				opts = append(opts, migrate.WithSwitch(func(ctx context.Context) error { return switchFn(ctx, tc) }))
			}
			if m.Reverse {
				var back func(context.Context) error
				if switchBack != nil {
					back = func(ctx context.Context) error { return switchBack(ctx, tc) }
				}
				opts = append(opts, migrate.WithReverseSync(back))
			}
			s, err := migrate.NewSync(string(ep.Source), string(ep.Target), m.SourceDatabase, append(opts, extra...)...)
			if err != nil || !m.Reverse {
				return s, err
			}
			rv, err := s.Reverse()
			if err != nil {
				return nil, err
			}
			return &windowedMove{Sync: s, reverse: rv, carriedEnd: t.Carried == ActionEndWindow}, nil
		},
		Resumable: func(*Ticket) bool { return true },
		Cutover:   true,
	}
}

// pendingSwitches are the decisions a live move may name for a pending
// switch (Migration.PendingSwitch).
var pendingSwitches = map[string]migrate.PendingSwitch{
	"refuse": migrate.PendingSwitchRefuse, "abandon": migrate.PendingSwitchAbandon, "finish": migrate.PendingSwitchFinish,
}

// ParsePendingSwitch returns the decision called name ("refuse", "abandon"
// or "finish"); "" is migrate.PendingSwitchRefuse, the Sync's default.
func ParsePendingSwitch(name string) (migrate.PendingSwitch, error) {
	if name == "" {
		return migrate.PendingSwitchRefuse, nil
	}
	d, ok := pendingSwitches[name]
	if !ok {
		return 0, fmt.Errorf("workflow: unknown pending switch decision %q (want refuse, abandon or finish)", name)
	}
	return d, nil
}

// fences are the cutover's fence methods a live move may name.
var fences = []migrate.FenceMethod{migrate.FenceFlushTables, migrate.FenceAccounts, migrate.FenceReadOnly}

// ParseFence returns the fence method called name (its String, such as
// "accounts"); "" is migrate.FenceFlushTables, the Sync's default.
func ParseFence(name string) (migrate.FenceMethod, error) {
	if name == "" {
		return migrate.FenceFlushTables, nil
	}
	for _, m := range fences {
		if m.String() == name {
			return m, nil
		}
	}
	return 0, fmt.Errorf("workflow: unknown fence method %q (want flush-tables, accounts or read-only)", name)
}

var (
	sqlChangeSpec     = SQLChangeKind()
	dataMigrationSpec = DataMigrationKind(MigrationOptions{})
	liveMoveSpec      = LiveMoveKind(LiveMoveOptions{})
)
