package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/copyengine"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// alterRun is one Run of an OnlineAlter.
type alterRun struct {
	a        *OnlineAlter
	progress ProgressFunc
	report   *Report
	facts    *alterFacts
	// db runs the DDL, the locks and the checkpoint; readers and writers
	// are the copy's, with their sessions.
	db, readers, writers *sql.DB
	table                *copyengine.Table
	shadowDef            *schema.TableDef
	// insertHead and selectList copy a chunk inside the server: INSERT
	// INTO the shadow (the columns it shares with the table, not
	// generated in it) and the SELECT of them from the table.
	insertHead, selectList string
	// deferred are the shadow's indexes added after the copy.
	deferred []deferredClause

	app        *apply.Applier
	stream     *binlog.Stream
	stopStream func() // stops the stream and waits for it; nil when none runs
	streamDone chan struct{}
	streamErr  error
	// paceApply holds each transaction the stream applies while the
	// throttler holds, until the cut-over (pacedSink).
	paceApply atomic.Bool
	swapped   bool
	emitMu    sync.Mutex
}

// Run changes the table. See Executor for the contract and OnlineAlter for
// the method, the cut-over and what an interruption leaves. Progress
// carries the Phase: copying, catching up, verifying, cutting over, done.
func (a *OnlineAlter) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := a.running.enter(ctx, "online alter of "+a.name()); err != nil {
		return nil, err
	}
	defer a.running.leave()
	r := &alterRun{a: a, progress: progress, report: &Report{Scope: a.scope(), Started: time.Now()}}
	err := r.run(ctx)
	r.report.Duration = time.Since(r.report.Started)
	if r.table != nil {
		r.report.Tables = []TableReport{{Name: a.table, TargetName: a.shadowName(), Rows: r.table.Rows(), Done: r.swapped, Bytes: r.table.Bytes(), Chunks: r.table.Chunks()}}
		r.report.Rows, r.report.Bytes = r.table.Rows(), r.table.Bytes()
	} else {
		r.report.Tables = []TableReport{{Name: a.table, TargetName: a.table, Done: err == nil}}
	}
	if err != nil {
		a.setPhase(PhaseFailed)
		a.logger().Error("online alter failed", "table", a.name(), "err", err)
		return r.report, fmt.Errorf("migrate: online alter of %s: %w", a.name(), err)
	}
	a.setPhase(PhaseDone)
	r.emit()
	a.logger().Info("online alter done", "table", a.name(), "rows", r.report.Rows, "duration", r.report.Duration)
	return r.report, nil
}

func (r *alterRun) run(ctx context.Context) (err error) {
	a := r.a
	threads := a.cfg.threads
	if r.db, err = a.cfg.open(ctx, Source, a.dsn, 16, nil, true); err != nil {
		return err
	}
	defer r.db.Close()
	if r.readers, err = a.cfg.open(ctx, Source, a.dsn, threads, conn.ReaderSession().Params(), false); err != nil {
		return err
	}
	defer r.readers.Close()
	if r.writers, err = a.cfg.open(ctx, Source, a.dsn, threads, conn.WriterSession(conn.WriterOptions{Strict: true}).Params(), true); err != nil {
		return err
	}
	defer r.writers.Close()
	release, err := conn.Lock(ctx, r.db, "shiftgate."+a.key(), 0)
	if errors.Is(err, conn.ErrLocked) {
		return a.tableErr(fmt.Errorf("%w: another online alter of the table holds %w", ErrRunning, err))
	}
	if err != nil {
		return a.tableErr(err)
	}
	defer release()
	if err := a.checkpoint.Prepare(ctx, r.db); err != nil {
		return a.err("checkpoint", err)
	}
	plan, f, err := a.planOn(ctx, r.db, &Plan{Scope: a.scope()})
	if err != nil {
		return err
	}
	r.facts = f
	defer func() {
		if r.stopStream != nil {
			r.stopStream()
		}
		if r.app != nil {
			_ = r.app.Close()
		}
		if err != nil && ctx.Err() != nil && !r.swapped {
			if aerr := a.cleanup(context.WithoutCancel(ctx), r.db); aerr != nil {
				err = fmt.Errorf("%w; removing the shadow table: %w", err, aerr)
			} else {
				err = fmt.Errorf("%w: aborted, the table is untouched and the shadow table removed", err)
			}
		}
	}()
	switch {
	case plan.Alter.Resume == resumeSwapped:
		a.logger().Info("online alter: the swap of an interrupted run happened, finishing", "table", a.name())
		r.swapped = true
		return r.finish(ctx)
	case plan.Alter.Method == "native":
		a.setPhase(PhaseCuttingOver)
		if _, err := r.db.ExecContext(ctx, plan.Alter.Native); err != nil {
			return a.tableErr(fmt.Errorf("native ALTER with ALGORITHM=%s: %w", plan.Alter.Algorithm, err))
		}
		r.swapped = true
		return nil
	}
	if len(f.cutover) > 0 { // a killed cut-over's: the table is untouched
		if err := a.dropCutoverTables(ctx, r.db); err != nil {
			return err
		}
	}
	if err := r.prepare(ctx, plan.Alter.Resume); err != nil {
		return err
	}
	if plan.Alter.Resume != resumeStream {
		if err := r.copy(ctx); err != nil {
			return err
		}
	}
	return r.follow(ctx)
}

