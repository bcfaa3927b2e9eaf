package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/copyengine"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// tableRun is the state of one table during Run: the engine's table and
// how the Copier writes it.
type tableRun struct {
	*copyengine.Table
	ct         *copyTable
	load       rowcodec.Load
	insertHead string
	kinds      []rowcodec.Kind
	method     WriteMethod
}

// copierRun is the state of one Run.
type copierRun struct {
	c        *Copier
	plan     *Plan
	facts    *copierFacts
	progress ProgressFunc
	report   *Report
	src, dst *sql.DB
	tables   []*tableRun
	started  time.Time
	capBytes int64

	writer conn.Session // the target pool's session profile
	emitMu sync.Mutex
	runID  int64
	// runs finds a table's tableRun from the engine's table.
	runs map[*copyengine.Table]*tableRun
}

var copierRuns atomic.Int64

// Run copies the data. See Executor for the contract, and Copier for how
// a copy that was interrupted continues.
func (c *Copier) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := c.running.enter(ctx, "copier "+c.database); err != nil {
		return nil, err
	}
	defer c.running.leave()
	plan, facts, err := c.plan(ctx, false)
	if err != nil {
		return nil, err
	}
	r := &copierRun{
		c: c, plan: plan, facts: facts, progress: progress, started: time.Now(),
		report:   &Report{Scope: plan.Scope, Objects: plan.Objects, Started: time.Now(), WriteMethod: facts.method.String()},
		capBytes: c.cfg.engineChunkBytes(),
		runID:    copierRuns.Add(1),
	}
	err = r.run(ctx)
	r.finishReport()
	if missing := notDone(r.report); err == nil && len(missing) > 0 {
		err = r.incomplete(fmt.Errorf("table(s) %s not copied completely", strings.Join(missing, ", ")))
	}
	if err != nil {
		c.cfg.logger.Error("copier failed", "database", c.database, "err", err)
		return r.report, err
	}
	c.cfg.logger.Info("copier finished", "database", c.database, "rows", r.report.Rows, "bytes", r.report.Bytes,
		"duration", r.report.Duration, "position", r.report.Position.String(), "resumed", r.report.Resumed)
	return r.report, nil
}

func (r *copierRun) run(ctx context.Context) (err error) {
	c := r.c
	threads := c.cfg.threads
	// Secondary unique indexes need no check when every row comes from one
	// consistent snapshot of a source with the same unique keys: the rows
	// are unique there. A lock-free or resumed copy can see a unique value
	// move from a copied row to one not yet copied, so it keeps the check.
	// (Deferred unique indexes are checked anyway, when they are built.)
	r.writer = conn.WriterSession(conn.WriterOptions{
		NoUniqueChecks: c.cfg.snapshot == SnapshotConsistent && !r.facts.resume,
		NoBinlog:       c.cfg.noTargetBinlog,
	})
	if r.src, err = c.cfg.open(ctx, Source, c.source, threads+2, conn.ReaderSession().Params(), false); err != nil {
		return err
	}
	defer r.src.Close()
	if r.dst, err = c.cfg.open(ctx, Target, c.target, threads+2, r.writer.Params(), true); err != nil {
		return err
	}
	defer r.dst.Close()

	// One copy at a time into a target database: a named lock held on a
	// connection of its own for the whole run.
	release, err := conn.Lock(ctx, r.dst, "shiftgate.copy."+c.cfg.targetDatabase, 0)
	if errors.Is(err, conn.ErrLocked) {
		return r.targetErr("database "+schema.QuoteIdent(c.cfg.targetDatabase), fmt.Errorf("%w: another copy into this database holds %w", ErrRunning, err))
	}
	if err != nil {
		return r.targetErr(r.targetDatabase(), err)
	}
	defer release()

	if err := r.prepareTarget(ctx); err != nil {
		return r.incomplete(err)
	}
	snap, err := r.openReaders(ctx)
	if err != nil {
		return r.incomplete(err)
	}
	defer snap.Close()
	c.cfg.logger.Info("copier started", "source", r.plan.Source, "target", r.plan.Target, "database", c.database,
		"target_database", r.plan.TargetDatabase, "tables", len(r.tables), "threads", threads, "method", r.facts.method.String(),
		"snapshot", c.cfg.snapshot.String(), "resumed", r.report.Resumed)
	r.emit()

	if err := r.copyRows(ctx, snap.Readers[0]); err != nil {
		return r.incomplete(err)
	}
	if err := r.copyObjects(ctx); err != nil {
		return r.incomplete(err)
	}
	if err := c.checkpoint.Finish(ctx, r.dst, c.cfg.targetDatabase); err != nil {
		return r.incomplete(r.targetErr("checkpoint", err))
	}
	r.emit()
	return nil
}

