package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	"github.com/shiftgate/shiftgate/internal/shardroute"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// splitRun is the state of one Run of a Split.
type splitRun struct {
	s        *Split
	plan     *Plan
	facts    *splitFacts
	progress ProgressFunc
	report   *Report
	started  time.Time
	capBytes int64
	runID    int64

	src   *sql.DB
	dsts  []*sql.DB // by instance
	table *copyengine.Table
	// selected is the number of copied columns (the row's first ones);
	// routePos where the routing value is.
	selected, routePos int
	loads              []rowcodec.Load // by location
	emitMu             sync.Mutex
}

var splitRuns atomic.Int64

// Run splits the table. See Executor for the contract and Split for how a
// split that was interrupted continues.
func (s *Split) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	name := schema.QualifiedName(s.database, s.table)
	if err := s.running.enter(ctx, "split "+name); err != nil {
		return nil, err
	}
	defer s.running.leave()
	plan, facts, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	r := &splitRun{s: s, plan: plan, facts: facts, progress: progress, started: time.Now(),
		report:   &Report{Scope: plan.Scope, Started: time.Now(), WriteMethod: WriteLoadData.String(), Resumed: facts.resume},
		capBytes: s.cfg.engineChunkBytes(), runID: splitRuns.Add(1)}
	err = r.run(ctx)
	r.finishReport()
	if err == nil && !r.table.Done() {
		err = r.incomplete(fmt.Errorf("table %s not split completely", name))
	}
	if err != nil {
		s.cfg.logger.Error("split failed", "table", name, "err", err)
		return r.report, err
	}
	s.cfg.logger.Info("split finished", "table", name, "rows", r.report.Rows, "duration", r.report.Duration, "resumed", r.report.Resumed)
	return r.report, nil
}

func (r *splitRun) run(ctx context.Context) (err error) {
	s := r.s
	threads := s.cfg.threads
	if r.src, err = s.cfg.open(ctx, Source, s.source, threads+2, conn.ReaderSession().Params(), false); err != nil {
		return err
	}
	defer r.src.Close()
	writer := conn.WriterSession(conn.WriterOptions{NoBinlog: s.cfg.noTargetBinlog})
	for _, in := range s.instances {
		db, err := s.cfg.open(ctx, Target, in.cfg, threads+2, writer.Params(), true)
		if err != nil {
			return err
		}
		defer db.Close()
		r.dsts = append(r.dsts, db)
		// One copy at a time into a shard server's databases.
		release, err := conn.Lock(ctx, db, "shiftgate.copy."+in.keyDB, 0)
		if errors.Is(err, conn.ErrLocked) {
			return in.targetErr("database "+schema.QuoteIdent(in.keyDB), fmt.Errorf("%w: another copy into this database holds %w", ErrRunning, err))
		}
		if err != nil {
			return in.targetErr("database "+schema.QuoteIdent(in.keyDB), err)
		}
		defer release()
	}
	if err := r.prepare(ctx); err != nil {
		return r.incomplete(err)
	}
	method := snapshot.None
	if s.cfg.snapshot == SnapshotConsistent {
		method = snapshot.BackupStage
	}
	snap, err := snapshot.Open(ctx, snapshot.Options{Method: method, Position: r.facts.binlog}, snapshot.Group{DB: r.src, N: threads})
	if err != nil {
		var ge *snapshot.GroupError
		if errors.As(err, &ge) {
			err = ge.Err
		}
		return r.incomplete(s.sourceErr("database "+schema.QuoteIdent(s.database), err))
	}
	defer snap.Close()
	r.report.CommitsBlocked = snap.Blocked
	r.report.Consistent = method == snapshot.BackupStage && !r.report.Resumed
	if err := r.position(ctx, snap.Position); err != nil {
		return r.incomplete(err)
	}
	s.cfg.logger.Info("split started", "table", s.table, "shards", len(s.locs), "servers", len(s.instances), "threads", threads, "resumed", r.report.Resumed)
	r.emit()
	cfg := s.cfg.engineConfig(r.capBytes, r.emit, s.sourceErr)
	if err := copyengine.Run(ctx, cfg, []*copyengine.Table{r.table}, snap.Readers[0], &splitWriter{r: r}); err != nil {
		return r.incomplete(err)
	}
	for i, in := range s.instances {
		if err := s.checkpoint.Finish(ctx, r.dsts[i], in.keyDB); err != nil {
			return r.incomplete(in.targetErr("checkpoint", err))
		}
	}
	r.emit()
	return nil
}