// cutoverComment marks the cut-over's tables.
const cutoverComment = "shiftgate online alter: cut-over table"

// shadowComment marks the shadow table as this change's from its creation
// until the checkpoint records the run's position (unmark). The statement
// that creates the shadow carries it; an ALTER clause that sets the
// table's COMMENT overwrites it. The checkpoint's run, recorded before
// the CREATE, is what tells a next run that a shadow is this change's;
// the marker also tells it of a shadow whose run is gone (a shadow left by
// a version that recorded the run after the CREATE). A table under the
// shadow's name with neither is never touched.
func (a *OnlineAlter) shadowComment() string { return "shiftgate online alter: shadow of " + a.key() }

// clauseComment is the table comment the ALTER clause sets, if it sets
// one (its last COMMENT option).
func clauseComment(alter *ast.AlterTableStmt) (comment string, ok bool) {
	for _, s := range alter.Specs {
		if s.Tp != ast.AlterTableOption {
			continue
		}
		for _, o := range s.Options {
			if o.Tp == ast.TableOptionComment {
				comment, ok = o.StrValue, true
			}
		}
	}
	return comment, ok
}

// prepare creates the shadow table on a fresh start (recording the run
// and the position), or loads the copy's checkpoint on a resume, and
// readies the copy engine's table.
func (r *alterRun) prepare(ctx context.Context, resume string) error {
	a, f := r.a, r.facts
	shadow := schema.QualifiedName(a.database, a.shadowName())
	run := checkpoint.Run{Target: a.key(), Source: conn.Endpoint(a.dsn), SourceDB: a.database}
	if resume == "" {
		// A shadow left by a run killed before it saved its position,
		// this change's (planOn refuses any other): start over.
		if f.shadow {
			if _, err := r.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+shadow); err != nil {
				return a.err("table "+shadow, fmt.Errorf("drop: %w", err))
			}
		}
		// The run is recorded before the shadow exists: from the CREATE
		// on, the checkpoint tells a next run that the shadow is this
		// change's, whatever its comment (an ALTER clause may set one).
		run.Tables = r.runTables()
		if err := inTx(ctx, r.db, func(tx *sql.Tx) error { return a.checkpoint.Start(ctx, tx, run, nil) }); err != nil {
			return a.err("checkpoint", err)
		}
		if err := r.createShadow(ctx); err != nil {
			if ferr := a.checkpoint.Forget(context.WithoutCancel(ctx), r.db, a.key(), ""); ferr != nil {
				err = fmt.Errorf("%w; forgetting its checkpoint: %w", err, a.err("checkpoint", ferr))
			}
			return err
		}
	}
	var err error
	if r.shadowDef, err = schema.LoadTable(ctx, r.db, a.database, a.shadowName()); err != nil {
		return a.err("table "+shadow, err)
	}
	if resume == "" {
		if err := r.deferIndexes(ctx); err != nil {
			return a.err("table "+shadow, err)
		}
	} else if r.deferred, err = deferredOfRun(f.run); err != nil {
		return a.err("checkpoint", err)
	}
	var cols []string
	for _, c := range f.def.Columns {
		if dc := r.shadowDef.Column(c.Name); dc != nil && !dc.Generated {
			cols = append(cols, schema.QuoteIdent(c.Name))
		}
	}
	list := strings.Join(cols, ", ")
	r.insertHead = "INSERT INTO " + shadow + " (" + list + ") "
	if uniqueKeysKept(f.def, r.shadowDef) {
		r.insertHead = "REPLACE INTO " + shadow + " (" + list + ") "
	}
	r.selectList = list
	// The copy engine reads only the key of each chunk's rows: the rows
	// themselves are copied inside the server (alterThread.Write).
	keyPos := make([]int, len(f.key.Columns))
	for i := range keyPos {
		keyPos[i] = i
	}
	t := &copyengine.Table{Database: a.database, Name: a.table, Key: f.key, Estimate: f.def.Rows, SelectList: f.key.List(), KeyPos: keyPos,
		Sizer: keyset.NewSizer(a.cfg.chunkTime, firstChunkRows, minChunkRows, maxChunkRows)}
	if f.def.Rows > 0 {
		t.AvgRowBytes = f.def.DataLength / f.def.Rows
	}
	r.table = t
	r.report.WriteMethod = writeInsertSelect
	if resume == "" {
		segs, err := copyengine.CutSegments(ctx, r.readers, t, a.cfg.threads, a.cfg.segmentRows)
		if err != nil {
			return a.tableErr(err)
		}
		cps := make([]checkpoint.Segment, len(segs))
		for i, sg := range segs {
			cps[i] = checkpoint.Segment{Table: a.shadowName(), Index: sg.Index, Lower: sg.Lower, Upper: sg.Upper}
		}
		a.at("shadow-created")
		run.Tables = r.runTables() // with the deferred indexes
		if err := inTx(ctx, r.db, func(tx *sql.Tx) error { return a.checkpoint.Start(ctx, tx, run, cps) }); err != nil {
			return a.err("checkpoint", err)
		}
		// Every change after this position is applied to the shadow once
		// the copy, which reads after it, is done.
		pos, err := binlog.CurrentPosition(ctx, r.db, f.flavor)
		if err != nil {
			return a.err(serverFault, err)
		}
		if err := a.checkpoint.SavePosition(ctx, r.db, a.key(), Position{GTID: pos}); err != nil {
			return a.err("checkpoint", err)
		}
		f.run = &checkpoint.Run{Position: Position{GTID: pos}, State: checkpoint.Copying}
		t.Segments = segs
	} else {
		segs, err := a.checkpoint.LoadSegments(ctx, r.db, a.key(), func(string) (keyset.Key, bool) { return f.key, true })
		if err != nil {
			return a.err("checkpoint", err)
		}
		for _, sg := range segs[a.shadowName()] {
			t.Segments = append(t.Segments, resumeSegment(sg))
		}
		r.report.Resumed = true
	}
	if resume == "" || f.marked {
		if err := r.unmark(ctx); err != nil {
			return a.err("table "+shadow, fmt.Errorf("set its comment: %w", err))
		}
	}
	r.report.Position = f.run.Position
	t.Init()
	return nil
}

