package verify

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

// Verifier compares tables of a source with tables of a target. It is safe
// for concurrent use; each Verify call has its own connections.
type Verifier struct {
	src, dst *sql.DB
	cfg      config
	hashes   hashProbe
}

// New returns a Verifier reading source and target, which may be the same
// pool (one server). The pools' own connections are left as they were:
// Verify takes connections of its own from them, pins their time zone to
// +00:00 (so TIMESTAMP values compare as instants) and closes them after.
func New(source, target *sql.DB, opts ...Option) (*Verifier, error) {
	if source == nil || target == nil {
		return nil, errors.New("verify: nil source or target")
	}
	v := &Verifier{src: source, dst: target, cfg: defaultConfig()}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("verify: nil option")
		}
		if err := o(&v.cfg); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	if v.cfg.snapshot != SnapshotNone && v.cfg.recheck > 0 {
		return nil, errors.New("verify: WithSnapshot and WithRecheck exclude each other: a snapshot does not change")
	}
	if (v.cfg.opened != nil || v.cfg.quiet != nil) && v.cfg.snapshot != SnapshotQuiesced {
		return nil, errors.New("verify: WithSnapshotOpened and WithQuietPoint need WithSnapshot(SnapshotQuiesced)")
	}
	return v, nil
}

// checksum is the row count and the XOR of the row hashes of one side of
// a range.
type checksum struct {
	rows int64
	sum  uint64
}

// chunk is one part of a table.
type chunk struct {
	run   *tableRun
	index int
	sp    span
	// width is the number of first-key-column values a bounded range chunk
	// covers (0 for other chunks).
	width    float64
	src, dst checksum
	seen     time.Time
}

// tableRun collects what Verify learns about one table.
type tableRun struct {
	t     *table
	limit int

	mu              sync.Mutex
	sizer           *keyset.Sizer
	rep             TableReport
	differing       []*chunk
	rangeRows       float64 // rows and width of the bounded range chunks done
	rangeWidth      float64
	diffs           map[int][]RowDiff // by chunk index, each in key order
	start, end      time.Time
	missing, extra  atomic.Int64
	changed, sample atomic.Int64
}

func (tr *tableRun) size() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.sizer.Size()
}

// density is the source rows per value of the first key column seen so
// far in range chunks, or est before any.
func (tr *tableRun) density(est float64) float64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.rangeWidth == 0 {
		return est
	}
	return max(tr.rangeRows, 1) / tr.rangeWidth
}

func (tr *tableRun) done(c *chunk, took time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if size := tr.sizer.Size(); c.src.rows > 0 {
		// Scale the time to a chunk of the planned size: range chunks
		// rarely hold exactly that many rows.
		tr.sizer.Observe(size, time.Duration(float64(took)*float64(size)/float64(c.src.rows)))
	}
	if c.width > 0 {
		tr.rangeRows += float64(c.src.rows)
		tr.rangeWidth += c.width
	}
	tr.rep.Chunks++
	tr.rep.Rows += c.src.rows
	tr.rep.TargetRows += c.dst.rows
	if c.src != c.dst {
		tr.differing = append(tr.differing, c)
	}
	tr.end = time.Now()
}

// record adds one differing row; it keeps it if the sample has room.
func (tr *tableRun) record(index int, d RowDiff) {
	switch d.Kind {
	case Missing:
		tr.missing.Add(1)
	case Extra:
		tr.extra.Add(1)
	default:
		tr.changed.Add(1)
	}
	if tr.sample.Add(1) > int64(tr.limit) {
		return
	}
	tr.mu.Lock()
	tr.diffs[index] = append(tr.diffs[index], d)
	tr.mu.Unlock()
}

