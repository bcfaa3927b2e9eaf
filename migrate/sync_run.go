package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// syncHeartbeat is the period of the source's heartbeats to the stream: an
// idle source still moves the stream's position that often, which bounds
// the cutover's wait for the last position.
const syncHeartbeat = 250 * time.Millisecond

// syncBudget bounds the bytes of row changes read from the source and not
// yet applied. With Go's heap growing to twice what is live, it keeps a
// sync under 128 MiB of resident memory whatever the transaction size.
const syncBudget = 32 << 20

// syncFacts is what the dry run learned that Run needs.
type syncFacts struct {
	flavor string
	// start is the position the stream resumes after; "" when the copy
	// has not finished yet.
	start string
	// copied says the copy finished in an earlier run; stream that its
	// position is saved.
	copied, stream bool
	// tables maps the moved source tables to their target tables.
	tables map[rowchange.Table]rowchange.Table
	// estimate is the copy's expected time, when Plan sampled it.
	estimate copyEstimate
}

func (s *Sync) scope() Scope {
	sc := s.copier.scope()
	sc.Executor = "sync"
	return sc
}

// streamName is the key of the sync's stream position in the checkpoint.
func (s *Sync) streamName() string { return "sync." + s.copier.cfg.targetDatabase }

func (s *Sync) logger() *slog.Logger { return s.copier.cfg.logger }

// Plan connects to both servers and checks, changing nothing, that the
// move can run: what the Copier's Plan checks (unless the copy is done),
// every table has a key the applier can match rows by, the source's binary
// log serves a stream (settings, GTIDs, retention, the saved position not
// purged) and its account may read it. It lists the tables, what the
// cutover will lock and for how long, and the steps; for a copy still to
// run, the Copier's expected copy time (see Copier.Plan) against the
// binary log retention, with a warning when the retention is shorter than,
// or within twice, the estimate.
func (s *Sync) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := s.plan(ctx, true)
	return plan, err
}