// targetDatabase and sourceDatabase name the databases of the copy as
// EndpointError objects.
func (r *copierRun) targetDatabase() string {
	return "database " + schema.QuoteIdent(r.c.cfg.targetDatabase)
}

func (r *copierRun) sourceDatabase() string { return "database " + schema.QuoteIdent(r.c.database) }

func (r *copierRun) targetErr(object string, err error) error {
	return &EndpointError{Side: Target, Endpoint: r.plan.Target, Object: object, Err: err}
}

func (r *copierRun) sourceErr(object string, err error) error {
	return &EndpointError{Side: Source, Endpoint: r.plan.Source, Object: object, Err: err}
}

// prepareTarget creates the target database, the checkpoint and the
// tables, or picks up the checkpoint of the copy being resumed.
func (r *copierRun) prepareTarget(ctx context.Context) error {
	c, facts := r.c, r.facts
	target := c.cfg.targetDatabase
	cp := schema.QuoteIdent(c.cfg.checkpointDB)
	// Before this function takes a connection: the migration takes one.
	if err := c.checkpoint.Prepare(ctx, r.dst); err != nil {
		return r.targetErr("checkpoint", err)
	}
	conn, err := r.dst.Conn(ctx)
	if err != nil {
		return r.targetErr(r.targetDatabase(), err)
	}
	defer conn.Close()
	if !facts.targetHas {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s",
			schema.QuoteIdent(target), facts.sourceDB.Charset, facts.sourceDB.Collation)); err != nil {
			return r.targetErr("database "+schema.QuoteIdent(target), fmt.Errorf("prepare: %w", err))
		}
	}
	keys := map[string]keyset.Key{}
	r.runs = map[*copyengine.Table]*tableRun{}
	for _, ct := range facts.tables {
		tr := c.newTableRun(ct, facts.method)
		if tr.method != facts.method {
			c.cfg.logger.Info("copier writes a table with INSERT: it has BIT or YEAR and AUTO_INCREMENT columns", "table", ct.def.Name)
		}
		r.tables = append(r.tables, tr)
		r.runs[tr.Table] = tr
		keys[ct.target] = ct.key
	}
	if facts.resume {
		r.report.Resumed = true
		r.report.Position = facts.run.Position
		segs, err := c.checkpoint.LoadSegments(ctx, conn, target, func(t string) (keyset.Key, bool) { k, ok := keys[t]; return k, ok })
		if err != nil {
			return r.targetErr("checkpoint", err)
		}
		for _, tr := range r.tables {
			for _, sg := range segs[tr.ct.target] {
				tr.Segments = append(tr.Segments, resumeSegment(sg))
			}
		}
		c.cfg.logger.Info("copier resumes", "target_database", target, "rows_done", facts.run.TotalRows())
	} else {
		if err := r.freshStart(ctx, conn); err != nil {
			return err
		}
	}
	// Tables missing on the target (all of them on a fresh start; on a
	// resume those a crash left uncreated) are created now.
	existing, err := schema.Tables(ctx, conn, target)
	if err != nil {
		return r.targetErr(r.targetDatabase(), err)
	}
	for _, tr := range r.tables {
		if !slices.ContainsFunc(existing, func(t schema.Table) bool { return t.Name == tr.ct.target }) {
			if _, err := conn.ExecContext(ctx, "USE "+schema.QuoteIdent(target)); err != nil {
				return r.targetErr(r.targetDatabase(), err)
			}
			if _, err := conn.ExecContext(ctx, tr.ct.create); err != nil {
				return r.targetErr("table "+schema.QualifiedName(target, tr.ct.target), fmt.Errorf("create: %w", err))
			}
		}
		if len(tr.Segments) == 0 {
			return r.targetErr("checkpoint", fmt.Errorf("table %s has no segment in the checkpoint", schema.QuoteIdent(tr.ct.target)))
		}
		tr.Init()
	}
	_, _ = conn.ExecContext(context.Background(), "USE "+cp)
	return nil
}