// VerifyDatabase compares every base table of sourceDatabase with the
// table of the same name in targetDatabase (see DatabasePairs and Verify),
// and names the target's tables that are not on the source in
// Report.TargetOnly.
func (v *Verifier) VerifyDatabase(ctx context.Context, sourceDatabase, targetDatabase string) (*Report, error) {
	pairs, err := DatabasePairs(ctx, v.src, sourceDatabase, targetDatabase)
	if err != nil {
		return nil, err
	}
	only, err := TargetOnlyTables(ctx, v.dst, targetDatabase, pairs)
	if err != nil {
		return nil, err
	}
	rep, err := v.Verify(ctx, pairs...)
	if err != nil {
		return nil, err
	}
	rep.TargetOnly = only
	return rep, nil
}

// Verify compares each pair and reports every difference, or an error if
// reading fails. Differences are not an error: see Report.Clean. A pair
// that cannot be compared as the tables are defined (a table missing or a
// view, no row key, a column on one side only, key columns ordered
// differently: the sentinel errors) is listed in Report.Unverified with
// the reason, checked for all pairs before reading any row, and the others
// are compared. Compared columns defined differently on the two sides
// (varchar(45) against varchar(100)) are listed in TableReport.ColumnDiffs.
// A pair whose target is its source table (one server, identified by its
// server uuid or by server id, hostname, port and data directory however
// the pools reach it, and the same database and table) is refused with an
// error wrapping ErrSameTable before anything is read.
//
// Each table is cut into chunks by its row key on the source (ranges of an
// integer leading key column, else keys read with keyset.NextUpper; see
// WithExactChunks), sized by time with keyset.Sizer; both sides use the
// same chunks. The chunks are checksummed on both sides in parallel: the
// row count and the XOR of row hashes (a CRC times a prime; a change of
// a chunk is missed with a probability of about 2^-32) computed by the
// servers over an unambiguous row encoding (see the comment on encodeRow).
// The CRC is CRC32C() when both servers have it (MariaDB 10.8 and later),
// else CRC32() (MySQL, older MariaDB), probed once per Verifier and
// server; a server with neither is an error naming it. A chunk
// that differs is split and checksummed again down to the leaf size (2,000
// rows), whose rows are read from both sides in key order and merged to
// find the missing, extra and changed rows, one row per side in memory at
// a time. Memory is bounded by the sample limit, whatever the table sizes.
//
// Connections: Verify takes its own (parallelism + 1 on the source,
// parallelism on the target), and closes them when it returns.
func (v *Verifier) Verify(ctx context.Context, pairs ...TablePair) (*Report, error) {
	if len(pairs) == 0 {
		return nil, errors.New("verify: no table pair given")
	}
	begin := time.Now()
	rep := &Report{Snapshot: v.cfg.snapshot.String(), Started: begin.UTC()}
	runs, err := v.prepareRuns(ctx, rep, pairs)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		rep.Duration = time.Since(begin)
		return rep, nil
	}

	src, dst, err := v.open(ctx, v.cfg.parallel)
	if err != nil {
		return nil, err
	}
	defer src.close()
	defer dst.close()
	if v.cfg.opened != nil {
		v.cfg.opened()
	}

	// Pass 0: compare the tables small enough whole; those that differ
	// join the larger ones in pass 1.
	chunked, err := v.compareWhole(ctx, src, dst, runs)
	if err != nil {
		return nil, err
	}
	// Pass 1: checksum every chunk.
	if err := v.checksumChunks(ctx, src, dst, chunked); err != nil {
		return nil, err
	}
	// Pass 2: look into the chunks that differ.
	if err := v.examineDiffering(ctx, src, dst, runs); err != nil {
		return nil, err
	}
	v.finishReport(rep, runs, begin)
	return rep, nil
}

