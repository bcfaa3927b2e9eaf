package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/copyengine"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// mergeRun is the state of one Run of a Merge.
type mergeRun struct {
	m        *Merge
	facts    *mergeFacts
	progress ProgressFunc
	report   *Report
	started  time.Time
	capBytes int64
	runID    int64

	srcs   []*sql.DB // by instance
	dst    *sql.DB
	tables []*copyengine.Table // by location
	index  map[*copyengine.Table]int
	load   rowcodec.Load
	emitMu sync.Mutex
}

var mergeRuns atomic.Int64

// Run merges the shards. See Executor for the contract and Merge for how
// a merge that was interrupted continues.
func (m *Merge) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	name := schema.QualifiedName(m.database, m.table)
	if err := m.running.enter(ctx, "merge into "+name); err != nil {
		return nil, err
	}
	defer m.running.leave()
	plan, facts, err := m.plan(ctx)
	if err != nil {
		return nil, err
	}
	r := &mergeRun{m: m, facts: facts, progress: progress, started: time.Now(),
		report:   &Report{Scope: plan.Scope, Started: time.Now(), WriteMethod: WriteLoadData.String(), Resumed: facts.resume},
		capBytes: m.cfg.engineChunkBytes(), runID: mergeRuns.Add(1), index: map[*copyengine.Table]int{}}
	err = r.run(ctx)
	r.finishReport()
	if missing := notDone(r.report); err == nil && len(missing) > 0 {
		err = r.incomplete(fmt.Errorf("%d shard table(s) not merged completely", len(missing)))
	}
	if err != nil {
		m.cfg.logger.Error("merge failed", "table", name, "err", err)
		return r.report, err
	}
	m.cfg.logger.Info("merge finished", "table", name, "rows", r.report.Rows, "duration", r.report.Duration, "resumed", r.report.Resumed)
	return r.report, nil
}

func (r *mergeRun) run(ctx context.Context) (err error) {
	m := r.m
	threads := m.cfg.threads
	groups := make([]snapshot.Group, len(m.instances))
	for i, in := range m.instances {
		db, err := m.cfg.open(ctx, Source, in.cfg, threads+2, conn.ReaderSession().Params(), false)
		if err != nil {
			return err
		}
		defer db.Close()
		r.srcs = append(r.srcs, db)
		groups[i] = snapshot.Group{DB: db, N: threads}
	}
	writer := conn.WriterSession(conn.WriterOptions{NoBinlog: m.cfg.noTargetBinlog})
	if r.dst, err = m.cfg.open(ctx, Target, m.target, len(m.instances)*threads+2, writer.Params(), true); err != nil {
		return err
	}
	defer r.dst.Close()
	release, err := conn.Lock(ctx, r.dst, "shiftgate.copy."+m.database, 0)
	if errors.Is(err, conn.ErrLocked) {
		return m.targetErr("database "+schema.QuoteIdent(m.database), fmt.Errorf("%w: another copy into this database holds %w", ErrRunning, err))
	}
	if err != nil {
		return m.targetErr("database "+schema.QuoteIdent(m.database), err)
	}
	defer release()
	if err := r.prepare(ctx); err != nil {
		return r.incomplete(err)
	}
	method := snapshot.None
	if m.cfg.snapshot == SnapshotConsistent {
		method = snapshot.BackupStage
	}
	snap, err := snapshot.Open(ctx, snapshot.Options{Method: method}, groups...)
	if err != nil {
		var ge *snapshot.GroupError
		if errors.As(err, &ge) {
			in := m.instances[ge.Group]
			err = &EndpointError{Side: Source, Endpoint: conn.Endpoint(in.cfg), Object: serverFault, Err: ge.Err}
		}
		return r.incomplete(err)
	}
	defer snap.Close()
	r.report.CommitsBlocked = snap.Blocked
	r.report.Consistent = method == snapshot.BackupStage && !r.report.Resumed
	m.cfg.logger.Info("merge started", "table", m.table, "shards", len(m.locs), "servers", len(m.instances), "threads", threads, "resumed", r.report.Resumed)
	r.emit()
	// One engine configuration, so that WithRateLimit limits the whole
	// merge; each shard server's copy names it in its read errors.
	shared := m.cfg.engineConfig(r.capBytes, r.emit, nil)
	g, gctx := errgroup.WithContext(ctx)
	for i, in := range m.instances {
		var tables []*copyengine.Table
		for _, li := range in.locs {
			tables = append(tables, r.tables[li])
		}
		cfg := shared
		cfg.SourceError = func(object string, err error) error {
			return &EndpointError{Side: Source, Endpoint: conn.Endpoint(in.cfg), Object: object, Err: err}
		}
		g.Go(func() error {
			return copyengine.Run(gctx, cfg, tables, snap.Readers[i], &mergeWriter{r: r, instance: i})
		})
	}
	if err := g.Wait(); err != nil {
		return r.incomplete(err)
	}
	if err := r.check(ctx); err != nil {
		return r.incomplete(err)
	}
	if err := m.checkpoint.Finish(ctx, r.dst, m.database); err != nil {
		return r.incomplete(m.targetErr("checkpoint", err))
	}
	r.emit()
	return nil
}

