package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/shard"
)

// Rebalance moves the rows of a sharded table from one layout to another
// as a shard.Plan says, while the old layout keeps serving. It works in
// two phases, so that no table of the new layout changes until every
// moving row is copied:
//
//  1. Copy. Each source shard the plan does not Keep is split (as Split
//     does: keyset chunks, routed in Go, LOAD DATA, checkpointed per shard
//     server, kill -9 and rerun exact) into staging tables of the new
//     layout: on each target server, database <checkpoint db>_rb<source
//     shard>, table shard_<target shard>. Only the rows that move are
//     copied: a row whose key routes, in the new layout, to the source
//     table itself stays where it is. A MoveTable source (every key to one
//     other table) is a split with one receiving table: a table copy.
//  2. Publish. For each staging table, one transaction on its server
//     inserts its rows into the target table (created LIKE the staging
//     table when missing) and empties the staging table; a rerun finds it
//     empty and inserts nothing. Run publishes only into tables the old
//     layout does not have, which nothing reads yet. A target table that
//     is also a table of the old layout (md5 over 3 shards to 4: shard 1
//     receives from shards 2 and 3) is live: rows published into it would
//     show up twice in the old layout's cross-shard queries. Its staging
//     tables wait for Publish, which the host calls at cutover, once the
//     old layout no longer serves. A staging database is dropped when all
//     its tables are published.
//
// Rows that moved stay in their source shards as well: the copy is
// checked (each split's shard tables against its checkpoints, before
// anything is published), but deleting the moved rows from the sources is
// left to the host, after it has verified the new layout (package verify's
// layout-to-layout comparison) and switched its reads and writes to it: a
// source row whose key routes elsewhere under the new layout is a moved
// row. Rows written to the old layout after a source shard's split took
// its snapshot are not in the copy; each step's report position is where
// a binlog sync of that source continues.
//
// The checkpoints of a finished step stay in the checkpoint database; a
// Rebalance run again after it finished does nothing. To run the same
// rebalance anew, delete those runs (copy_runs rows whose target_db is a
// staging database name).
type Rebalance struct {
	plan    *shard.Plan
	old     map[shard.Location]bool // the old layout's tables, Shard 0
	steps   []*rebalanceStep
	cfg     config
	running runGuard
}

var _ Executor = (*Rebalance)(nil)

// rebalanceStep is the split of one source shard into staging tables.
type rebalanceStep struct {
	source shard.Location
	split  *Split
	// targets are the new layout's locations, by the index of their
	// staging location in split.locs.
	targets []shard.Location
}

// NewRebalance prepares the move of plan, the shard.NewPlan of from to to.
// keyColumn is the sharding key column of the shard tables (or use
// WithKeyExpression); servers maps every instance name of both layouts to
// the DSN of its server (an instance name means one server in both). The
// options are a Split's, applied to each step. It connects to nothing:
// call Plan for a dry run.
func NewRebalance(from, to *shard.Layout, plan *shard.Plan, keyColumn string, servers map[string]string, opts ...SplitOption) (*Rebalance, error) {
	rb := &Rebalance{plan: plan}
	if err := rb.configure(from, to, keyColumn, servers, opts); err != nil {
		return nil, fmt.Errorf("migrate: rebalance: %w", err)
	}
	return rb, nil
}

func (rb *Rebalance) configure(from, to *shard.Layout, keyColumn string, servers map[string]string, opts []SplitOption) error {
	if from == nil || to == nil || rb.plan == nil {
		return fmt.Errorf("no layout or plan")
	}
	ra, err := from.Router()
	if err != nil {
		return fmt.Errorf("from layout: %w", err)
	}
	rt, err := to.Router()
	if err != nil {
		return fmt.Errorf("to layout: %w", err)
	}
	if len(rb.plan.Sources) != len(ra.Locations()) {
		return fmt.Errorf("the plan has %d source shards, the from layout %d: plan these layouts with shard.NewPlan", len(rb.plan.Sources), len(ra.Locations()))
	}
	rb.cfg = defaultEngineConfig()
	if err := applyOptions(opts, SplitOption.applySplit, &rb.cfg); err != nil {
		return err
	}
	rb.old = map[shard.Location]bool{}
	for _, l := range ra.Locations() {
		l.Shard = 0
		rb.old[l] = true
	}
	for i, sp := range rb.plan.Sources {
		if sp.Location != ra.Locations()[i] {
			return fmt.Errorf("source shard %d of the plan is at %s, in the from layout at %s", sp.Shard, sp.Location, ra.Locations()[i])
		}
		if sp.Action == shard.Keep {
			continue
		}
		st, err := rb.newStep(sp.Location, rt, keyColumn, servers, opts)
		if err != nil {
			return fmt.Errorf("source shard %d: %w", sp.Shard, err)
		}
		rb.steps = append(rb.steps, st)
	}
	return nil
}

