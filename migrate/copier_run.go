package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// insertStatementBytes is where a chunk's INSERT is split into another
// statement: below the 256 KiB up to which the driver reuses its write
// buffer instead of allocating one per statement.
const insertStatementBytes = 240 << 10

// tableRun is the state of one table during Run.
type tableRun struct {
	ct         *copyTable
	estimate   int64
	segments   []*segment
	selectList string
	load       rowcodec.Load
	insertHead string
	kinds      []rowcodec.Kind
	keyPos     []int
	method     WriteMethod

	rows, bytes, chunks atomic.Int64 // committed, earlier runs included
	// readRows and readBytes are what readers encoded in this run, chunks
	// not yet written included: the row width that sizes the next chunks.
	readRows, readBytes atomic.Int64
	// avgEstimate is information_schema's average row length, 0 if unknown.
	avgEstimate int64
	startRows   int64        // committed before this run
	pending     atomic.Int32 // segments not done
	done        atomic.Bool

	mu    sync.Mutex
	sizer *keyset.Sizer
}

// limit is the row count of the next chunk: the sizer's (or the fixed
// size), or fewer when the rows are so wide that the chunk would pass the
// byte cap. A reader stops at the cap anyway, but the rows of the SELECT
// it does not take still cross the network, so the limit aims at 80% of
// it. Before any row of the table was read, the width is
// information_schema's estimate, and without one a first chunk probes
// with few rows.
func (t *tableRun) limit(fixed int, capBytes int64) int {
	t.mu.Lock()
	n := t.sizer.Size()
	t.mu.Unlock()
	if fixed > 0 {
		n = fixed
	}
	avg := t.avgEstimate
	if rows := t.readRows.Load(); rows > 0 {
		avg = t.readBytes.Load() / rows
	} else if avg == 0 {
		return min(n, 16)
	}
	return int(min(int64(n), max(1, capBytes*4/5/max(1, avg))))
}

func (t *tableRun) observe(rows int, took time.Duration) {
	t.mu.Lock()
	t.sizer.Observe(rows, took)
	t.mu.Unlock()
}

// chunk is a part of a segment read from the source and encoded for the
// target.
type chunk struct {
	seg   *segment
	data  []byte
	stmts []int // INSERT: end offset of each statement in data
	rows  int
	last  keyset.Values
	final bool // the segment ends with this chunk
	took  time.Duration
	// finalize: no rows; the table's segments are all done.
	finalize *tableRun
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
	rowRate  *rateLimiter
	byteRate *rateLimiter

	writer conn.Session // the target pool's session profile
	emitMu sync.Mutex
	runID  int64
}

var copierRuns atomic.Int64

