package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/shiftgate/shiftgate/migrate"
)

// sqlChangeSpec runs the statements the review passed with
// migrate.Statements; a dead worker's ticket is never re-run.
var sqlChangeSpec = KindSpec{
	Executor: func(_ context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
		if t.Review == nil || !t.Review.Summary.Pass {
			return nil, fmt.Errorf("workflow: ticket #%d: the SQL has not passed review", t.ID)
		}
		stmts := make([]string, 0, len(t.Review.Statements))
		for _, st := range t.Review.Statements {
			stmts = append(stmts, st.Text)
		}
		return migrate.NewStatements(string(ep.Target), t.Database, stmts)
	},
}

// dataMigrationSpec copies with migrate.Copier (resumed from its
// checkpoint after a dead worker) or migrate.Pipe (which has no
// checkpoint, so its ticket fails as abandoned instead).
var dataMigrationSpec = KindSpec{
	Executor: func(_ context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error) {
		m := t.Migration
		if m == nil {
			return nil, errors.New("workflow: data migration without Migration")
		}
		opts := []migrate.Option{migrate.WithTargetDatabase(t.Database)}
		if len(m.Tables) > 0 {
			opts = append(opts, migrate.WithTables(m.Tables...))
		}
		if m.Replace {
			opts = append(opts, migrate.WithReplace())
		}
		if m.Method == MethodPipe {
			return migrate.NewPipe(string(ep.Source), string(ep.Target), m.SourceDatabase, opts...)
		}
		return migrate.NewCopier(string(ep.Source), string(ep.Target), m.SourceDatabase, opts...)
	},
	Resumable: func(t *Ticket) bool { return t.Migration != nil && t.Migration.Method == MethodCopier },
}
