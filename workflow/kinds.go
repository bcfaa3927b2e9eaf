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
// The Copier keeps its checkpoint in the database _shiftgate on every
// target it writes to; migrate.WithCheckpointDatabase in o.Copier names
// another.
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

var (
	sqlChangeSpec     = SQLChangeKind()
	dataMigrationSpec = DataMigrationKind(MigrationOptions{})
)