// position records the source's binlog position on every shard server
// (a resumed split keeps the first run's, which SavePosition does not
// overwrite) and puts the first run's into the report.
func (r *splitRun) position(ctx context.Context, p snapshot.Position) error {
	s := r.s
	if p.IsZero() {
		return nil
	}
	for i, in := range s.instances {
		if err := s.checkpoint.SavePosition(ctx, r.dsts[i], in.keyDB, p); err != nil {
			return in.targetErr("checkpoint", err)
		}
	}
	run, err := s.checkpoint.LoadRun(ctx, r.dsts[0], s.instances[0].keyDB)
	if err == nil && run == nil {
		err = fmt.Errorf("the run of the split: %w", ErrNotFound)
	}
	if err != nil {
		return s.instances[0].targetErr("checkpoint", err)
	}
	r.report.Position = run.Position
	return nil
}

// prepare builds the engine's table and its segments: on a fresh start it
// creates the shard databases and tables and cuts the key range, on a
// resume it brings every shard server back to the same chunk of each
// segment (rewind).
func (r *splitRun) prepare(ctx context.Context) error {
	s, f := r.s, r.facts
	t := &copyengine.Table{Database: s.database, Name: s.table, Key: f.key, Estimate: f.def.Rows,
		Sizer: keyset.NewSizer(s.cfg.chunkTime, firstChunkRows, minChunkRows, maxChunkRows)}
	if f.def.Rows > 0 {
		t.AvgRowBytes = f.def.DataLength / f.def.Rows
	}
	var selectList string
	selectList, _, _, _, t.KeyPos, _ = tableStatements(f.ct, s.database)
	r.selected = len(f.ct.columns)
	r.routePos = r.selected
	for _, p := range t.KeyPos {
		r.routePos = max(r.routePos, p+1)
	}
	t.SelectList = selectList + ", " + s.routeExpr()
	for _, l := range s.locs {
		r.loads = append(r.loads, rowcodec.NewLoad(schema.QualifiedName(l.Database, l.Table), f.ct.columns))
	}
	r.table = t
	for i := range s.instances {
		if err := s.checkpoint.Prepare(ctx, r.dsts[i]); err != nil {
			return s.instances[i].targetErr("checkpoint", err)
		}
	}
	var err error
	if f.resume {
		err = r.resume(ctx)
	} else {
		err = r.freshStart(ctx)
	}
	if err != nil {
		return err
	}
	if err := r.createShards(ctx, false); err != nil {
		return err
	}
	t.Init()
	return nil
}

// createShards creates the shard databases and the shard tables that do
// not exist; replace drops those that exist first (they are empty: Plan
// refuses others).
func (r *splitRun) createShards(ctx context.Context, replace bool) error {
	s, f := r.s, r.facts
	for i, in := range s.instances {
		db := r.dsts[i]
		for _, li := range in.locs {
			l := s.locs[li]
			name := schema.QualifiedName(l.Database, l.Table)
			if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s",
				schema.QuoteIdent(l.Database), f.sourceDB.Charset, f.sourceDB.Collation)); err != nil {
				return in.targetErr("database "+schema.QuoteIdent(l.Database), fmt.Errorf("create: %w", err))
			}
			if replace && f.exists[li] {
				if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
					return in.targetErr("table "+name, fmt.Errorf("drop: %w", err))
				}
			}
			stmt := strings.Replace(s.createStatement(f, l), "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return in.targetErr("table "+name, fmt.Errorf("create: %w", err))
			}
		}
	}
	return nil
}