// prepare builds the engine's tables: on a fresh start it creates the
// target table and cuts each shard's key range into segments, on a resume
// it loads the segments from the checkpoint.
func (r *mergeRun) prepare(ctx context.Context) error {
	m, f := r.m, r.facts
	r.load = rowcodec.NewLoad(schema.QualifiedName(m.database, m.table), f.columns)
	ct := &copyTable{target: m.table, columns: f.columns}
	for i, l := range m.locs {
		def := f.defs[i]
		ct.def, ct.key = def, f.keys[i]
		t := &copyengine.Table{Database: l.Database, Name: l.Table, Key: f.keys[i], Estimate: def.Rows,
			Sizer: keyset.NewSizer(m.cfg.chunkTime, firstChunkRows, minChunkRows, maxChunkRows)}
		if def.Rows > 0 {
			t.AvgRowBytes = def.DataLength / def.Rows
		}
		t.SelectList, _, _, _, t.KeyPos, _ = tableStatements(ct, m.database)
		r.tables = append(r.tables, t)
		r.index[t] = i
	}
	if err := m.checkpoint.Prepare(ctx, r.dst); err != nil {
		return m.targetErr("checkpoint", err)
	}
	if f.resume {
		segs, err := m.checkpoint.LoadSegments(ctx, r.dst, m.database, func(label string) (keyset.Key, bool) {
			for i := range m.locs {
				if m.label(i) == label {
					return f.keys[i], true
				}
			}
			return keyset.Key{}, false
		})
		if err != nil {
			return m.targetErr("checkpoint", err)
		}
		for i, t := range r.tables {
			cps := segs[m.label(i)]
			if len(cps) == 0 {
				return m.targetErr("checkpoint", fmt.Errorf("%w: no segments of shard %d", ErrRowsDiffer, m.locs[i].Shard))
			}
			for _, sg := range cps {
				t.Segments = append(t.Segments, &copyengine.Segment{Index: sg.Index, Lower: sg.Lower, Upper: sg.Upper, Last: sg.Last,
					Rows: sg.Rows, Bytes: sg.Bytes, Chunks: sg.Chunks, Done: sg.Done})
			}
			t.Init()
		}
		return nil
	}
	if err := r.createTarget(ctx); err != nil {
		return err
	}
	var cps []checkpoint.Segment
	for i, t := range r.tables {
		in := instanceOf(m.instances, m.locs[i])
		segs, err := copyengine.CutSegments(ctx, r.srcs[slices.Index(m.instances, in)], t, m.cfg.threads, m.cfg.segmentRows)
		if err != nil {
			return m.shardErr(i, err)
		}
		t.Segments = segs
		for _, sg := range segs {
			cps = append(cps, checkpoint.Segment{Table: m.label(i), Index: sg.Index, Lower: sg.Lower, Upper: sg.Upper})
		}
		t.Init()
	}
	run := checkpoint.Run{Target: m.database, Source: m.checkpointSource(), Tables: m.pairs()}
	if err := inTx(ctx, r.dst, func(tx *sql.Tx) error { return m.checkpoint.Start(ctx, tx, run, cps) }); err != nil {
		return m.targetErr("checkpoint", err)
	}
	return nil
}