// Run copies the data. See Executor for the contract, and Copier for how
// a copy that was interrupted continues.
func (c *Copier) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if !c.running.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("migrate: copier %s: %w", c.database, ErrRunning)
	}
	defer c.running.Store(false)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("migrate: copier %s: nothing changed: %w", c.database, err)
	}
	plan, facts, err := c.plan(ctx)
	if err != nil {
		return nil, err
	}
	r := &copierRun{
		c: c, plan: plan, facts: facts, progress: progress, started: time.Now(),
		report:   &Report{Scope: plan.Scope, Objects: plan.Objects, Started: time.Now(), WriteMethod: facts.method.String()},
		capBytes: c.chunkBytes(),
		rowRate:  newRateLimiter(c.cfg.rowsPerSecond),
		byteRate: newRateLimiter(c.cfg.bytesPerSecond),
		runID:    copierRuns.Add(1),
	}
	if bps := c.cfg.bytesPerSecond; bps > 0 {
		r.capBytes = min(r.capBytes, max(4<<10, int64(bps*c.cfg.chunkTime.Seconds())))
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
	for _, ct := range facts.tables {
		tr := &tableRun{ct: ct, estimate: ct.def.Rows}
		if ct.def.Rows > 0 {
			tr.avgEstimate = ct.def.DataLength / ct.def.Rows
		}
		var loadOK bool
		tr.selectList, tr.load, tr.insertHead, tr.kinds, tr.keyPos, loadOK = tableStatements(ct, target)
		tr.method = facts.method
		if !loadOK {
			tr.method = WriteInsert
			c.cfg.logger.Info("copier writes a table with INSERT: it has BIT or YEAR and AUTO_INCREMENT columns", "table", ct.def.Name)
		}
		tr.sizer = keyset.NewSizer(c.cfg.chunkTime, c.firstChunkRows(ct.def), minChunkRows, maxChunkRows)
		r.tables = append(r.tables, tr)
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
				tr.segments = append(tr.segments, resumeSegment(sg))
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
		if len(tr.segments) == 0 {
			return r.targetErr("checkpoint", fmt.Errorf("table %s has no segment in the checkpoint", schema.QuoteIdent(tr.ct.target)))
		}
		for _, s := range tr.segments {
			s.table = tr
			tr.rows.Add(s.rows)
			tr.bytes.Add(s.bytes)
			tr.chunks.Add(s.chunks)
			if !s.done {
				tr.pending.Add(1)
			}
		}
		tr.startRows = tr.rows.Load()
	}
	_, _ = conn.ExecContext(context.Background(), "USE "+cp)
	return nil
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
		segs, err := r.cutSegments(ctx, tr)
		if err != nil {
			return err
		}
		tr.segments = segs
	}
	run := checkpoint.Run{Target: target, Source: r.plan.Source, SourceDB: c.database, Tables: c.pairs(r.defs())}
	var segs []checkpoint.Segment
	for _, tr := range r.tables {
		for _, s := range tr.segments {
			segs = append(segs, checkpoint.Segment{Table: tr.ct.target, Index: s.index, Lower: s.lower, Upper: s.upper})
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

// cutSegments splits a table's key range at keyset.NextUpper boundaries
// every segmentRows rows (more when the table would have more than eight
// segments per thread).
func (r *copierRun) cutSegments(ctx context.Context, tr *tableRun) ([]*segment, error) {
	if tr.ct.keyless {
		return []*segment{{index: 0}}, nil
	}
	maxSegs := int64(8 * r.c.cfg.threads)
	step := max(int64(r.c.cfg.segmentRows), (tr.estimate+maxSegs-1)/maxSegs)
	var segs []*segment
	var lower keyset.Values
	for int64(len(segs)) < maxSegs-1 {
		upper, ok, err := tr.ct.key.NextUpper(ctx, r.src, r.c.database, tr.ct.def.Name, lower, int(step), "")
		if err != nil {
			return nil, r.sourceErr("table "+schema.QualifiedName(r.c.database, tr.ct.def.Name), err)
		}
		if !ok {
			break
		}
		segs = append(segs, &segment{index: len(segs), lower: lower, upper: upper})
		lower = upper
	}
	return append(segs, &segment{index: len(segs), lower: lower}), nil
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

// copyRows runs one reader and one writer goroutine per thread. A reader
// takes a segment, reads it chunk by chunk and hands each chunk to its
// writer through a channel of one; so every thread has at most three
// chunks in memory (being read, waiting, being written), and a segment's
// chunks commit in order.
func (r *copierRun) copyRows(ctx context.Context, readers []*sql.Conn) error {
	// Tables an earlier run finished are finalized again first (see
	// finalize); the segments left go out by the schedule.
	finished := make(chan *tableRun, len(r.tables))
	for _, tr := range r.tables {
		if tr.pending.Load() == 0 {
			finished <- tr
		}
	}
	close(finished)
	sched := newSchedule(r.tables)

	g, gctx := errgroup.WithContext(ctx)
	stopTicker := r.ticker(gctx)
	defer stopTicker()
	for i, reader := range readers {
		chunks := make(chan *chunk, 1)
		free := make(chan []byte, 3)
		g.Go(func() error {
			defer close(chunks)
			for t := range finished {
				select {
				case chunks <- &chunk{finalize: t}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			var seg *segment
			for {
				if seg = sched.next(seg); seg == nil {
					return nil
				}
				from := seg.from()
				for {
					var buf []byte
					select {
					case buf = <-free:
					default:
					}
					ch, err := r.read(gctx, reader, seg, from, buf)
					if err != nil {
						return err
					}
					select {
					case chunks <- ch:
					case <-gctx.Done():
						return gctx.Err()
					}
					if ch.final {
						break
					}
					from = ch.last
				}
			}
		})
		g.Go(func() error {
			conn, err := r.dst.Conn(gctx)
			if err != nil {
				return r.targetErr(r.targetDatabase(), err)
			}
			defer conn.Close()
			handler := fmt.Sprintf("shiftgate-copier-%d-%d", r.runID, i)
			defer mysql.DeregisterReaderHandler(handler)
			for ch := range chunks {
				if ch.finalize != nil {
					if err := r.finalize(gctx, conn, ch.finalize); err != nil {
						return err
					}
					continue
				}
				if err := r.write(gctx, conn, handler, ch); err != nil {
					return err
				}
				// Reuse the buffer unless one huge row made it outgrow the cap.
				if int64(cap(ch.data)) <= 2*r.capBytes {
					select {
					case free <- ch.data[:0]:
					default:
					}
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("canceled: %w", ctx.Err())
	}
	return err
}

// pace waits for the throttler and the rate limits before a chunk of
// table name is read.
func (r *copierRun) pace(ctx context.Context, name string) error {
	if th := r.c.cfg.throttler; th != nil {
		if err := th.Throttle(ctx, name); err != nil {
			return fmt.Errorf("table %s: throttler: %w", schema.QualifiedName(r.c.database, name), err)
		}
	}
	if err := r.rowRate.wait(ctx); err != nil {
		return err
	}
	return r.byteRate.wait(ctx)
}

// chunkQuery is the query that reads the chunk of seg after from, at most
// limit rows (0: a keyless table, read whole), and the limit it applies.
func (r *copierRun) chunkQuery(seg *segment, from keyset.Values) (query string, args []any, limit int) {
	c, t := r.c, seg.table
	name := t.ct.def.Name
	if t.ct.keyless {
		return fmt.Sprintf("SELECT %s FROM %s", t.selectList, schema.QualifiedName(c.database, name)), nil, 0
	}
	limit = t.limit(c.cfg.chunkRows, r.capBytes)
	// Under a rate limit a chunk is at most what the limit allows in one
	// chunk time, so that pacing is smooth rather than a burst and a pause.
	if c.cfg.rowsPerSecond > 0 {
		limit = min(limit, max(1, int(c.cfg.rowsPerSecond*c.cfg.chunkTime.Seconds())))
	}
	query, args = t.ct.key.ChunkQuery(c.database, name, t.selectList, keyset.Range{Lower: from, Upper: seg.upper}, limit)
	return query, args, limit
}

// read reads and encodes one chunk of seg after from.
func (r *copierRun) read(ctx context.Context, conn *sql.Conn, seg *segment, from keyset.Values, buf []byte) (*chunk, error) {
	c, t := r.c, seg.table
	name := t.ct.def.Name
	object := "table " + schema.QualifiedName(c.database, name)
	// readErr is the error of a failed read: the source table's.
	readErr := func(err error) error { return r.sourceErr(object, fmt.Errorf("read chunk: %w", err)) }
	if err := r.pace(ctx, name); err != nil {
		return nil, err
	}
	start := time.Now()
	query, args, limit := r.chunkQuery(seg, from)
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, readErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, readErr(err)
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if buf == nil {
		buf = make([]byte, 0, r.capBytes+r.capBytes/8)
	}
	ch := &chunk{seg: seg}
	lastKey := make([][]byte, len(t.keyPos))
	ncopied := len(t.kinds)
	insert := t.method == WriteInsert
	stmtStart := 0
	cut := false
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, readErr(err)
		}
		// Grow once to what the row can take at most (every byte escaped),
		// not by doubling through garbage when a row is wide.
		need := 16 + len(t.insertHead)
		for i := range ncopied {
			need += 2*len(raw[i]) + 12
		}
		buf = slices.Grow(buf, need)
		if insert {
			if len(buf) == stmtStart {
				buf = append(buf, t.insertHead...)
			} else {
				buf = append(buf, ',')
			}
			buf = append(buf, '(')
			for i := range ncopied {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = rowcodec.AppendLiteral(buf, t.kinds[i], raw[i])
			}
			buf = append(buf, ')')
			if len(buf)-stmtStart >= insertStatementBytes {
				stmtStart = len(buf)
				ch.stmts = append(ch.stmts, stmtStart)
			}
		} else {
			for i := range ncopied {
				if i > 0 {
					buf = append(buf, '\t')
				}
				buf = rowcodec.AppendLoadField(buf, raw[i])
			}
			buf = append(buf, '\n')
		}
		ch.rows++
		for i, p := range t.keyPos {
			lastKey[i] = append(lastKey[i][:0], raw[p]...)
		}
		if t.ct.keyless {
			if int64(ch.rows) > c.cfg.keylessMaxRows || int64(len(buf)) > r.capBytes {
				return nil, r.sourceErr(object,
					fmt.Errorf("%w, and it holds more than the %d rows (or %s) allowed in one chunk", schema.ErrNoKey, c.cfg.keylessMaxRows, formatBytes(r.capBytes)))
			}
		} else if int64(len(buf)) >= r.capBytes {
			cut = true
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(err)
	}
	if err := rows.Close(); err != nil {
		return nil, readErr(err)
	}
	if insert && len(buf) > stmtStart {
		ch.stmts = append(ch.stmts, len(buf))
	}
	t.readRows.Add(int64(ch.rows))
	t.readBytes.Add(int64(len(buf)))
	ch.data = buf
	ch.final = t.ct.keyless || !cut && ch.rows < limit
	if ch.rows > 0 && !t.ct.keyless {
		ch.last = make(keyset.Values, len(lastKey))
		for i, b := range lastKey {
			if ch.last[i], err = t.ct.key.Value(i, b); err != nil {
				return nil, readErr(err)
			}
		}
	} else {
		ch.last = from
	}
	ch.took = time.Since(start)
	return ch, nil
}

// write writes a chunk and its checkpoint in one transaction.
func (r *copierRun) write(ctx context.Context, conn *sql.Conn, handler string, ch *chunk) error {
	seg, t := ch.seg, ch.seg.table
	start := time.Now()
	object := "table " + schema.QualifiedName(r.c.cfg.targetDatabase, t.ct.target)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return r.targetErr(object, err)
	}
	defer func() { _ = tx.Rollback() }()
	if ch.rows > 0 {
		var written int64
		if t.method == WriteLoadData {
			mysql.RegisterReaderHandler(handler, func() io.Reader { return bytes.NewReader(ch.data) })
			stmt, err := t.load.SQL("Reader::" + handler)
			if err != nil {
				return r.targetErr(object, err)
			}
			res, err := tx.ExecContext(ctx, stmt)
			if err != nil {
				return r.targetErr(object, fmt.Errorf("LOAD DATA: %w", err))
			}
			written, _ = res.RowsAffected()
		} else {
			begin := 0
			for _, end := range ch.stmts {
				// The buffer is not touched until the statement returns.
				res, err := tx.ExecContext(ctx, unsafe.String(&ch.data[begin], end-begin))
				if err != nil {
					return r.targetErr(object, fmt.Errorf("INSERT: %w", err))
				}
				n, _ := res.RowsAffected()
				written += n
				begin = end
			}
		}
		if written != int64(ch.rows) {
			return r.targetErr(object, fmt.Errorf("%d of %d rows of a chunk were written: the target skipped rows (a duplicate key?)", written, ch.rows))
		}
	}
	if err := r.c.checkpoint.SaveChunk(ctx, tx, r.c.cfg.targetDatabase, t.ct.target, seg.index, ch.last, int64(ch.rows), int64(len(ch.data)), ch.final); err != nil {
		return r.targetErr("checkpoint", err)
	}
	if err := tx.Commit(); err != nil {
		return r.targetErr(object, fmt.Errorf("commit: %w", err))
	}
	seg.last, seg.done = ch.last, ch.final
	t.rows.Add(int64(ch.rows))
	t.bytes.Add(int64(len(ch.data)))
	t.chunks.Add(1)
	r.rowRate.done(int64(ch.rows))
	r.byteRate.done(int64(len(ch.data)))
	if r.c.cfg.chunkRows == 0 {
		t.observe(ch.rows, ch.took+time.Since(start))
	}
	if ch.final && t.pending.Add(-1) == 0 {
		return r.finalize(ctx, conn, t)
	}
	return nil
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
	for attempt := 0; len(t.ct.deferred) > 0; attempt++ {
		if err := r.awaitAlter(ctx, conn, name); err != nil {
			return r.targetErr(object, err)
		}
		missing, err := missingClauses(ctx, conn, target, t.ct)
		if err != nil {
			return r.targetErr(object, err)
		}
		if len(missing) == 0 {
			break
		}
		start := time.Now()
		_, err = conn.ExecContext(ctx, addClauses(name, missing))
		if err == nil {
			r.c.cfg.logger.Info("copier added deferred indexes and foreign keys", "table", t.ct.target, "clauses", len(missing), "took", time.Since(start))
			break
		}
		// Another connection added some of them in the meantime: look again.
		if attempt == 0 && isDuplicateName(err) {
			continue
		}
		return r.targetErr(object, fmt.Errorf("add deferred indexes and foreign keys: %w", err))
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&n); err != nil {
		return r.targetErr(object, err)
	}
	if want := t.rows.Load(); n != want {
		return r.targetErr(object, fmt.Errorf("%w: it holds %d rows but its checkpoints count %d: rows were written by someone else, or lost; the copy is not done", ErrRowsDiffer, n, want))
	}
	t.done.Store(true)
	r.emit()
	return nil
}

// alterPollInterval is how often awaitAlter looks at the process list.
const alterPollInterval = 200 * time.Millisecond

// awaitAlter waits until no other connection on the target runs an ALTER
// TABLE of table (quoted, qualified) as a copy writes it: one a killed run
// left running. The server finishes such a statement although its client
// is gone; starting another would queue behind it and then fail.
func (r *copierRun) awaitAlter(ctx context.Context, conn *sql.Conn, table string) error {
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
			r.c.cfg.logger.Info("copier waits for an ALTER TABLE an earlier run left running on the target", "table", table, "connection", id.Int64)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the ALTER TABLE of connection %d: %w", id.Int64, ctx.Err())
		case <-time.After(alterPollInterval):
		}
	}
}

// missingClauses returns the deferred clauses of ct that the target table
// lacks.
func missingClauses(ctx context.Context, conn *sql.Conn, target string, ct *copyTable) ([]deferredClause, error) {
	rows, err := conn.QueryContext(ctx, "SELECT DISTINCT INDEX_NAME, 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? "+
		"UNION ALL SELECT CONSTRAINT_NAME, 1 FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
		target, ct.target, target, ct.target)
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
	for _, dc := range ct.deferred {
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

// ticker emits progress every progress interval until stop is called.
func (r *copierRun) ticker(ctx context.Context) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(r.c.cfg.progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				r.emit()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// snapshot builds a progress report from the tables' counters.
func (r *copierRun) snapshot() Progress {
	now := time.Now()
	p := Progress{TablesTotal: len(r.tables), Elapsed: now.Sub(r.started)}
	var startRows int64
	secs := p.Elapsed.Seconds()
	for _, t := range r.tables {
		rows, bytes := t.rows.Load(), t.bytes.Load()
		tp := TableProgress{Name: t.ct.def.Name, Rows: rows, Bytes: bytes, RowsEstimate: max(t.estimate, rows), Done: t.done.Load()}
		if tp.Done {
			p.TablesDone++
			tp.RowsEstimate = rows
		} else if rows > t.startRows && p.Rows == 0 && p.Table == "" {
			p.Table = tp.Name
		}
		if !tp.Done && secs >= 1 && rows > t.startRows {
			tp.ETA = time.Duration(float64(tp.RowsEstimate-rows) / (float64(rows-t.startRows) / secs) * float64(time.Second))
		}
		p.Rows += rows
		p.Bytes += bytes
		p.RowsEstimate += tp.RowsEstimate
		p.BytesEstimate += t.ct.def.DataLength
		startRows += t.startRows
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
		tr := TableReport{Name: t.ct.def.Name, TargetName: t.ct.target, Rows: t.rows.Load(), Done: t.done.Load(), Bytes: t.bytes.Load(), Chunks: t.chunks.Load()}
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
		case t.done.Load() || t.pending.Load() == 0: // every row is in; its indexes or check may not be
			e.Done = append(e.Done, t.ct.target)
		case t.rows.Load() > 0:
			partial = append(partial, t.ct.target)
		}
	}
	e.Partial = strings.Join(partial, ", ")
	return e
}