// plan is Plan, also returning what Run needs to know. With sample, the
// Copier's plan measures the expected copy time (Copier.estimate).
func (s *Sync) plan(ctx context.Context, sample bool) (*Plan, *syncFacts, error) {
	facts := &syncFacts{tables: map[rowchange.Table]rowchange.Table{}}
	t := s.copier.cfg.timeouts
	src, err := openSide(ctx, Source, s.source, conn.Options{Timeouts: t, MaxConns: 2, Logger: s.logger()})
	if err != nil {
		return &Plan{Scope: s.scope()}, nil, err
	}
	defer src.Close()
	dst, err := openSide(ctx, Target, s.target, conn.Options{Timeouts: t, MaxConns: 2, Logger: s.logger()})
	if err != nil {
		return &Plan{Scope: s.scope()}, nil, err
	}
	defer dst.Close()

	var problems []error
	store := s.copier.checkpoint
	if err := store.Check(ctx, dst); err != nil {
		return &Plan{Scope: s.scope()}, nil, s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	st, err := store.LoadStream(ctx, dst, s.streamName())
	if err != nil {
		return &Plan{Scope: s.scope()}, nil, s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	run, err := store.LoadRun(ctx, dst, s.copier.cfg.targetDatabase)
	if err != nil {
		return &Plan{Scope: s.scope()}, nil, s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	var plan *Plan
	if run != nil && run.State == checkpoint.CutOver && !s.copier.cfg.replace {
		return &Plan{Scope: s.scope()}, nil, s.targetErr("database "+schema.QuoteIdent(s.copier.cfg.targetDatabase),
			fmt.Errorf("%w: the application was switched to it; start a new move over it with WithReplace", ErrCutOver))
	}
	if run != nil && run.State == checkpoint.Done && run.Source == conn.Endpoint(s.source) && run.SourceDB == s.database {
		// The copy is done: the sync resumes from its stream, or from the
		// copy's position if it stopped before saving one.
		plan = &Plan{Scope: s.scope()}
		facts.copied, facts.start = true, run.Position.GTID
		if st != nil {
			facts.stream, facts.start = true, st.Position
		}
		for _, pair := range run.Tables {
			from, to, _ := strings.Cut(pair, "=")
			plan.Tables = append(plan.Tables, TablePlan{Name: from, TargetName: to, TargetExists: true, TargetHasRows: true})
		}
	} else {
		var cf *copierFacts
		if plan, cf, err = s.copier.plan(ctx, sample); err != nil {
			problems = append(problems, err)
		}
		if cf != nil {
			facts.estimate = cf.estimate
		}
		plan.Scope = s.scope()
		for _, tp := range plan.Tables {
			if len(tp.Key) == 0 {
				problems = append(problems, &EndpointError{Side: Source, Endpoint: plan.Source, Object: "table " + schema.QualifiedName(s.database, tp.Name),
					Err: fmt.Errorf("%w: a sync matches rows by key", ErrNoKey)})
			}
		}
	}
	for _, tp := range plan.Tables {
		facts.tables[rowchange.Table{Schema: s.database, Name: tp.Name}] = rowchange.Table{Schema: s.copier.cfg.targetDatabase, Name: tp.TargetName}
	}
	src0, err := s.checkSource(ctx, src, facts)
	if err != nil {
		problems = append(problems, err)
	}
	if s.cfg.reverse {
		problems = append(problems, s.checkReverse(ctx, src, dst, "")...)
		plan.Locks = append(plan.Locks, "source, after cutover (WithReverseSync): the cutover's fence stays for the rollback window, until the reverse sync's CutBack or End")
	}
	facts.flavor = src0.Flavor
	plan.Locks = append(plan.Locks, s.describeFence())
	plan.Steps = s.describe(plan, facts, src0)
	return plan, facts, errors.Join(problems...)
}

// checkSource checks the source's binary log and the privileges to read it.
func (s *Sync) checkSource(ctx context.Context, src *sql.DB, facts *syncFacts) (binlog.Source, error) {
	flavor := ""
	if facts.start == "" {
		// A new sync starts at the copy's snapshot, after the current
		// position: only binary logs from now on are needed.
		var err error
		if flavor, err = serverFlavor(ctx, src); err != nil {
			return binlog.Source{}, s.sourceErr(serverFault, err)
		}
	}
	source, problems := checkBinlogSource(ctx, src, s.source, s.database, flavor, facts.start)
	return source, errors.Join(problems...)
}

func (s *Sync) sourceErr(object string, err error) error {
	return &EndpointError{Side: s.side(Source), Endpoint: conn.Endpoint(s.source), Object: object, Err: err}
}

func (s *Sync) targetErr(object string, err error) error {
	return &EndpointError{Side: s.side(Target), Endpoint: conn.Endpoint(s.target), Object: object, Err: err}
}

// describeFence says what the cutover locks, for Plan.Locks.
func (s *Sync) describeFence() string {
	switch s.cfg.fence {
	case FenceAccounts:
		names := make([]string, len(s.cfg.accounts))
		for i, a := range s.cfg.accounts {
			names[i] = a.String()
		}
		then := "(else the cutover is refused and the grants restored)"
		if s.cfg.kill {
			then = "then killed"
		}
		return fmt.Sprintf("source, at cutover: write privileges of %s on the moved tables revoked (recorded first, restored after), up to %s for their sessions to finish, %s, then until the target caught up and verified",
			strings.Join(names, ", "), s.cfg.drainWait, then)
	case FenceReadOnly:
		return "source, at cutover: read_only on the whole server until the target caught up and verified"
	}
	return fmt.Sprintf("source, at cutover: FLUSH TABLES ... WITH READ LOCK on the moved tables (waits up to %s for running statements) until the target caught up and verified", s.cfg.drainWait)
}

// describe lists the steps of Run.
func (s *Sync) describe(plan *Plan, facts *syncFacts, src binlog.Source) []string {
	var steps []string
	switch {
	case facts.stream:
		steps = append(steps, "resume the sync from the position saved on the target: "+facts.start)
	case facts.copied:
		steps = append(steps, "the copy is done: start the sync from its position "+facts.start)
	default:
		steps = append(steps, plan.Steps...)
		var rows, data, bytes int64
		for _, t := range plan.Tables {
			rows, data, bytes = rows+t.Rows, data+t.DataBytes, bytes+t.DataBytes+t.IndexBytes
		}
		note := "the source purges binary logs only on demand"
		if src.Retention > 0 {
			note = fmt.Sprintf("the source keeps binary logs for %s: the copy of about %d MiB must finish well within it, or the position it started from is purged and the sync refuses to start", src.Retention, bytes>>20)
			// A rate limit bounds the copy's time from below.
			if least := s.copier.cfg.leastCopyTime(rows, data); least > 0 {
				note += fmt.Sprintf("; at WithRateLimit the copy of about %d rows takes at least %s", rows, least.Round(time.Second))
				if least >= src.Retention {
					note += ", longer than the retention: the position may be purged before the copy ends (raise the limit or keep binary logs longer)"
				}
			}
			note += retentionWarning(src.Retention, facts.estimate)
		}
		steps = append(steps, "follow the source's binary log from the copy's position ("+note+")")
	}
	return append(steps,
		fmt.Sprintf("apply the row changes of the %d table(s) to the target, each source transaction in one target transaction with its position", len(plan.Tables)),
		fmt.Sprintf("in sync while the lag is under %s; on Cutover: stop writes on the source (%s), wait until the target applied everything the source logged, verify every table, call the switch, restore the source's writes", s.cfg.maxLag, s.cfg.fence))
}

// retentionWarning compares the binary log retention with the copy's
// expected time e, for the Plan's step that follows the binary log: a
// warning when the retention is shorter than, or within twice, the
// estimate.
func retentionWarning(retention time.Duration, e copyEstimate) string {
	const hint = "the position may be purged before the copy ends and the sync then refuses to start; keep binary logs longer (binlog_expire_logs_seconds) for the move"
	switch {
	case e.took == 0 && e.basis == "":
		return "; the expected copy time is unavailable: the copy could not be planned"
	case e.took == 0:
		return "; the expected copy time is unavailable (see above)"
	case e.took >= retention:
		return fmt.Sprintf("; WARNING: the expected copy time (%s, above) is longer than the retention: %s", formatEstimate(e.took), hint)
	case 2*e.took > retention:
		return fmt.Sprintf("; WARNING: the expected copy time (%s, above) is within 2x of the retention, too close for an estimate: %s", formatEstimate(e.took), hint)
	}
	return fmt.Sprintf("; the expected copy time (%s, above) is well within it", formatEstimate(e.took))
}