// createTarget creates the target database and table; an existing table
// is dropped first when it holds rows (Plan allowed it: WithReplace) and
// kept when empty.
func (r *mergeRun) createTarget(ctx context.Context) error {
	m, f := r.m, r.facts
	if _, err := r.dst.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s",
		schema.QuoteIdent(m.database), f.sourceDB.Charset, f.sourceDB.Collation)); err != nil {
		return m.targetErr("database "+schema.QuoteIdent(m.database), fmt.Errorf("create: %w", err))
	}
	if f.hasRows {
		if _, err := r.dst.ExecContext(ctx, "DROP TABLE "+schema.QualifiedName(m.database, m.table)); err != nil {
			return m.targetErr(m.targetTable(), fmt.Errorf("drop: %w", err))
		}
	}
	stmt := "CREATE TABLE IF NOT EXISTS " + f.create[len("CREATE TABLE "):]
	if _, err := r.dst.ExecContext(ctx, stmt); err != nil {
		return m.targetErr(m.targetTable(), fmt.Errorf("create: %w", err))
	}
	return nil
}

// check adds the deferred indexes and compares the target's rows with the
// checkpoints' count.
func (r *mergeRun) check(ctx context.Context) error {
	m := r.m
	run, err := m.checkpoint.LoadRun(ctx, r.dst, m.database)
	if err == nil && run == nil {
		err = fmt.Errorf("the run of the merge: %w", ErrNotFound)
	}
	if err != nil {
		return m.targetErr("checkpoint", err)
	}
	if len(r.facts.deferred) > 0 {
		c, err := r.dst.Conn(ctx)
		if err != nil {
			return m.targetErr(m.targetTable(), err)
		}
		err = addDeferred(ctx, c, m.cfg.logger, m.database, m.table, r.facts.deferred)
		c.Close()
		if err != nil {
			return m.targetErr(m.targetTable(), err)
		}
	}
	var have int64
	if err := r.dst.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema.QualifiedName(m.database, m.table)).Scan(&have); err != nil {
		return m.targetErr(m.targetTable(), err)
	}
	if want := run.TotalRows(); have != want {
		return m.targetErr(m.targetTable(), fmt.Errorf("%w: it holds %d rows but the merge's checkpoints count %d: rows were written by someone else, or lost", ErrRowsDiffer, have, want))
	}
	return nil
}

// emit reports progress, from one goroutine at a time.
func (r *mergeRun) emit() {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.progress == nil || len(r.tables) == 0 {
		return
	}
	p := Progress{TablesTotal: len(r.tables), Elapsed: time.Since(r.started)}
	var startRows int64
	for i, t := range r.tables {
		tp := TableProgress{Name: r.m.locs[i].String(), Rows: t.Rows(), Bytes: t.Bytes(), RowsEstimate: max(t.Estimate, t.Rows()), Done: t.Done()}
		if tp.Done {
			p.TablesDone++
			tp.RowsEstimate = tp.Rows
		}
		p.Rows += tp.Rows
		p.Bytes += tp.Bytes
		p.RowsEstimate += tp.RowsEstimate
		startRows += t.StartRows()
		p.Tables = append(p.Tables, tp)
	}
	if secs := p.Elapsed.Seconds(); secs > 0 {
		p.RowsPerSecond = float64(p.Rows-startRows) / secs
		p.BytesPerSecond = float64(p.Bytes) / secs
	}
	r.progress(p)
}

// finishReport fills the report: one table per shard.
func (r *mergeRun) finishReport() {
	r.report.Duration = time.Since(r.report.Started)
	target := schema.QualifiedName(r.m.database, r.m.table)
	for i, t := range r.tables {
		r.report.Tables = append(r.report.Tables, TableReport{Name: r.m.locs[i].String(), TargetName: target, Rows: t.Rows(), Done: t.Done(), Bytes: t.Bytes(), Chunks: t.Chunks()})
		r.report.Rows += t.Rows()
		r.report.Bytes += t.Bytes()
	}
}