// freshStart creates the shard tables, cuts the key range into segments
// and records the run and its segments on every shard server.
func (r *splitRun) freshStart(ctx context.Context) error {
	s := r.s
	if err := r.createShards(ctx, true); err != nil {
		return err
	}
	segs, err := copyengine.CutSegments(ctx, r.src, r.table, s.cfg.threads, s.cfg.segmentRows)
	if err != nil {
		return s.sourceErr(s.sourceTable(), err)
	}
	r.table.Segments = segs
	cps := make([]checkpoint.Segment, len(segs))
	for i, sg := range segs {
		cps[i] = checkpoint.Segment{Table: s.table, Index: sg.Index, Lower: sg.Lower, Upper: sg.Upper}
	}
	for i, in := range s.instances {
		run := checkpoint.Run{Target: in.keyDB, Source: conn.Endpoint(s.source), SourceDB: s.database, Tables: s.pairs(in)}
		if err := inTx(ctx, r.dsts[i], func(tx *sql.Tx) error { return s.checkpoint.Start(ctx, tx, run, cps) }); err != nil {
			return in.targetErr("checkpoint", err)
		}
	}
	return nil
}

// inTx runs fn in a transaction on db and commits it.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// resume loads every shard server's segments and rewinds the servers that
// are ahead: for each segment, the server with the fewest chunks sets the
// point every server continues from (a segment's chunks are written in
// key order, so fewer chunks is an earlier last key); a server past it
// deletes its rows of the key range between that point and its own last
// key, in the transaction that sets its checkpoint back.
func (r *splitRun) resume(ctx context.Context) error {
	s := r.s
	key := func(string) (keyset.Key, bool) { return r.facts.key, true }
	perInstance := make([][]checkpoint.Segment, len(s.instances))
	for i, in := range s.instances {
		segs, err := s.checkpoint.LoadSegments(ctx, r.dsts[i], in.keyDB, key)
		if err != nil {
			return in.targetErr("checkpoint", err)
		}
		perInstance[i] = segs[s.table]
		if len(perInstance[i]) == 0 || len(perInstance[i]) != len(perInstance[0]) {
			return in.targetErr("checkpoint", fmt.Errorf("%w: its segments of %s do not match the other shard servers'", ErrRowsDiffer, schema.QuoteIdent(s.table)))
		}
	}
	for j := range perInstance[0] {
		least := perInstance[0][j]
		for _, segs := range perInstance[1:] {
			if segs[j].Chunks < least.Chunks {
				least = segs[j]
			}
		}
		seg := &copyengine.Segment{Index: least.Index, Lower: least.Lower, Upper: least.Upper, Last: least.Last, Chunks: least.Chunks, Done: least.Done}
		for i, in := range s.instances {
			sg := &perInstance[i][j]
			if sg.Chunks > least.Chunks {
				removed, err := r.rewind(ctx, i, seg, sg)
				if err != nil {
					return in.targetErr("checkpoint", err)
				}
				s.cfg.logger.Info("split rewinds a shard server that was ahead", "server", in.name, "segment", sg.Index, "chunks", sg.Chunks-least.Chunks, "rows", removed)
				sg.Rows -= removed
			}
			seg.Rows += sg.Rows
			seg.Bytes += sg.Bytes
		}
		r.table.Segments = append(r.table.Segments, seg)
	}
	return nil
}

// rewind deletes from instance i's shard tables the rows of segment seg
// past seg.Last up to sg.Last (its own, later, last key) and sets its
// checkpoint back to seg's, in one transaction; it returns the rows
// deleted.
func (r *splitRun) rewind(ctx context.Context, i int, seg *copyengine.Segment, sg *checkpoint.Segment) (int64, error) {
	s := r.s
	in := s.instances[i]
	where, args := r.facts.key.Where(keyset.Range{Lower: seg.From(), Upper: sg.Last})
	var removed int64
	err := inTx(ctx, r.dsts[i], func(tx *sql.Tx) error {
		for _, li := range in.locs {
			l := s.locs[li]
			res, err := tx.ExecContext(ctx, "DELETE FROM "+schema.QualifiedName(l.Database, l.Table)+" WHERE "+where, args...)
			if err != nil {
				return fmt.Errorf("table %s: %w", schema.QualifiedName(l.Database, l.Table), err)
			}
			n, _ := res.RowsAffected()
			removed += n
		}
		return s.checkpoint.Rewind(ctx, tx, in.keyDB, s.table, sg.Index, seg.Last, seg.Chunks, removed, seg.Done)
	})
	return removed, err
}