// prepareRuns checks the pairs and readies those that can be compared,
// before any row is read. It names both servers in rep and lists in
// rep.Unverified (and logs) the pairs that cannot be compared as they are
// defined; a pair whose target is its source table is an error wrapping
// ErrSameTable. The runs returned have their target's triggers read;
// there are none when no pair can be compared.
func (v *Verifier) prepareRuns(ctx context.Context, rep *Report, pairs []TablePair) ([]*tableRun, error) {
	srcID, dstID, err := v.identify(ctx)
	if err != nil {
		return nil, err
	}
	rep.Source = fmt.Sprintf("%s:%d", srcID.Hostname, srcID.Port)
	rep.Target = fmt.Sprintf("%s:%d", dstID.Hostname, dstID.Port)
	for _, p := range pairs {
		if err := sameTable(srcID, dstID, p.withDefaults()); err != nil {
			return nil, err
		}
	}
	tables, skipped, err := prepareAll(ctx, v.src, v.dst, pairs, v.cfg.tolerance)
	if err != nil {
		return nil, err
	}
	rep.Unverified = skipped
	for _, u := range skipped {
		v.cfg.logger.Info("verify: table not compared", "source", u.SourceDatabase+"."+u.SourceTable,
			"target", u.TargetDatabase+"."+u.TargetTable, "side", u.Side, "reason", u.Reason)
	}
	if len(tables) == 0 {
		return nil, nil
	}
	h, err := v.hashes.choose(ctx, &v.cfg, server{v.src, "source, " + srcID.String()}, server{v.dst, "target, " + dstID.String()})
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		t.hash = h
	}
	if err := v.readTargetTriggers(ctx, tables); err != nil {
		return nil, err
	}
	runs := make([]*tableRun, len(tables))
	for i, t := range tables {
		runs[i] = &tableRun{t: t, limit: v.cfg.sampleLimit, diffs: map[int][]RowDiff{},
			sizer: keyset.NewSizer(v.cfg.chunkTime, v.cfg.chunkRows[0], v.cfg.chunkRows[1], v.cfg.chunkRows[2])}
	}
	return runs, nil
}

// checksumChunks cuts the tables of chunked into chunks on the source's
// boundary reader (its last connection) and checksums them on both sides
// with one worker per other connection pair. Each chunk is recorded in
// its tableRun, those that differ in tableRun.differing. The first error
// stops every worker and is returned.
func (v *Verifier) checksumChunks(ctx context.Context, src, dst *side, chunked []*tableRun) error {
	n := v.cfg.parallel
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan *chunk, n)
	g.Go(func() error {
		defer close(jobs)
		boundaries := src.conns[n]
		for _, tr := range chunked {
			if err := v.produce(gctx, boundaries, tr, jobs); err != nil {
				return err
			}
		}
		return nil
	})
	for w := range n {
		g.Go(func() error { return v.checksumEach(gctx, src.conns[w], dst.conns[w], jobs) })
	}
	return g.Wait()
}

// checksumEach checksums the chunks of jobs on the source connection sc
// and the target connection dc until jobs is closed, and records each in
// its tableRun (see tableRun.done).
func (v *Verifier) checksumEach(ctx context.Context, sc, dc *sql.Conn, jobs <-chan *chunk) error {
	for c := range jobs {
		start := time.Now()
		if err := c.run.t.checksum(ctx, sc, dc, c); err != nil {
			return err
		}
		c.seen = time.Now()
		c.run.done(c, time.Since(start))
		v.cfg.logger.Debug("verify: chunk", "table", c.run.t.srcName, "chunk", c.index,
			"rows", c.src.rows, "target_rows", c.dst.rows, "equal", c.src == c.dst, "took", time.Since(start))
	}
	return nil
}