// incomplete wraps an error of a run that changed the target.
func (r *mergeRun) incomplete(err error) error {
	e := &IncompleteError{Op: fmt.Sprintf("merge %d shards into %s", len(r.m.locs), schema.QualifiedName(r.m.database, r.m.table)), Err: err}
	switch {
	case errors.Is(err, ErrRowsDiffer):
		e.Remedy = "drop the target table and the merge's checkpoint and run the merge again to start over"
	default:
		e.Remedy = "run the same merge again to continue from the last committed chunk"
	}
	if r.report.Rows > 0 || r.facts.resume {
		e.Partial = r.m.table
	}
	return e
}

// mergeWriter writes the chunks of one shard server's tables into the
// target table.
type mergeWriter struct {
	r        *mergeRun
	instance int
}

func (w *mergeWriter) NewBatch() copyengine.Batch {
	return &mergeBatch{columns: len(w.r.facts.columns)}
}

func (w *mergeWriter) Open(ctx context.Context, thread int) (copyengine.ThreadWriter, error) {
	r := w.r
	c, err := r.dst.Conn(ctx)
	if err != nil {
		return nil, r.m.targetErr("database "+schema.QuoteIdent(r.m.database), err)
	}
	return &mergeThread{r: r, conn: c, handler: fmt.Sprintf("shiftgate-merge-%d-%d-%d", r.runID, w.instance, thread)}, nil
}

// mergeBatch is a chunk's rows as LOAD DATA fields.
type mergeBatch struct {
	columns int
	data    []byte
}

func (b *mergeBatch) Reset(*copyengine.Table) { b.data = b.data[:0] }

func (b *mergeBatch) Add(row []sql.RawBytes) error {
	b.data = appendLoadRow(b.data, row[:b.columns])
	return nil
}

func (b *mergeBatch) Len() int { return len(b.data) }
func (b *mergeBatch) Cap() int { return cap(b.data) }

// mergeThread writes one thread's chunks on a target connection of its
// own.
type mergeThread struct {
	r       *mergeRun
	conn    *sql.Conn
	handler string
}

func (w *mergeThread) Close() {
	mysql.DeregisterReaderHandler(w.handler)
	w.conn.Close()
}

// Write writes a chunk and its checkpoint in one transaction.
func (w *mergeThread) Write(ctx context.Context, ch *copyengine.Chunk) error {
	r := w.r
	m := r.m
	b := ch.Batch.(*mergeBatch)
	i := r.index[ch.Segment.Table]
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return m.targetErr(m.targetTable(), err)
	}
	defer func() { _ = tx.Rollback() }()
	if ch.Rows > 0 {
		mysql.RegisterReaderHandler(w.handler, func() io.Reader { return bytes.NewReader(b.data) })
		stmt, err := r.load.SQL("Reader::" + w.handler)
		if err != nil {
			return m.targetErr(m.targetTable(), err)
		}
		res, err := tx.ExecContext(ctx, stmt)
		if err != nil {
			return m.targetErr(m.targetTable(), fmt.Errorf("LOAD DATA of shard %d: %w", m.locs[i].Shard, err))
		}
		if n, _ := res.RowsAffected(); n != int64(ch.Rows) {
			return m.shardErr(i, fmt.Errorf("%d of %d rows of a chunk were written into %s: the target skipped rows whose key another shard holds too (a duplicate key)",
				n, ch.Rows, schema.QualifiedName(m.database, m.table)))
		}
	}
	if err := m.checkpoint.SaveChunk(ctx, tx, m.database, m.label(i), ch.Segment.Index, ch.Last, int64(ch.Rows), int64(len(b.data)), ch.Final); err != nil {
		return m.targetErr("checkpoint", err)
	}
	if err := tx.Commit(); err != nil {
		return m.targetErr(m.targetTable(), fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Finish has nothing to do for one shard table: the count check covers
// them all once every shard is merged.
func (w *mergeThread) Finish(context.Context, *copyengine.Table) error { return nil }