// createShadow creates the shadow table as the original is, its foreign
// keys renamed, and runs the ALTER on it.
func (r *alterRun) createShadow(ctx context.Context) error {
	a := r.a
	shadow := schema.QualifiedName(a.database, a.shadowName())
	var name, create string
	if err := r.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+a.name()).Scan(&name, &create); err != nil {
		return a.tableErr(err)
	}
	head := "CREATE TABLE " + schema.QuoteIdent(a.table)
	if !strings.HasPrefix(create, head) {
		return a.tableErr(fmt.Errorf("SHOW CREATE TABLE starts unexpectedly: %.60q", create))
	}
	create = "CREATE TABLE " + shadow + create[len(head):]
	for _, fk := range r.facts.def.ForeignKeys {
		create = strings.Replace(create, "CONSTRAINT "+schema.QuoteIdent(fk.Name)+" FOREIGN KEY", "CONSTRAINT "+schema.QuoteIdent(shadowFKName(fk.Name))+" FOREIGN KEY", 1)
	}
	// The marker ends the table options (the last COMMENT wins), which
	// follow the line that closes the column list and end with their line
	// (a partitioning clause starts on the next).
	mark := " COMMENT=" + textLiteral(a.shadowComment(), false)
	cols := strings.Index(create, "\n)")
	if cols < 0 {
		return a.tableErr(fmt.Errorf("SHOW CREATE TABLE has no column list: %.60q", create))
	}
	if end := strings.IndexByte(create[cols+2:], '\n'); end >= 0 {
		create = create[:cols+2+end] + mark + create[cols+2+end:]
	} else {
		create += mark
	}
	if _, err := r.db.ExecContext(ctx, create); err != nil {
		return a.err("table "+shadow, fmt.Errorf("create: %w", err))
	}
	if _, err := r.db.ExecContext(ctx, "ALTER TABLE "+shadow+" "+a.clause); err != nil {
		_, _ = r.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+shadow)
		return a.tableErr(fmt.Errorf("%w: the ALTER fails on the shadow table: %w", ErrAlterClause, err))
	}
	a.at("shadow-altered")
	a.logger().Info("online alter: shadow table created", "table", a.name(), "shadow", a.shadowName())
	return nil
}

