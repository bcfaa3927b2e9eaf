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
	if o.NoVerify {
		return spec
	}
	return Verified(spec, o.Verify...)
}

// Verified returns spec whose runs, once their copy succeeded, compare
// the ticket's tables (Migration.Tables, or every table of its source
// database) on the source with the target's (verify.Verifier with opts):
// a difference, or a table that could not be compared, fails the run, and
// the verification report is kept on the ticket (Ticket.Verification).
// Every run verifies, a resumed one too: no ticket ends succeeded without
// its proof. spec's tickets must carry a Migration. DataMigrationKind
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
		return &verifiedCopy{Executor: ex, ep: ep, m: *t.Migration, target: t.Database, opts: opts}, nil
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
	if err != nil {
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
		return report, fmt.Errorf("workflow: verification after the copy: %d row(s) differ, %d column definition(s) differ, %d table(s) not compared",
			vr.Differences(), vr.ColumnDiffs(), len(vr.Unverified))
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

var (
	sqlChangeSpec     = SQLChangeKind()
	dataMigrationSpec = DataMigrationKind(MigrationOptions{})
)