// examineDiffering looks into every chunk of runs whose checksums
// differ (see examine), with one worker per connection pair. The first
// error stops every worker and is returned.
func (v *Verifier) examineDiffering(ctx context.Context, src, dst *side, runs []*tableRun) error {
	var differing []*chunk
	for _, tr := range runs {
		differing = append(differing, tr.differing...)
	}
	if len(differing) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	queue := make(chan *chunk)
	g.Go(func() error {
		defer close(queue)
		for _, c := range differing {
			select {
			case queue <- c:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for w := range v.cfg.parallel {
		g.Go(func() error {
			sc, dc := src.conns[w], dst.conns[w]
			for c := range queue {
				if err := v.examine(gctx, sc, dc, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// finishReport adds each table's report to rep in the order of runs,
// sets rep's duration since begin and logs each table's outcome.
func (v *Verifier) finishReport(rep *Report, runs []*tableRun, begin time.Time) {
	for _, tr := range runs {
		rep.Tables = append(rep.Tables, tr.report())
	}
	rep.Duration = time.Since(begin)
	rep.batchRows = v.cfg.batchRows
	for _, t := range rep.Tables {
		v.cfg.logger.Info("verify: table", "source", t.SourceDatabase+"."+t.SourceTable, "target", t.TargetDatabase+"."+t.TargetTable,
			"rows", t.Rows, "chunks", t.Chunks, "differences", t.Differences(), "took", t.Duration)
	}
}

// identify reads the identities of both servers.
func (v *Verifier) identify(ctx context.Context) (src, dst conn.Identity, err error) {
	if src, err = conn.Identify(ctx, v.src); err != nil {
		return src, dst, fmt.Errorf("verify: source: %w", err)
	}
	if dst, err = conn.Identify(ctx, v.dst); err != nil {
		return src, dst, fmt.Errorf("verify: target: %w", err)
	}
	return src, dst, nil
}

// sameTable returns an error wrapping ErrSameTable if p's target table is
// its source table: one server (whatever the DSNs call it) and the same
// database and table, compared case-insensitively (as the server may).
func sameTable(src, dst conn.Identity, p TablePair) error {
	if src.Same(dst) && strings.EqualFold(p.SourceDatabase, p.TargetDatabase) && strings.EqualFold(p.SourceTable, p.TargetTable) {
		return &TableError{Side: "target", Database: p.TargetDatabase, Table: p.TargetTable,
			Err: fmt.Errorf("is the source table itself, on %s: comparing it with itself proves nothing and a repair would write to the source: %w", src, ErrSameTable)}
	}
	return nil
}

// readTargetTriggers reads the triggers of the target tables.
func (v *Verifier) readTargetTriggers(ctx context.Context, tables []*table) error {
	byDB := map[string]map[string][]Trigger{}
	for _, t := range tables {
		db := t.pair.TargetDatabase
		if _, ok := byDB[db]; !ok {
			trs, err := readTriggers(ctx, v.dst, db)
			if err != nil {
				return fmt.Errorf("verify: target: %w", err)
			}
			byDB[db] = trs
		}
		t.triggers = byDB[db][strings.ToLower(t.pair.TargetTable)]
	}
	return nil
}

// compareWhole checksums each table of at most wholeRows estimated rows
// whole, n at a time, and returns the tables still to compare in chunks:
// the larger ones and those that differ.
func (v *Verifier) compareWhole(ctx context.Context, src, dst *side, runs []*tableRun) ([]*tableRun, error) {
	var whole, chunked []*tableRun
	for _, tr := range runs {
		if tr.t.estimate <= v.cfg.wholeRows {
			whole = append(whole, tr)
		} else {
			chunked = append(chunked, tr)
		}
	}
	if len(whole) == 0 {
		return chunked, nil
	}
	// The largest first, so that the last to finish are small.
	slices.SortStableFunc(whole, func(a, b *tableRun) int { return cmp.Compare(b.t.estimate, a.t.estimate) })
	differ := make([]bool, len(whole))
	next := make(chan int, len(whole))
	for i := range whole {
		next <- i
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	for w := range min(v.cfg.parallel, len(whole)) {
		g.Go(func() error {
			sc, dc := src.conns[w], dst.conns[w]
			for i := range next {
				tr := whole[i]
				tr.mu.Lock()
				tr.start = time.Now()
				tr.mu.Unlock()
				c := &chunk{run: tr} // no range: the whole table
				if err := tr.t.checksum(gctx, sc, dc, c); err != nil {
					return err
				}
				took := time.Since(tr.start)
				v.cfg.logger.Debug("verify: whole table", "table", tr.t.srcName, "rows", c.src.rows, "target_rows", c.dst.rows,
					"equal", c.src == c.dst, "took", took)
				if c.src != c.dst {
					differ[i] = true
					continue
				}
				c.seen = time.Now()
				tr.done(c, took)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, tr := range whole {
		if differ[i] {
			chunked = append(chunked, tr)
		}
	}
	return chunked, nil
}

// produce cuts a table into chunks on the source and queues them.
func (v *Verifier) produce(ctx context.Context, conn *sql.Conn, tr *tableRun, jobs chan<- *chunk) error {
	t := tr.t
	tr.mu.Lock()
	if tr.start.IsZero() { // else compareWhole started the table
		tr.start = time.Now()
		tr.end = tr.start
	}
	tr.mu.Unlock()
	var spent time.Duration
	defer func() {
		v.cfg.logger.Debug("verify: chunk boundaries", "table", t.srcName, "took", spent)
	}()
	send := func(c *chunk) error {
		select {
		case jobs <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if t.intLead && !v.cfg.exactChunks {
		return v.produceRanges(ctx, conn, tr, send)
	}
	var lower keyset.Values
	for i := 0; ; i++ {
		start := time.Now()
		upper, ok, err := t.key.NextUpperIn(ctx, conn, t.pair.SourceDatabase, t.pair.SourceTable, keyset.Range{Lower: lower}, tr.size(), t.where)
		spent += time.Since(start)
		if err != nil {
			return &TableError{Side: "source", Database: t.pair.SourceDatabase, Table: t.pair.SourceTable, Err: err}
		}
		c := &chunk{run: tr, index: i, sp: span{r: keyset.Range{Lower: lower}}}
		if ok {
			c.sp.r.Upper = upper
		}
		if err := send(c); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		lower = upper
	}
}

// produceRanges chunks a table whose first key column is an integer by
// ranges of that column's values, (lo, hi], sized from the number of rows
// per value seen so far: no boundary has to be read. The first chunk has
// no lower bound and the last no upper bound, so rows the target has
// beyond the source's keys are compared too.
func (v *Verifier) produceRanges(ctx context.Context, conn *sql.Conn, tr *tableRun, send func(*chunk) error) error {
	t := tr.t
	col := schema.QuoteIdent(t.key.Columns[0])
	lo, hi, err := t.leadBounds(ctx, conn, col)
	if err != nil {
		return err
	}
	if lo == nil {
		return send(&chunk{run: tr}) // empty source: one chunk, the whole table
	}
	spanF, _ := new(big.Float).SetInt(new(big.Int).Sub(hi, lo)).Float64()
	est, ok, err := tr.firstDensity(ctx, conn, lo)
	if err != nil {
		return err
	}
	if !ok {
		return send(&chunk{run: tr}) // a small table: one chunk
	}
	cur := new(big.Int).Sub(lo, big.NewInt(1)) // the first chunk is open below
	for i := 0; ; i++ {
		size := tr.size()
		step := bigFromFloat(max(1, min(float64(size)/tr.density(est), spanF+1)))
		if err := t.narrowStep(ctx, conn, col, cur, hi, step, size); err != nil {
			return err
		}
		next := new(big.Int).Add(cur, step)
		c := &chunk{run: tr, index: i}
		switch {
		case next.Cmp(hi) >= 0 && i == 0:
			// One chunk covers everything: the whole table.
		case next.Cmp(hi) >= 0:
			c.sp.base, c.sp.baseArgs = col+" > ?", []any{intArg(cur)}
		case i == 0:
			c.sp.base, c.sp.baseArgs = col+" <= ?", []any{intArg(next)}
		default:
			c.sp.base, c.sp.baseArgs = col+" > ? AND "+col+" <= ?", []any{intArg(cur), intArg(next)}
			c.width, _ = new(big.Float).SetInt(step).Float64()
		}
		if err := send(c); err != nil {
			return err
		}
		if next.Cmp(hi) >= 0 {
			return nil
		}
		cur = next
	}
}

// leadBounds reads on the source connection conn the smallest and the
// largest value of the integer leading key column col (quoted); both are
// nil when the source table is empty. Errors name the source table.
func (t *table) leadBounds(ctx context.Context, conn *sql.Conn, col string) (lo, hi *big.Int, err error) {
	var minS, maxS sql.NullString
	err = conn.QueryRowContext(ctx, "SELECT CONCAT(MIN("+col+")), CONCAT(MAX("+col+")) FROM "+t.srcName).Scan(&minS, &maxS)
	if err != nil {
		return nil, nil, t.pair.sourceErr(fmt.Errorf("key bounds: %w", err))
	}
	if !minS.Valid {
		return nil, nil, nil
	}
	lo, ok1 := new(big.Int).SetString(minS.String, 10)
	hi, ok2 := new(big.Int).SetString(maxS.String, 10)
	if !ok1 || !ok2 {
		return nil, nil, t.pair.sourceErr(fmt.Errorf("key bounds %q and %q are not integers", minS.String, maxS.String))
	}
	return lo, hi, nil
}

// firstDensity calibrates the rows per value of the leading key column,
// whose smallest value is lo, on the first chunk's worth of rows: the key
// of the size-th row, found by one short index scan on the source
// connection conn. ok is false when the table holds fewer rows: one
// chunk covers it. Errors name the source table.
func (tr *tableRun) firstDensity(ctx context.Context, conn *sql.Conn, lo *big.Int) (rowsPerValue float64, ok bool, err error) {
	t := tr.t
	probe, ok, err := t.key.NextUpperIn(ctx, conn, t.pair.SourceDatabase, t.pair.SourceTable, keyset.Range{}, tr.size(), "")
	if err != nil {
		return 0, false, t.pair.sourceErr(err)
	}
	if !ok {
		return 0, false, nil
	}
	at, okAt := new(big.Int).SetString(fmt.Sprint(asText(probe[0])), 10)
	if !okAt {
		return 0, false, t.pair.sourceErr(fmt.Errorf("key %v is not an integer", probe[0]))
	}
	width, _ := new(big.Float).SetInt(new(big.Int).Sub(at, lo)).Float64()
	return float64(tr.size()) / (width + 1), true, nil
}

// narrowStep halves step in place, at most 64 times and never below 1,
// while the optimizer estimates (index dives, no scan) that the range
// (cur, min(cur+step, hi)] of the leading key column col holds more than
// twice size rows: keys can be spread unevenly. Errors name the source
// table.
func (t *table) narrowStep(ctx context.Context, conn *sql.Conn, col string, cur, hi, step *big.Int, size int) error {
	for tries := 0; tries < 64 && step.Cmp(big.NewInt(1)) > 0; tries++ {
		end := new(big.Int).Add(cur, step)
		if end.Cmp(hi) > 0 {
			end = hi
		}
		rows, err := estimateRows(ctx, conn, t, col, cur, end)
		if err != nil {
			return t.pair.sourceErr(err)
		}
		if rows <= 2*float64(size) {
			return nil
		}
		step.Rsh(step, 1)
	}
	return nil
}

// estimateRows is the optimizer's estimate of the rows with col in (lo, hi]:
// EXPLAIN's rows, from index dives.
func estimateRows(ctx context.Context, conn *sql.Conn, t *table, col string, lo, hi *big.Int) (float64, error) {
	// The bounds are integers the server gave: safe to write inline.
	rows, err := conn.QueryContext(ctx, "EXPLAIN SELECT 1 FROM "+t.srcName+" WHERE "+col+" > "+lo.String()+" AND "+col+" <= "+hi.String())
	if err != nil {
		return 0, fmt.Errorf("estimate chunk rows: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("estimate chunk rows: %w", err)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var est float64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("estimate chunk rows: %w", err)
		}
		for i, c := range cols {
			if strings.EqualFold(c, "rows") && vals[i].Valid {
				if n, err := strconv.ParseFloat(vals[i].String, 64); err == nil {
					est = max(est, n)
				}
			}
		}
	}
	return est, rows.Err()
}

// asText turns a value scanned into an any (bytes in the text protocol)
// into something fmt prints as its text.
func asText(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

func bigFromFloat(f float64) *big.Int {
	b, _ := big.NewFloat(f).Int(nil)
	if b.Sign() <= 0 {
		return big.NewInt(1)
	}
	return b
}

// intArg passes an integer to the driver as int64 or, above its range,
// uint64 (BIGINT UNSIGNED).
func intArg(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	if b.IsUint64() {
		return b.Uint64()
	}
	return b.String()
}

// examine settles a differing chunk: rechecks it after the delay if asked,
// then finds its differing rows.
func (v *Verifier) examine(ctx context.Context, sc, dc *sql.Conn, c *chunk) error {
	tr := c.run
	for a := 0; a < v.cfg.attempts; a++ {
		if err := v.cfg.wait(ctx, time.Until(c.seen.Add(v.cfg.recheck))); err != nil {
			return err
		}
		if err := tr.t.checksum(ctx, sc, dc, c); err != nil {
			return err
		}
		c.seen = time.Now()
		if c.src == c.dst {
			tr.mu.Lock()
			tr.rep.Rechecked++
			tr.end = time.Now()
			tr.mu.Unlock()
			v.cfg.logger.Debug("verify: chunk equal on recheck", "table", tr.t.srcName, "chunk", c.index)
			return nil
		}
	}
	tr.mu.Lock()
	tr.rep.DifferingChunks++
	tr.mu.Unlock()
	d := differ{v: v, sc: sc, dc: dc, tr: tr, index: c.index}
	if v.cfg.recheck <= 0 {
		if err := d.diff(ctx, c.sp, c.src, c.dst); err != nil {
			return err
		}
	} else {
		// The chunk still differs: look at its differing rows once more
		// after the delay, and report only those that still differ. Up to
		// the sample limit are held for that; any beyond it are reported
		// as found.
		var held []RowDiff
		d.sink = func(r RowDiff) {
			if len(held) < v.cfg.sampleLimit {
				held = append(held, r)
			} else {
				tr.record(c.index, r)
			}
		}
		err := d.diff(ctx, c.sp, c.src, c.dst)
		d.sink = nil
		if err != nil {
			return err
		}
		if err := v.cfg.wait(ctx, v.cfg.recheck); err != nil {
			return err
		}
		still := 0
		d.sink = func(r RowDiff) {
			still++
			tr.record(c.index, r)
		}
		if err := d.recheckRows(ctx, held); err != nil {
			return err
		}
		tr.mu.Lock()
		tr.rep.SettledRows += int64(len(held) - still)
		tr.mu.Unlock()
	}
	tr.mu.Lock()
	tr.end = time.Now()
	tr.mu.Unlock()
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checksum computes both sides' checksums of c's range at the same time.
func (t *table) checksum(ctx context.Context, sc, dc *sql.Conn, c *chunk) error {
	var err error
	c.src, c.dst, err = t.checksumRange(ctx, sc, dc, c.sp)
	return err
}

func (t *table) checksumRange(ctx context.Context, sc, dc *sql.Conn, sp span) (s, d checksum, err error) {
	where, args := t.rangeWhere(sp)
	var wg sync.WaitGroup
	var derr error
	wg.Go(func() {
		q := "SELECT " + t.hashSQL(true) + " FROM " + t.dstName + " WHERE " + where
		if e := dc.QueryRowContext(ctx, q, args...).Scan(&d.rows, &d.sum); e != nil {
			derr = &TableError{Side: "target", Database: t.pair.TargetDatabase, Table: t.pair.TargetTable, Err: fmt.Errorf("checksum: %w", e)}
		}
	})
	q := "SELECT " + t.hashSQL(false) + " FROM " + t.srcName + " WHERE " + where
	if e := sc.QueryRowContext(ctx, q, args...).Scan(&s.rows, &s.sum); e != nil {
		err = &TableError{Side: "source", Database: t.pair.SourceDatabase, Table: t.pair.SourceTable, Err: fmt.Errorf("checksum: %w", e)}
	}
	wg.Wait()
	return s, d, errors.Join(err, derr)
}

// report builds the table's report.
func (tr *tableRun) report() *TableReport {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.rep
	p := tr.t.pair
	r.SourceDatabase, r.SourceTable, r.TargetDatabase, r.TargetTable = p.SourceDatabase, p.SourceTable, p.TargetDatabase, p.TargetTable
	r.Key = slices.Clone(tr.t.key.Columns)
	for _, c := range tr.t.cols {
		r.Columns = append(r.Columns, c.name)
	}
	r.Where = p.Where
	r.ColumnDiffs, r.TargetTriggers = tr.t.colDiffs, tr.t.triggers
	r.Missing, r.Extra, r.Changed = tr.missing.Load(), tr.extra.Load(), tr.changed.Load()
	r.Truncated = tr.sample.Load() > int64(tr.limit)
	indexes := make([]int, 0, len(tr.diffs))
	for i := range tr.diffs {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes {
		r.Diffs = append(r.Diffs, tr.diffs[i]...)
	}
	r.Duration = tr.end.Sub(tr.start)
	return &r
}

// side is the connections Verify reads one side with.
type side struct {
	conns []*sql.Conn
}

// snapshotMethods maps a Snapshot mode to how internal/snapshot aligns
// the readers.
var snapshotMethods = map[SnapshotMode]snapshot.Method{
	SnapshotNone:     snapshot.None,
	SnapshotQuiesced: snapshot.Quiesced,
	SnapshotLocked:   snapshot.FlushTables,
}

// open takes n connections per side (n+1 on the source: one reads chunk
// boundaries) with the reader session profile and, in snapshot mode,
// opens their snapshots at one point (internal/snapshot).
func (v *Verifier) open(ctx context.Context, n int) (src, dst *side, err error) {
	method := snapshotMethods[v.cfg.snapshot]
	session := conn.ReaderSession()
	snap, err := snapshot.Open(ctx, snapshot.Options{Method: method, ReadOnly: true, Quiet: v.cfg.quiet},
		snapshot.Group{DB: v.src, N: n + 1, Session: &session}, snapshot.Group{DB: v.dst, N: n, Session: &session})
	if err != nil {
		if ge, ok := errors.AsType[*snapshot.GroupError](err); ok {
			return nil, nil, fmt.Errorf("verify: %s: %w", [...]string{"source", "target"}[ge.Group], ge.Err)
		}
		return nil, nil, fmt.Errorf("verify: %w", err)
	}
	if method == snapshot.FlushTables {
		v.cfg.logger.Info("verify: snapshots open, both sides unlocked", "writes_blocked", snap.Blocked)
	}
	return &side{conns: snap.Readers[0]}, &side{conns: snap.Readers[1]}, nil
}

// close discards the side's connections, so that no session setting or
// open snapshot reaches another user of the pool.
func (s *side) close() {
	if s == nil {
		return
	}
	for _, c := range s.conns {
		conn.Discard(c)
	}
	s.conns = nil
}