// unmark gives the shadow, in place of its marker, the comment the changed
// table is to have (the clause's, else the table's), once the checkpoint
// records the run and its position: from then on the checkpoint tells
// that the shadow is this change's.
func (r *alterRun) unmark(ctx context.Context) error {
	comment, ok := clauseComment(r.facts.parsed)
	if !ok {
		comment = r.facts.def.Comment
	}
	c, err := r.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var mode string
	if err := c.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return err
	}
	literal := textLiteral(comment, strings.Contains(mode, "NO_BACKSLASH_ESCAPES"))
	_, err = c.ExecContext(ctx, "ALTER TABLE "+schema.QualifiedName(r.a.database, r.a.shadowName())+" COMMENT="+literal)
	return err
}

// textLiteral quotes s as a text literal for a statement that takes no
// placeholder nor hexadecimal literal (a table's COMMENT): quotes doubled
// and, unless the session has NO_BACKSLASH_ESCAPES, backslashes escaped.
func textLiteral(s string, noBackslashEscapes bool) string {
	if !noBackslashEscapes {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// deferIndexes drops from the new, empty shadow its plain secondary
// indexes (not primary, unique, full-text or spatial, nor one that leads
// with a foreign key's columns, which InnoDB needs), as the ALTER made
// them, and keeps them in r.deferred to add after the copy (addIndexes).
// InnoDB then builds each by sorting the rows instead of inserting every
// row into every index, which costs the server about a third less work
// (on the benchmark's table of 1M rows with two such indexes: 5.6
// CPU-seconds instead of 8.7). The checkpoint's run keeps them, so that a
// resume adds them too (runTables).
func (r *alterRun) deferIndexes(ctx context.Context) error {
	a := r.a
	shadow := schema.QualifiedName(a.database, a.shadowName())
	var name, create string
	if err := r.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+shadow).Scan(&name, &create); err != nil {
		return err
	}
	_, clauses, err := deferClauses(create, nil)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, fk := range r.shadowDef.ForeignKeys {
		if name, ok := leadingIndex(r.shadowDef, fk.Columns); ok {
			keep[strings.ToLower(name)] = true
		}
	}
	var drops []string
	for _, dc := range clauses {
		if !dc.foreignKey && !keep[strings.ToLower(dc.name)] && (strings.HasPrefix(dc.def, "KEY ") || strings.HasPrefix(dc.def, "INDEX ")) {
			r.deferred = append(r.deferred, dc)
			drops = append(drops, "DROP INDEX "+schema.QuoteIdent(dc.name))
		}
	}
	if len(drops) == 0 {
		return nil
	}
	_, err = r.db.ExecContext(ctx, "ALTER TABLE "+shadow+" "+strings.Join(drops, ", "))
	return err
}

// deferredPrefix marks, in the checkpoint run's table list after its
// "table=shadow" pair, the definition of an index deferIndexes deferred.
const deferredPrefix = "index "

// runTables is the table list of the change's checkpoint run: the table
// and its shadow, then the deferred indexes.
func (r *alterRun) runTables() []string {
	out := []string{r.a.table + "=" + r.a.shadowName()}
	for _, dc := range r.deferred {
		out = append(out, deferredPrefix+dc.def)
	}
	return out
}

// deferredOfRun reads the deferred indexes back from a checkpoint run.
func deferredOfRun(run *checkpoint.Run) ([]deferredClause, error) {
	var out []deferredClause
	for _, t := range run.Tables {
		def, ok := strings.CutPrefix(t, deferredPrefix)
		if !ok {
			continue
		}
		m := indexLine.FindStringSubmatch(def)
		if m == nil {
			return nil, fmt.Errorf("the deferred index %q of the run does not parse", def)
		}
		out = append(out, deferredClause{name: strings.ReplaceAll(m[1], "``", "`"), def: def})
	}
	return out, nil
}

// addIndexes adds the deferred indexes the shadow lacks (all after a
// fresh copy, those a killed run did not add on a resume), while the
// stream catches up.
func (r *alterRun) addIndexes(ctx context.Context) error {
	a := r.a
	c, err := r.db.Conn(ctx)
	if err != nil {
		return a.err(serverFault, err)
	}
	defer c.Close()
	begin := time.Now()
	if err := addDeferred(ctx, c, a.logger(), a.database, a.shadowName(), r.deferred); err != nil {
		return a.err("table "+schema.QualifiedName(a.database, a.shadowName()), err)
	}
	a.logger().Info("online alter: indexes of the shadow table ready", "table", a.name(), "deferred", len(r.deferred), "took", time.Since(begin))
	return nil
}

// copy copies the rows into the shadow table with the copy engine.
func (r *alterRun) copy(ctx context.Context) error {
	a := r.a
	a.setPhase(PhaseCopying)
	begin := time.Now()
	readers := make([]*sql.Conn, a.cfg.threads)
	for i := range readers {
		c, err := r.readers.Conn(ctx)
		if err != nil {
			return a.err(serverFault, err)
		}
		defer c.Close()
		readers[i] = c
	}
	r.emit()
	cfg := a.cfg.engineConfig(a.cfg.engineChunkBytes(), r.emit, func(object string, err error) error { return a.err(object, err) })
	if err := copyengine.Run(ctx, cfg, []*copyengine.Table{r.table}, readers, &alterWriter{r: r}); err != nil {
		return err
	}
	if err := a.checkpoint.Finish(ctx, r.db, a.key()); err != nil {
		return a.err("checkpoint", err)
	}
	a.logger().Info("online alter: rows copied", "table", a.name(), "rows", r.table.Rows()-r.table.StartRows(), "took", time.Since(begin))
	r.emit()
	return nil
}

// writeInsertSelect is the OnlineAlter's Report.WriteMethod: each chunk
// is copied inside the server.
const writeInsertSelect = "insert-select"

// alterWriter copies each chunk's key range into the shadow table with
// INSERT ... SELECT inside the server, as pt-online-schema-change does
// (no row leaves the server; the copy engine reads only the keys that
// bound the chunks), with the chunk's checkpoint in the same
// transaction. The writers' sessions are READ COMMITTED, so the SELECT is
// a consistent read that locks no row of the table; the rows it reads
// were committed after the copy's position, and the stream applies every
// change since that position, as after a copy through the client.
type alterWriter struct{ r *alterRun }

func (w *alterWriter) NewBatch() copyengine.Batch { return &keyBatch{} }

func (w *alterWriter) Open(ctx context.Context, thread int) (copyengine.ThreadWriter, error) {
	c, err := w.r.writers.Conn(ctx)
	if err != nil {
		return nil, w.r.a.err(serverFault, err)
	}
	return &alterThread{r: w.r, conn: c}, nil
}

// keyBatch counts a chunk's rows, of which the copy engine reads only the
// key. Its Len is the rows' estimated size (the table's average row
// length), which caps a chunk and is the bytes the report counts as
// copied: an estimate (see "Bytes" in OnlineAlter's doc).
type keyBatch struct {
	rows, rowBytes int
}

func (b *keyBatch) Reset(t *copyengine.Table) { b.rows, b.rowBytes = 0, int(max(1, t.AvgRowBytes)) }

func (b *keyBatch) Add([]sql.RawBytes) error { b.rows++; return nil }

func (b *keyBatch) Len() int { return b.rows * b.rowBytes }

func (b *keyBatch) Cap() int { return 0 }

type alterThread struct {
	r    *alterRun
	conn *sql.Conn
}

func (w *alterThread) Close() { w.conn.Close() }

// uniqueKeysKept says whether every unique key of the shadow, its primary
// key included, is one of the original's: the same columns and prefixes,
// each column of the same type and collation. The original's rows are
// then unique on them at every moment, so a duplicate met while copying
// can only be a row copied before the application moved its value (or
// its key) to a row copied later, a change the stream replays after the
// copy: the copy resolves it with REPLACE, as the stream does. Otherwise
// a duplicate may be one the ALTER makes (a new UNIQUE key, a collation
// that folds values together) and must fail the change, as it fails
// natively: the copy uses INSERT.
func uniqueKeysKept(orig, shadow *schema.TableDef) bool {
	same := func(a, b *schema.Index) bool {
		if !(a.Unique || a.Primary) || len(a.Columns) != len(b.Columns) {
			return false
		}
		for i, c := range a.Columns {
			if !strings.EqualFold(c.Name, b.Columns[i].Name) || c.SubPart != b.Columns[i].SubPart {
				return false
			}
			oc, sc := orig.Column(c.Name), shadow.Column(c.Name)
			if oc == nil || sc == nil || oc.ColumnType != sc.ColumnType || oc.Collation != sc.Collation {
				return false
			}
		}
		return true
	}
	for i := range shadow.Indexes {
		si := &shadow.Indexes[i]
		if !si.Unique && !si.Primary {
			continue
		}
		if !slices.ContainsFunc(orig.Indexes, func(oi schema.Index) bool { return same(&oi, si) }) {
			return false
		}
	}
	return true
}

// Write copies the chunk's key range, from its start to its last key (to
// the segment's end for its final chunk), and saves its checkpoint. The
// rows copied are those the SELECT finds, which may differ from those the
// copy engine read before (the application writes meanwhile): ch.Rows is
// set to them (with REPLACE, a row that replaced a stale one counts
// twice). A row that would duplicate a unique value of the shadow is
// resolved by REPLACE when the unique keys are the original's
// (uniqueKeysKept), else fails the chunk; never IGNORE, so that strict
// conversions stay errors.
func (w *alterThread) Write(ctx context.Context, ch *copyengine.Chunk) error {
	r := w.r
	a, t := r.a, ch.Segment.Table
	rng := keyset.Range{Lower: ch.From, Upper: ch.Last}
	if ch.Final {
		rng.Upper = ch.Segment.Upper
	}
	query, args := t.Key.ChunkQuery(t.Database, t.Name, r.selectList, rng, 0)
	object := "table " + schema.QualifiedName(a.database, a.shadowName())
	return inConnTx(ctx, w.conn, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, r.insertHead+query, args...)
		if err != nil {
			return a.err(object, fmt.Errorf("copy a chunk: %w", err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return a.err(object, fmt.Errorf("copy a chunk: %w", err))
		}
		ch.Rows = int(n)
		if err := a.checkpoint.SaveChunk(ctx, tx, a.key(), a.shadowName(), ch.Segment.Index, ch.Last, n, int64(ch.Batch.Len()), ch.Final); err != nil {
			return a.err("checkpoint", err)
		}
		return nil
	})
}

func (w *alterThread) Finish(context.Context, *copyengine.Table) error { return nil }

// inConnTx runs fn in a transaction on c and commits it.
func inConnTx(ctx context.Context, c *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// openStream starts the applier (saving the copy's position as the
// stream's first) and the stream of the table's changes into the shadow,
// from the saved position.
func (r *alterRun) openStream(ctx context.Context) error {
	a, f := r.a, r.facts
	id, err := conn.Identify(ctx, r.db)
	if err != nil {
		return a.err(serverFault, err)
	}
	src := rowchange.Table{Schema: a.database, Name: a.table}
	flavor := f.flavor
	r.app, err = apply.New(r.db, a.checkpoint, a.key(), a.database,
		apply.WithTables(map[rowchange.Table]rowchange.Table{src: {Schema: a.database, Name: a.shadowName()}}),
		apply.WithDroppedColumns(), apply.WithReplaceRows(), apply.WithSource(id.String()), apply.WithLogger(a.logger()),
		apply.WithCovered(func(stored, position string) (bool, error) { return binlog.PositionContains(flavor, stored, position) }))
	if err != nil {
		return err
	}
	st, err := r.app.Start(ctx)
	if err != nil {
		return a.err("checkpoint", err)
	}
	start := f.run.Position.GTID
	if st != nil {
		start = st.Position
	} else {
		if err := r.app.Apply(ctx, rowchange.Txn{Position: start}); err != nil {
			return a.err("checkpoint", err)
		}
		if err := r.app.Flush(ctx); err != nil {
			return a.err("checkpoint", err)
		}
	}
	if r.stream, err = binlog.New(binlog.Config{DSN: a.dsn.FormatDSN(), ServerID: a.cfg.serverID, Tables: []rowchange.Table{src},
		Start: start, DDL: binlog.DDLStop, Heartbeat: syncHeartbeat, Logger: a.logger()}); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.streamDone = done
	go func() {
		defer close(done)
		r.streamErr = r.stream.Run(sctx, pacedSink{r: r, Applier: r.app})
	}()
	r.stopStream = func() {
		cancel()
		<-done
		r.stopStream = nil
	}
	return nil
}

// pacedSink is the applier as the stream's sink: until the cut-over
// (alterRun.paceApply) each transaction waits for the throttler
// (WithThrottler), as each chunk of the copy does. Applying the table's
// changes to the shadow loads the server as the copy does, and the load
// a throttler guards against (Threads_running, replicas' lag: the
// shadow's writes replicate) comes as much from it; gh-ost, too, stops
// applying the binary log while throttled. The stream meanwhile reads no
// further (the server keeps the binary log), and the lag grows. The
// applier's open group, if any (the transactions of its last
// apply.DefaultGroupDelay, mostly still in its batches), stays open while
// held: it writes only the shadow, which nothing else writes. From the
// cut-over on nothing is held: its locks stop the application's writes
// until the shadow caught up.
type pacedSink struct {
	r *alterRun
	*apply.Applier
}

func (s pacedSink) Apply(ctx context.Context, tx rowchange.Txn) error {
	if s.r.paceApply.Load() {
		if err := s.r.a.cfg.throttle(ctx, s.r.a.table, s.r.a.name()); err != nil {
			return err
		}
	}
	return s.Applier.Apply(ctx, tx)
}

// closeStream stops the stream and closes the applier, its last position
// saved.
func (r *alterRun) closeStream(ctx context.Context) error {
	if r.stopStream != nil {
		r.stopStream()
	}
	if r.app == nil {
		return nil
	}
	err := r.app.Flush(context.WithoutCancel(ctx))
	_ = r.app.Close()
	r.app = nil
	return err
}

// catchUp waits until the shadow holds the changes up to position, at
// most wait (0: no limit). A bounded wait is one under a lock: the stream
// hands over every position it reads meanwhile (binlog.Stream.Hurry), so
// the wait does not last until its next periodic position while other
// tables take writes.
func (r *alterRun) catchUp(ctx context.Context, position string, wait time.Duration) error {
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
		defer r.stream.Hurry()()
	}
	lastEmit := time.Now()
	for {
		ok, err := binlog.PositionContains(r.facts.flavor, r.app.Stats().Position, position)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("%w: the shadow did not catch up with %s within %s (it holds %s)", errCatchUp, position, wait, r.app.Stats().Position)
		}
		if time.Since(lastEmit) >= r.a.cfg.progressInterval {
			lastEmit = time.Now()
			r.emit()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.streamDone:
			if errors.Is(r.streamErr, binlog.ErrDDL) {
				return fmt.Errorf("someone else changed the table's definition during the change, the shadow table no longer matches it (a resume would stop on it again): Abort removes the shadow, then run the change again: %w", r.streamErr)
			}
			return fmt.Errorf("following the binary log: %w", r.streamErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// errCatchUp is a catch-up that took longer than a lock may be held.
var errCatchUp = errors.New("catch-up too slow")

// quietLag is the catch-up round short enough to take the verification's
// lock after.
const quietLag = 50 * time.Millisecond

// converge catches up with the binary log until one round takes less
// than the lock wait, then while each round takes at most half the time
// of the one before, down to quietLag (a few rounds more): the lag left
// is what a lock of the cut-over, which stops writes, has to wait for.
func (r *alterRun) converge(ctx context.Context) error {
	for last := time.Duration(-1); ; {
		pos, err := binlog.CurrentPosition(ctx, r.db, r.facts.flavor)
		if err != nil {
			return r.a.err(serverFault, err)
		}
		round := time.Now()
		if err := r.catchUp(ctx, pos, 0); err != nil {
			return r.a.tableErr(err)
		}
		took := time.Since(round)
		if took < r.a.cfg.lockWait/2 && (took < quietLag || last >= 0 && took > last/2) {
			return nil
		}
		if took < r.a.cfg.lockWait/2 {
			last = took
		}
	}
}

// follow applies the table's changes to the shadow until it is close
// behind, then cuts over.
func (r *alterRun) follow(ctx context.Context) error {
	a := r.a
	a.setPhase(PhaseCatchingUp)
	r.emit()
	begin := time.Now()
	r.paceApply.Store(a.cfg.throttler != nil)
	if err := r.openStream(ctx); err != nil {
		return err
	}
	// The stream applies the changes while InnoDB builds the indexes
	// (online: the shadow stays writable).
	if err := r.addIndexes(ctx); err != nil {
		return err
	}
	a.at("catching-up")
	if err := r.converge(ctx); err != nil {
		return err
	}
	a.logger().Info("online alter: caught up", "table", a.name(), "took", time.Since(begin))
	r.emit()
	return r.cutover(ctx)
}

// finish removes what the change leaves after the swap: its checkpoint
// and, WithDropOld, the original table.
func (r *alterRun) finish(ctx context.Context) error {
	a := r.a
	ctx = context.WithoutCancel(ctx)
	if err := r.closeStream(ctx); err != nil {
		a.logger().Warn("online alter: saving the stream's last position", "err", err)
	}
	if err := a.dropCutoverTables(ctx, r.db); err != nil {
		return fmt.Errorf("the table was changed, but: %w", err)
	}
	if err := a.checkpoint.Forget(ctx, r.db, a.key(), a.key()); err != nil {
		return a.err("checkpoint", fmt.Errorf("the table was changed, but: %w", err))
	}
	if a.cfg.dropOld {
		old := schema.QualifiedName(a.database, a.oldName())
		if _, err := r.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+old); err != nil {
			return a.err("table "+old, fmt.Errorf("the table was changed, but dropping the original: %w", err))
		}
	}
	return nil
}

// Abort removes what an interrupted change left: the shadow table, the
// cut-over's tables and the checkpoint. The table itself is untouched; a
// change whose swap happened is left as it is (Run finishes it). It is
// refused while Run runs.
func (a *OnlineAlter) Abort(ctx context.Context) error {
	if err := a.running.enter(ctx, "online alter of "+a.name()+": abort"); err != nil {
		return err
	}
	defer a.running.leave()
	db, err := openSide(ctx, Source, a.dsn, conn.Options{Timeouts: a.cfg.timeouts, MaxConns: 2, Logger: a.logger()})
	if err != nil {
		return err
	}
	defer db.Close()
	release, err := conn.Lock(ctx, db, "shiftgate."+a.key(), 0)
	if err != nil {
		return a.tableErr(fmt.Errorf("abort: %w", err))
	}
	defer release()
	if err := a.cleanup(ctx, db); err != nil {
		return fmt.Errorf("migrate: online alter of %s: abort: %w", a.name(), err)
	}
	return nil
}

// cleanup drops the shadow table and the cut-over's tables and forgets
// the checkpoint, unless the swap happened.
func (a *OnlineAlter) cleanup(ctx context.Context, db *sql.DB) error {
	shadow, marked, old, cutover, _, err := a.helperTables(ctx, db)
	if err != nil {
		return a.tableErr(err)
	}
	if !shadow && old {
		return nil // swapped: nothing to remove
	}
	if len(cutover) > 0 {
		if err := a.dropCutoverTables(ctx, db); err != nil {
			return err
		}
	}
	if err := a.checkpoint.Check(ctx, db); err != nil {
		return a.err("checkpoint", err)
	}
	run, err := a.checkpoint.LoadRun(ctx, db, a.key())
	if err != nil {
		return a.err("checkpoint", err)
	}
	// The shadow is this change's when the checkpoint records the run or
	// it carries the marker; a table of someone else's is left.
	if shadow && (marked || run != nil) {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+schema.QualifiedName(a.database, a.shadowName())); err != nil {
			return a.err("table "+schema.QualifiedName(a.database, a.shadowName()), fmt.Errorf("drop: %w", err))
		}
	}
	if run == nil {
		return nil
	}
	if err := a.checkpoint.Forget(ctx, db, a.key(), a.key()); err != nil {
		return a.err("checkpoint", err)
	}
	a.logger().Info("online alter: shadow table and checkpoint removed", "table", a.name())
	return nil
}

// emit reports progress.
func (r *alterRun) emit() {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.progress == nil {
		return
	}
	p := Progress{Phase: r.a.Phase(), TablesTotal: 1, Elapsed: time.Since(r.report.Started), Table: r.a.table}
	if t := r.table; t != nil {
		p.Rows, p.Bytes, p.RowsEstimate = t.Rows(), t.Bytes(), max(t.Estimate, t.Rows())
		if secs := p.Elapsed.Seconds(); secs > 0 && p.Phase == PhaseCopying {
			p.RowsPerSecond = float64(t.Rows()-t.StartRows()) / secs
			p.BytesPerSecond = float64(t.Bytes()) / secs
			if p.RowsPerSecond > 0 && p.RowsEstimate > p.Rows {
				p.ETA = time.Duration(float64(p.RowsEstimate-p.Rows) / p.RowsPerSecond * float64(time.Second))
			}
		}
		p.Tables = []TableProgress{{Name: t.Name, Rows: p.Rows, Bytes: p.Bytes, RowsEstimate: p.RowsEstimate, Done: r.swapped, ETA: p.ETA}}
	}
	if p.Phase == PhaseCopying || p.Phase == PhaseCatchingUp {
		p.Throttled = held(r.a.cfg.throttler)
	}
	if r.app != nil {
		st := r.app.Stats()
		p.AppliedRows, p.AppliedTxns, p.ApplyRowsPerSecond, p.StreamPosition = st.Rows, st.Txns, st.RowsPerSecond, st.Position
		if r.stream != nil {
			p.Lag = r.stream.Stats().Behind
		}
	}
	if r.swapped {
		p.TablesDone, p.Table = 1, ""
	}
	r.progress(p)
}