// emit reports progress, from one goroutine at a time, from counters that
// only grow.
func (r *splitRun) emit() {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.progress == nil || r.table == nil {
		return
	}
	t := r.table
	p := Progress{TablesTotal: 1, Elapsed: time.Since(r.started), Rows: t.Rows(), Bytes: t.Bytes(), RowsEstimate: max(t.Estimate, t.Rows()), Table: t.Name}
	if t.Done() {
		p.TablesDone, p.RowsEstimate, p.Table = 1, t.Rows(), ""
	}
	if secs := p.Elapsed.Seconds(); secs > 0 {
		p.RowsPerSecond = float64(p.Rows-t.StartRows()) / secs
		p.BytesPerSecond = float64(p.Bytes) / secs
	}
	p.Tables = []TableProgress{{Name: t.Name, Rows: p.Rows, Bytes: p.Bytes, RowsEstimate: p.RowsEstimate, Done: t.Done()}}
	r.progress(p)
}

// finishReport fills the report: one table, the source's, split into the
// shards its target name lists.
func (r *splitRun) finishReport() {
	r.report.Duration = time.Since(r.report.Started)
	if r.table == nil {
		return
	}
	t := r.table
	r.report.Tables = []TableReport{{Name: t.Name, TargetName: fmt.Sprintf("%d shards", len(r.s.locs)), Rows: t.Rows(), Done: t.Done(), Bytes: t.Bytes(), Chunks: t.Chunks()}}
	r.report.Rows, r.report.Bytes = t.Rows(), t.Bytes()
}

// incomplete wraps an error of a run that changed the shard servers.
func (r *splitRun) incomplete(err error) error {
	e := &IncompleteError{Op: fmt.Sprintf("split %s into %d shards", schema.QualifiedName(r.s.database, r.s.table), len(r.s.locs)), Err: err}
	switch {
	case errors.Is(err, ErrRowsDiffer):
		e.Remedy = "drop the shard tables and the split's checkpoint and run the split again to start over"
	default:
		e.Remedy = "run the same split again to continue from the last committed chunk"
	}
	if r.table != nil && r.table.Rows() > 0 {
		e.Partial = r.s.table
	}
	return e
}

// splitWriter routes each row of a chunk to its shard and writes a chunk
// as one transaction per shard server.
type splitWriter struct{ r *splitRun }

func (w *splitWriter) NewBatch() copyengine.Batch {
	r := w.r
	return &splitBatch{routing: shardroute.New(r.s.router, r.s.locs, r.facts.keyKind), skip: r.s.skip, selected: r.selected, routePos: r.routePos,
		bufs: make([][]byte, len(r.s.locs)), rows: make([]int, len(r.s.locs))}
}

func (w *splitWriter) Open(ctx context.Context, thread int) (copyengine.ThreadWriter, error) {
	r := w.r
	st := &splitThread{r: r, prefix: fmt.Sprintf("shiftgate-split-%d-%d-", r.runID, thread)}
	for i, in := range r.s.instances {
		c, err := r.dsts[i].Conn(ctx)
		if err != nil {
			st.Close()
			return nil, in.targetErr("database "+schema.QuoteIdent(in.keyDB), err)
		}
		st.conns = append(st.conns, c)
	}
	return st, nil
}

// splitBatch is a chunk's rows as LOAD DATA fields, by location.
type splitBatch struct {
	routing            *shardroute.Routing
	skip               []bool // Split.skip
	selected, routePos int
	bufs               [][]byte
	rows               []int
	n                  int
}

func (b *splitBatch) Reset(*copyengine.Table) {
	for i := range b.bufs {
		b.bufs[i], b.rows[i] = b.bufs[i][:0], 0
	}
	b.n = 0
}

func (b *splitBatch) Add(row []sql.RawBytes) error {
	i, err := b.routing.Route(row[b.routePos])
	if err != nil {
		return err
	}
	if b.skip != nil && b.skip[i] {
		return nil
	}
	buf := appendLoadRow(b.bufs[i], row[:b.selected])
	before := len(b.bufs[i])
	b.bufs[i] = buf
	b.rows[i]++
	b.n += len(buf) - before
	return nil
}

// appendLoadRow appends row as one line of LOAD DATA fields.
func appendLoadRow(buf []byte, row []sql.RawBytes) []byte {
	for c, v := range row {
		if c > 0 {
			buf = append(buf, '\t')
		}
		buf = rowcodec.AppendLoadField(buf, v)
	}
	return append(buf, '\n')
}

func (b *splitBatch) Len() int { return b.n }