// newTableRun returns the engine's table for ct and how the Copier
// writes it: by method, or with INSERT when LOAD DATA cannot write the
// table exactly.
func (c *Copier) newTableRun(ct *copyTable, method WriteMethod) *tableRun {
	et := &copyengine.Table{Database: c.database, Name: ct.def.Name, Key: ct.key, Keyless: ct.keyless, Estimate: ct.def.Rows,
		Sizer: keyset.NewSizer(c.cfg.chunkTime, c.firstChunkRows(ct.def), minChunkRows, maxChunkRows)}
	if ct.def.Rows > 0 {
		et.AvgRowBytes = ct.def.DataLength / ct.def.Rows
	}
	tr := &tableRun{Table: et, ct: ct, method: method}
	var loadOK bool
	et.SelectList, tr.load, tr.insertHead, tr.kinds, et.KeyPos, loadOK = tableStatements(ct, c.cfg.targetDatabase)
	if !loadOK {
		tr.method = WriteInsert
	}
	return tr
}

// freshStart drops the target tables the copy replaces, cuts the tables
// into segments and writes the run record and the segments in one
// transaction. Tables are created after it, so that a crash in between
// resumes into creating them.
func (r *copierRun) freshStart(ctx context.Context, conn *sql.Conn) error {
	c := r.c
	target := c.cfg.targetDatabase
	var drop []string
	for _, tr := range r.tables {
		if tr.ct.exists {
			drop = append(drop, schema.QualifiedName(target, tr.ct.target))
		}
	}
	if len(drop) > 0 {
		c.cfg.logger.Info("copier drops target tables to replace them", "target", r.plan.Target, "tables", len(drop))
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+strings.Join(drop, ", ")); err != nil {
			return r.targetErr("database "+schema.QuoteIdent(target), fmt.Errorf("drop replaced tables: %w", err))
		}
	}
	for _, tr := range r.tables {
		segs, err := copyengine.CutSegments(ctx, r.src, tr.Table, c.cfg.threads, c.cfg.segmentRows)
		if err != nil {
			return r.sourceErr("table "+schema.QualifiedName(c.database, tr.ct.def.Name), err)
		}
		tr.Segments = segs
	}
	run := checkpoint.Run{Target: target, Source: r.plan.Source, SourceDB: c.database, Tables: c.pairs(r.defs())}
	var segs []checkpoint.Segment
	for _, tr := range r.tables {
		for _, s := range tr.Segments {
			segs = append(segs, checkpoint.Segment{Table: tr.ct.target, Index: s.Index, Lower: s.Lower, Upper: s.Upper})
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return r.targetErr("checkpoint", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := c.checkpoint.Start(ctx, tx, run, segs); err != nil {
		return r.targetErr("checkpoint", err)
	}
	if err := tx.Commit(); err != nil {
		return r.targetErr("checkpoint", err)
	}
	return nil
}

func (r *copierRun) defs() []*schema.TableDef {
	out := make([]*schema.TableDef, len(r.tables))
	for i, tr := range r.tables {
		out[i] = tr.ct.def
	}
	return out
}

// openReaders opens one source connection per thread (internal/snapshot).
// In consistent mode each starts a consistent-snapshot transaction while
// the source's commits are blocked (BACKUP STAGE BLOCK_COMMIT), so that all
// see the same point, whose binlog position is recorded and checked
// against every reader's own. Lock-free, the position is read before the
// first chunk. A resumed copy keeps the first run's position.
func (r *copierRun) openReaders(ctx context.Context) (*snapshot.Snapshot, error) {
	c := r.c
	method := snapshot.None
	if c.cfg.snapshot == SnapshotConsistent {
		method = snapshot.BackupStage
	}
	snap, err := snapshot.Open(ctx, snapshot.Options{Method: method, Position: r.facts.binlog}, snapshot.Group{DB: r.src, N: c.cfg.threads})
	if err != nil {
		var ge *snapshot.GroupError
		if errors.As(err, &ge) {
			err = ge.Err
		}
		return nil, r.sourceErr(r.sourceDatabase(), err)
	}
	pos := snap.Position
	if method == snapshot.BackupStage {
		r.report.CommitsBlocked = snap.Blocked
		c.cfg.logger.Info("copier snapshot", "readers", c.cfg.threads, "commits_blocked", r.report.CommitsBlocked, "position", pos.String())
	}
	if r.report.Resumed && !r.report.Position.IsZero() {
		return snap, nil // the first run's position stays: rows before it are older
	}
	r.report.Position = pos
	r.report.Consistent = method == snapshot.BackupStage && !r.report.Resumed
	return snap, r.savePosition(ctx)
}

func (r *copierRun) savePosition(ctx context.Context) error {
	p := r.report.Position
	if err := r.c.checkpoint.SavePosition(ctx, r.dst, r.c.cfg.targetDatabase, p); err != nil {
		return r.targetErr("checkpoint", err)
	}
	return nil
}

// copyRows runs the copy engine with one reader and one writer per
// thread (copyengine.Run), the writer being the Copier's (copierWriter).
func (r *copierRun) copyRows(ctx context.Context, readers []*sql.Conn) error {
	c := r.c
	tables := make([]*copyengine.Table, len(r.tables))
	for i, tr := range r.tables {
		tables[i] = tr.Table
	}
	cfg := c.cfg.engineConfig(r.capBytes, r.emit, r.sourceErr)
	cfg.KeylessMaxRows = c.cfg.keylessMaxRows
	cfg.KeylessTooLarge = fmt.Errorf("%w, and it holds more than the %d rows (or %s) allowed in one chunk",
		schema.ErrNoKey, c.cfg.keylessMaxRows, formatBytes(r.capBytes))
	return copyengine.Run(ctx, cfg, tables, readers, &copierWriter{r: r})
}

// finalize completes a table whose segments are all done: it adds the
// deferred indexes and foreign keys that are missing and checks that the
// target holds the rows the checkpoints count. A resumed run does this again
// for tables an earlier run finished, so a failed check is never skipped.
//
// An earlier run killed during its ALTER TABLE leaves the server running
// it: finalize waits for that statement to end and then adds only what it
// did not, so the resume neither fails on a duplicate name nor builds an
// index twice.
func (r *copierRun) finalize(ctx context.Context, conn *sql.Conn, t *tableRun) error {
	target := r.c.cfg.targetDatabase
	name := schema.QualifiedName(target, t.ct.target)
	object := "table " + name
	if err := addDeferred(ctx, conn, r.c.cfg.logger, target, t.ct.target, t.ct.deferred); err != nil {
		return r.targetErr(object, err)
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&n); err != nil {
		return r.targetErr(object, err)
	}
	if want := t.Rows(); n != want {
		return r.targetErr(object, fmt.Errorf("%w: it holds %d rows but its checkpoints count %d: rows were written by someone else, or lost; the copy is not done", ErrRowsDiffer, n, want))
	}
	return nil
}

// alterPollInterval is how often awaitAlter looks at the process list.
const alterPollInterval = 200 * time.Millisecond

// addDeferred adds to database.table the deferred clauses it lacks, with
// one ALTER TABLE, after waiting for one that a killed run left running.
// It is safe to repeat.
func addDeferred(ctx context.Context, conn *sql.Conn, logger *slog.Logger, database, table string, deferred []deferredClause) error {
	name := schema.QualifiedName(database, table)
	for attempt := 0; len(deferred) > 0; attempt++ {
		if err := awaitAlter(ctx, conn, logger, name); err != nil {
			return err
		}
		missing, err := missingClauses(ctx, conn, database, table, deferred)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		start := time.Now()
		_, err = conn.ExecContext(ctx, addClauses(name, missing))
		if err == nil {
			logger.Info("added deferred indexes and foreign keys", "table", name, "clauses", len(missing), "took", time.Since(start))
			return nil
		}
		// Another connection added some of them in the meantime: look again.
		if attempt == 0 && isDuplicateName(err) {
			continue
		}
		return fmt.Errorf("add deferred indexes and foreign keys: %w", err)
	}
	return nil
}

// awaitAlter waits until no other connection on the target runs an ALTER
// TABLE of table (quoted, qualified) as a copy writes it: one a killed run
// left running. The server finishes such a statement although its client
// is gone; starting another would queue behind it and then fail.
func awaitAlter(ctx context.Context, conn *sql.Conn, logger *slog.Logger, table string) error {
	prefix := "ALTER TABLE " + table + " "
	logged := false
	for {
		var id sql.NullInt64
		err := conn.QueryRowContext(ctx, "SELECT MIN(ID) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Killed' AND LEFT(INFO, CHAR_LENGTH(?)) = ?",
			prefix, prefix).Scan(&id)
		if err != nil {
			return fmt.Errorf("look for a running ALTER TABLE: %w", err)
		}
		if !id.Valid {
			return nil
		}
		if !logged {
			logger.Info("copy waits for an ALTER TABLE an earlier run left running on the target", "table", table, "connection", id.Int64)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the ALTER TABLE of connection %d: %w", id.Int64, ctx.Err())
		case <-time.After(alterPollInterval):
		}
	}
}

// missingClauses returns the clauses of deferred that database.table
// lacks.
func missingClauses(ctx context.Context, conn *sql.Conn, database, table string, deferred []deferredClause) ([]deferredClause, error) {
	rows, err := conn.QueryContext(ctx, "SELECT DISTINCT INDEX_NAME, 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? "+
		"UNION ALL SELECT CONSTRAINT_NAME, 1 FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
		database, table, database, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[deferredClause]bool{}
	for rows.Next() {
		var dc deferredClause
		if err := rows.Scan(&dc.name, &dc.foreignKey); err != nil {
			return nil, err
		}
		dc.name = strings.ToLower(dc.name)
		have[dc] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var missing []deferredClause
	for _, dc := range deferred {
		if !have[deferredClause{name: strings.ToLower(dc.name), foreignKey: dc.foreignKey}] {
			missing = append(missing, dc)
		}
	}
	return missing, nil
}

// isDuplicateName reports a server error for an index or foreign key name
// that exists already.
func isDuplicateName(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1061 || me.Number == 1826) // ER_DUP_KEYNAME, ER_FK_DUP_NAME
}

// snapshot builds a progress report from the tables' counters.
func (r *copierRun) snapshot() Progress {
	now := time.Now()
	p := Progress{TablesTotal: len(r.tables), Elapsed: now.Sub(r.started)}
	var startRows int64
	secs := p.Elapsed.Seconds()
	for _, t := range r.tables {
		rows, bytes := t.Rows(), t.Bytes()
		tp := TableProgress{Name: t.ct.def.Name, Rows: rows, Bytes: bytes, RowsEstimate: max(t.Estimate, rows), Done: t.Done()}
		if tp.Done {
			p.TablesDone++
			tp.RowsEstimate = rows
		} else if rows > t.StartRows() && p.Rows == 0 && p.Table == "" {
			p.Table = tp.Name
		}
		if !tp.Done && secs >= 1 && rows > t.StartRows() {
			tp.ETA = time.Duration(float64(tp.RowsEstimate-rows) / (float64(rows-t.StartRows()) / secs) * float64(time.Second))
		}
		p.Rows += rows
		p.Bytes += bytes
		p.RowsEstimate += tp.RowsEstimate
		p.BytesEstimate += t.ct.def.DataLength
		startRows += t.StartRows()
		p.Tables = append(p.Tables, tp)
	}
	if secs > 0 {
		p.RowsPerSecond = float64(p.Rows-startRows) / secs
		p.BytesPerSecond = float64(p.Bytes) / secs
	}
	if p.TablesDone < p.TablesTotal && secs >= 1 && p.RowsPerSecond > 0 {
		p.ETA = time.Duration(float64(p.RowsEstimate-p.Rows) / p.RowsPerSecond * float64(time.Second))
	}
	return p
}

// emit reports progress, from one goroutine at a time, never going back:
// each report is taken under emitMu, after the one before, from counters
// that only grow (rows, bytes, chunks, tables done), and a resumed run's
// counters start at its checkpoint's before its first report.
func (r *copierRun) emit() {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.progress != nil {
		r.progress(r.snapshot())
	}
}

// finishReport fills the report from the tables' counters.
func (r *copierRun) finishReport() {
	r.report.Duration = time.Since(r.report.Started)
	r.report.Tables = r.report.Tables[:0]
	r.report.Rows, r.report.Bytes = 0, 0
	for _, t := range r.tables {
		tr := TableReport{Name: t.ct.def.Name, TargetName: t.ct.target, Rows: t.Rows(), Done: t.Done(), Bytes: t.Bytes(), Chunks: t.Chunks()}
		r.report.Tables = append(r.report.Tables, tr)
		r.report.Rows += tr.Rows
		r.report.Bytes += tr.Bytes
	}
}

// incomplete wraps an error of a run that changed the target.
func (r *copierRun) incomplete(err error) error {
	e := &IncompleteError{
		Op:  fmt.Sprintf("copy %s to %s/%s", r.plan.SourceDatabase, r.plan.Target, r.plan.TargetDatabase),
		Err: err,
	}
	switch {
	case errors.Is(err, ErrRowsDiffer):
		e.Remedy = "drop the target database and run the copy again to start over"
	case Transient(err):
		e.Remedy = "run the same copy again to continue from the last committed chunk"
	default:
		e.Remedy = "once the cause is fixed, run the same copy again to continue from the last committed chunk"
	}
	var partial []string
	for _, t := range r.tables {
		switch {
		case t.Done() || t.Pending() == 0: // every row is in; its indexes or check may not be
			e.Done = append(e.Done, t.ct.target)
		case t.Rows() > 0:
			partial = append(partial, t.ct.target)
		}
	}
	e.Partial = strings.Join(partial, ", ")
	return e
}