// stagingRouter routes like the new layout, to the staging tables of one
// source shard.
type stagingRouter struct {
	to   *shard.Map
	locs []shard.Location
}

func (r *stagingRouter) Route(k shard.Key) (shard.Location, error) {
	l, err := r.to.Route(k)
	if err != nil {
		return shard.Location{}, err
	}
	return r.locs[l.Shard-1], nil
}

func (r *stagingRouter) Locations() []shard.Location { return r.locs }

// stagingDatabase names the staging database of source shard n.
func (rb *Rebalance) stagingDatabase(n int) string {
	return fmt.Sprintf("%s_rb%d", rb.cfg.checkpointDB, n)
}

func (rb *Rebalance) newStep(source shard.Location, to *shard.Map, keyColumn string, servers map[string]string, opts []SplitOption) (*rebalanceStep, error) {
	src, ok := servers[source.Instance]
	if !ok {
		return nil, fmt.Errorf("no DSN for instance %q", source.Instance)
	}
	st := &rebalanceStep{source: source, targets: to.Locations()}
	r := &stagingRouter{to: to}
	skip := make([]bool, len(st.targets))
	for i, l := range st.targets {
		r.locs = append(r.locs, shard.Location{Shard: l.Shard, Instance: l.Instance, Database: rb.stagingDatabase(source.Shard), Table: fmt.Sprintf("shard_%d", l.Shard)})
		skip[i] = l.Instance == source.Instance && l.Database == source.Database && l.Table == source.Table
	}
	s, err := NewSplit(src, source.Database, source.Table, keyColumn, r, servers, opts...)
	if err != nil {
		return nil, err
	}
	s.skip = skip
	st.split = s
	return st, nil
}

// finished reports whether the step's split finished in an earlier run.
func (st *rebalanceStep) finished(ctx context.Context) (bool, error) {
	s := st.split
	for _, in := range s.instances {
		run, err := st.loadRun(ctx, in)
		if err != nil {
			return false, err
		}
		if run == nil || run.State != checkpoint.Done || !run.Matches(conn.Endpoint(s.source), s.database, s.pairs(in)) {
			return false, nil
		}
	}
	return true, nil
}

