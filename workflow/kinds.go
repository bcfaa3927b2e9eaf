package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shiftgate/shiftgate/migrate"
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
}

// DataMigrationKind is the built-in KindDataMigration: it copies with
// migrate.Copier (a run whose worker died is requeued and resumes from
// the Copier's checkpoint) or migrate.Pipe (which has no checkpoint, so
// its ticket fails as abandoned instead), as the ticket's Method says.
func DataMigrationKind(o MigrationOptions) KindSpec {
	pipeOpts, copierOpts := slices.Clone(o.Pipe), slices.Clone(o.Copier)
	return KindSpec{
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
			if len(m.Tables) > 0 {
				ticket(migrate.WithTables(m.Tables...))
			}
			if m.Replace {
				ticket(migrate.WithReplace())
			}
			if m.Method == MethodPipe {
				return migrate.NewPipe(string(ep.Source), string(ep.Target), m.SourceDatabase, append(pipe, pipeOpts...)...)
			}
			return migrate.NewCopier(string(ep.Source), string(ep.Target), m.SourceDatabase, append(copier, copierOpts...)...)
		},
		Resumable: func(t *Ticket) bool { return t.Migration != nil && t.Migration.Method == MethodCopier },
	}
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
	// moved.
	Switch func(ctx context.Context, t *Ticket) error
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
func LiveMoveKind(o LiveMoveOptions) KindSpec {
	extra, switchFn := slices.Clone(o.Sync), o.Switch
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
			opts := []migrate.SyncOption{migrate.WithTargetDatabase(t.Database), migrate.WithFence(method, m.Accounts...)}
			if len(m.Tables) > 0 {
				opts = append(opts, migrate.WithTables(m.Tables...))
			}
			if m.Replace {
				opts = append(opts, migrate.WithReplace())
			}
			if switchFn != nil {
				tc := t.Clone()
				opts = append(opts, migrate.WithSwitch(func(ctx context.Context) error { return switchFn(ctx, tc) }))
			}
			return migrate.NewSync(string(ep.Source), string(ep.Target), m.SourceDatabase, append(opts, extra...)...)
		},
		Resumable: func(*Ticket) bool { return true },
		Cutover:   true,
	}
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