func (b *splitBatch) Cap() int {
	n := 0
	for _, buf := range b.bufs {
		n += cap(buf)
	}
	return n
}

// splitThread writes one thread's chunks on a connection per shard
// server.
type splitThread struct {
	r      *splitRun
	conns  []*sql.Conn // by instance
	prefix string      // of the LOAD DATA reader handlers, + location index
}

func (w *splitThread) Close() {
	for i := range w.r.s.locs {
		mysql.DeregisterReaderHandler(w.prefix + strconv.Itoa(i))
	}
	for _, c := range w.conns {
		c.Close()
	}
}

// Write writes a chunk: on every shard server at once, one transaction
// holding the server's rows of the chunk and its checkpoint.
func (w *splitThread) Write(ctx context.Context, ch *copyengine.Chunk) error {
	b := ch.Batch.(*splitBatch)
	g, gctx := errgroup.WithContext(ctx)
	for i := range w.r.s.instances {
		g.Go(func() error { return w.writeInstance(gctx, i, ch, b) })
	}
	return g.Wait()
}

func (w *splitThread) writeInstance(ctx context.Context, i int, ch *copyengine.Chunk, b *splitBatch) error {
	r := w.r
	s, in := r.s, r.s.instances[i]
	tx, err := w.conns[i].BeginTx(ctx, nil)
	if err != nil {
		return in.targetErr("database "+schema.QuoteIdent(in.keyDB), err)
	}
	defer func() { _ = tx.Rollback() }()
	var rows, size int64
	for _, li := range in.locs {
		if b.rows[li] == 0 {
			continue
		}
		l := s.locs[li]
		object := "table " + schema.QualifiedName(l.Database, l.Table)
		handler := w.prefix + strconv.Itoa(li)
		data := b.bufs[li]
		mysql.RegisterReaderHandler(handler, func() io.Reader { return bytes.NewReader(data) })
		stmt, err := r.loads[li].SQL("Reader::" + handler)
		if err != nil {
			return in.targetErr(object, err)
		}
		res, err := tx.ExecContext(ctx, stmt)
		if err != nil {
			return in.targetErr(object, fmt.Errorf("LOAD DATA: %w", err))
		}
		if n, _ := res.RowsAffected(); n != int64(b.rows[li]) {
			return in.targetErr(object, fmt.Errorf("%d of %d rows of a chunk were written: the shard skipped rows (a duplicate key?)", n, b.rows[li]))
		}
		rows += int64(b.rows[li])
		size += int64(len(data))
	}
	if err := s.checkpoint.SaveChunk(ctx, tx, in.keyDB, s.table, ch.Segment.Index, ch.Last, rows, size, ch.Final); err != nil {
		return in.targetErr("checkpoint", err)
	}
	if err := tx.Commit(); err != nil {
		return in.targetErr("database "+schema.QuoteIdent(in.keyDB), fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Finish adds the deferred secondary indexes to every shard table and
// checks that every shard server's tables hold the rows its checkpoint
// counts.
func (w *splitThread) Finish(ctx context.Context, t *copyengine.Table) error {
	s := w.r.s
	for i, in := range s.instances {
		run, err := s.checkpoint.LoadRun(ctx, w.conns[i], in.keyDB)
		if err == nil && run == nil {
			err = fmt.Errorf("the run of the split: %w", ErrNotFound)
		}
		if err != nil {
			return in.targetErr("checkpoint", err)
		}
		var have int64
		for _, li := range in.locs {
			l := s.locs[li]
			if err := addDeferred(ctx, w.conns[i], s.cfg.logger, l.Database, l.Table, w.r.facts.deferred); err != nil {
				return in.targetErr("table "+schema.QualifiedName(l.Database, l.Table), err)
			}
			var n int64
			if err := w.conns[i].QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema.QualifiedName(l.Database, l.Table)).Scan(&n); err != nil {
				return in.targetErr("table "+schema.QualifiedName(l.Database, l.Table), err)
			}
			have += n
		}
		if want := run.Rows[s.table]; have != want {
			return in.targetErr("database "+schema.QuoteIdent(in.keyDB), fmt.Errorf("%w: its shards of %s hold %d rows but its checkpoints count %d: rows were written by someone else, or lost", ErrRowsDiffer, schema.QuoteIdent(t.Name), have, want))
		}
	}
	return nil
}