func (st *rebalanceStep) loadRun(ctx context.Context, in *splitInstance) (*checkpoint.Run, error) {
	s := st.split
	db, err := s.cfg.open(ctx, Target, in.cfg, 2, nil, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := s.checkpoint.Check(ctx, db); err != nil {
		return nil, in.targetErr("checkpoint", err)
	}
	run, err := s.checkpoint.LoadRun(ctx, db, in.keyDB)
	if err != nil {
		return nil, in.targetErr("checkpoint", err)
	}
	return run, nil
}

// Plan checks every step that has not finished (as Split.Plan does) and
// lists its staging tables; steps that finished are listed as resumed.
func (rb *Rebalance) Plan(ctx context.Context) (*Plan, error) {
	plan := &Plan{Scope: Scope{Executor: "rebalance"}}
	var problems []error
	for _, st := range rb.steps {
		done, err := st.finished(ctx)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if done {
			plan.Steps = append(plan.Steps, fmt.Sprintf("source shard %s: copied in an earlier run; publish what its staging tables still hold", st.source))
			continue
		}
		p, err := st.split.Plan(ctx)
		if err != nil {
			problems = append(problems, fmt.Errorf("source shard %s: %w", st.source, err))
		}
		if p != nil {
			for _, t := range p.Tables {
				if i := st.indexOf(t.TargetName); i >= 0 && st.split.skip[i] {
					continue
				}
				t.Name = st.source.String()
				plan.Tables = append(plan.Tables, t)
			}
			plan.Steps = append(plan.Steps, fmt.Sprintf("source shard %s: copy the rows that move into staging tables in %s", st.source, schema.QuoteIdent(rb.stagingDatabase(st.source.Shard))))
		}
	}
	plan.Steps = append(plan.Steps,
		"publish: on each target server, insert each staging table's rows into its target table (created when missing) and empty the staging table in one transaction; drop the staging databases. Staging tables whose target is a table of the old layout wait for Publish, at cutover",
		"the moved rows stay in their source shards: delete them once the new layout is verified and serves (the host's step)")
	return plan, errors.Join(problems...)
}

// indexOf is the index of the staging location printed as name, or -1.
func (st *rebalanceStep) indexOf(name string) int {
	for i, l := range st.split.locs {
		if l.String() == name {
			return i
		}
	}
	return -1
}

// Run copies every step that has not finished, then publishes. See
// Rebalance for the phases and Executor for the contract.
func (rb *Rebalance) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := rb.running.enter(ctx, "rebalance"); err != nil {
		return nil, err
	}
	defer rb.running.leave()
	report := &Report{Scope: Scope{Executor: "rebalance"}, Started: time.Now(), WriteMethod: WriteLoadData.String()}
	err := rb.run(ctx, progress, report)
	report.Duration = time.Since(report.Started)
	if err != nil {
		rb.cfg.logger.Error("rebalance failed", "err", err)
		return report, err
	}
	rb.cfg.logger.Info("rebalance finished", "rows", report.Rows, "duration", report.Duration)
	return report, nil
}

func (rb *Rebalance) run(ctx context.Context, progress ProgressFunc, report *Report) error {
	for n, st := range rb.steps {
		tr := TableReport{Name: st.source.String(), TargetName: "staging " + rb.stagingDatabase(st.source.Shard)}
		done, err := st.finished(ctx)
		if err != nil {
			return err
		}
		if done {
			report.Resumed = true // an earlier run finished this step
		} else {
			r, err := st.split.Run(ctx, stepProgress(progress, n, len(rb.steps), st.source, report.Rows, report.Bytes))
			if r != nil {
				tr.Rows, tr.Bytes = r.Rows, r.Bytes
				if len(r.Tables) > 0 {
					tr.Chunks = r.Tables[0].Chunks
				}
				report.Rows += r.Rows
				report.Bytes += r.Bytes
				report.Resumed = report.Resumed || r.Resumed
			}
			if err != nil {
				report.Tables = append(report.Tables, tr)
				return fmt.Errorf("migrate: rebalance: source shard %s: %w", st.source, err)
			}
		}
		tr.Done = true
		report.Tables = append(report.Tables, tr)
	}
	for i, st := range rb.steps {
		n, err := rb.publish(ctx, st, false)
		if err != nil {
			return &IncompleteError{Op: "rebalance: publish", Err: err, Remedy: "run the same rebalance again: it publishes what the staging tables still hold"}
		}
		if n > 0 {
			report.Tables[i].TargetName += fmt.Sprintf(": %d staging table(s) wait for Publish (their targets are tables of the old layout)", n)
			rb.cfg.logger.Info("rebalance: staging tables wait for Publish", "source", st.source.String(), "tables", n)
		}
	}
	if progress != nil { // the end, also of a run whose steps an earlier one finished
		progress(Progress{TablesDone: len(rb.steps), TablesTotal: len(rb.steps), Rows: report.Rows, Bytes: report.Bytes, Elapsed: time.Since(report.Started)})
	}
	return nil
}

// Publish publishes every staging table, also those whose target is a
// table of the old layout (see Rebalance): call it at cutover, after Run
// returned nil and once the old layout serves no reads that those rows
// would distort. Like Run's publishing it is safe to repeat.
func (rb *Rebalance) Publish(ctx context.Context) error {
	if err := rb.running.enter(ctx, "rebalance"); err != nil {
		return err
	}
	defer rb.running.leave()
	for _, st := range rb.steps {
		done, err := st.finished(ctx)
		if err != nil {
			return fmt.Errorf("migrate: rebalance: %w", err)
		}
		if !done {
			return fmt.Errorf("migrate: rebalance: source shard %s: not copied yet: Run the rebalance first", st.source)
		}
		if _, err := rb.publish(ctx, st, true); err != nil {
			return &IncompleteError{Op: "rebalance: publish", Err: err, Remedy: "call Publish again: it publishes what the staging tables still hold"}
		}
	}
	return nil
}

// stepProgress reports a step's progress as part of the rebalance: its
// rows and bytes after those of the steps before it in this run (rows,
// bytes), so that the counts never go back.
func stepProgress(progress ProgressFunc, step, steps int, source shard.Location, rows, bytes int64) ProgressFunc {
	if progress == nil {
		return nil
	}
	return func(p Progress) {
		p.TablesDone += step
		p.TablesTotal = steps
		p.Rows += rows
		p.Bytes += bytes
		if p.Table != "" {
			p.Table = source.String()
		}
		progress(p)
	}
}

// publish moves the step's staging tables into their target tables, one
// transaction per table: all of them, or (all false) those whose target
// is not a table of the old layout. It drops a server's staging database
// when nothing is left in it, and returns the staging tables left waiting
// for Publish.
func (rb *Rebalance) publish(ctx context.Context, st *rebalanceStep, all bool) (int, error) {
	s := st.split
	waiting := 0
	for _, in := range s.instances {
		db, err := s.cfg.open(ctx, Target, in.cfg, 2, conn.WriterSession(conn.WriterOptions{}).Params(), true)
		if err != nil {
			return waiting, err
		}
		n, err := rb.publishInstance(ctx, db, st, in, all)
		db.Close()
		waiting += n
		if err != nil {
			return waiting, err
		}
	}
	return waiting, nil
}

func (rb *Rebalance) publishInstance(ctx context.Context, db *sql.DB, st *rebalanceStep, in *splitInstance, all bool) (waiting int, err error) {
	s := st.split
	staging := rb.stagingDatabase(st.source.Shard)
	tables, err := schema.Tables(ctx, db, staging)
	if err != nil {
		return waiting, in.targetErr("database "+schema.QuoteIdent(staging), err)
	}
	for _, li := range in.locs {
		stage, target := s.locs[li], st.targets[li]
		if !hasTable(tables, stage.Table) || s.skip[li] {
			continue
		}
		from := schema.QualifiedName(stage.Database, stage.Table)
		if live := (shard.Location{Instance: target.Instance, Database: target.Database, Table: target.Table}); !all && rb.old[live] {
			rows, err := schema.HasRows(ctx, db, stage.Database, stage.Table)
			if err != nil {
				return waiting, in.targetErr("table "+from, err)
			}
			if rows {
				waiting++
			}
			continue
		}
		to := schema.QualifiedName(target.Database, target.Table)
		for _, stmt := range []string{
			"CREATE DATABASE IF NOT EXISTS " + schema.QuoteIdent(target.Database),
			"CREATE TABLE IF NOT EXISTS " + to + " LIKE " + from,
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return waiting, in.targetErr("table "+to, err)
			}
		}
		def, err := schema.LoadTable(ctx, db, stage.Database, stage.Table)
		if err != nil {
			return waiting, in.targetErr("table "+from, err)
		}
		cols := def.InsertableColumns()
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = schema.QuoteIdent(c.Name)
		}
		list := strings.Join(names, ", ")
		var moved int64
		err = inTx(ctx, db, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "INSERT INTO "+to+" ("+list+") SELECT "+list+" FROM "+from)
			if err != nil {
				return fmt.Errorf("insert the rows of %s: %w", from, err)
			}
			moved, _ = res.RowsAffected()
			_, err = tx.ExecContext(ctx, "DELETE FROM "+from)
			return err
		})
		if err != nil {
			return waiting, in.targetErr("table "+to, err)
		}
		rb.cfg.logger.Info("rebalance published", "source", st.source.String(), "target", target.String(), "rows", moved)
	}
	if waiting > 0 {
		return waiting, nil
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+schema.QuoteIdent(staging)); err != nil {
		return waiting, in.targetErr("database "+schema.QuoteIdent(staging), err)
	}
	return 0, nil
}

func hasTable(tables []schema.Table, name string) bool {
	for _, t := range tables {
		if strings.EqualFold(t.Name, name) && !t.View {
			return true
		}
	}
	return false
}
