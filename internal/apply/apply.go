package apply

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// ErrDDL is wrapped by the error of a schema change the applier will not
// run: its table names would need rewriting for the target.
var ErrDDL = errors.New("schema change not applied")

// ErrSourceMismatch is wrapped by the error of a stream whose checkpoint
// was written from another source than WithSource names.
var ErrSourceMismatch = errors.New("stream checkpoint of another source")

// Option configures an Applier.
type Option func(*config) error

type config struct {
	tables        map[rowchange.Table]rowchange.Table
	dropColumns   bool
	replaceRows   bool
	noBinlog      bool
	source        string
	covered       func(stored, position string) (bool, error)
	logger        *slog.Logger
	posInterval   time.Duration
	flushBytes    int
	pendingBudget int
	groupTxns     int
	groupDelay    time.Duration
	groupBytes    int
	wholeBytes    int
}

// Defaults of WithGroupCommit. A group shares one COMMIT, one checkpoint
// save and, per table, a few multi-row statements. On transactions shaped
// as sysbench oltp_write_only's (BenchmarkApplySysbench, and
// BenchmarkCatchUp of package binlog with the stream), groups of 100 apply
// 4 to 5 times as fast as transactions committed alone; groups of 500
// were faster still in every apply-only run (by 5 to 30%), and level
// within the noise with the stream: the target's own row work dominates.
// 50 ms bounds how long a group waits for its commit under a steady load,
// small next to the second of lag a sync aims for (an idle stream flushes
// at once: rowchange.Flusher); a group discarded after an error is at
// most 500 transactions to deliver again.
const (
	DefaultGroupTxns  = 500
	DefaultGroupDelay = 50 * time.Millisecond
)

// groupBytes bounds the changes (rowchange.Change.Size) of one group, so
// that a group of large transactions stays a moderate target transaction.
const groupBytes = 8 << 20

// WithTables maps source tables to target tables (database and name);
// tables it does not name keep their name in the target database.
func WithTables(m map[rowchange.Table]rowchange.Table) Option {
	return func(c *config) error {
		for src, dst := range m {
			for _, n := range []struct{ kind, name string }{{"source database", src.Schema}, {"source table", src.Name}, {"target database", dst.Schema}, {"target table", dst.Name}} {
				if err := schema.ValidateName(n.kind, n.name); err != nil {
					return fmt.Errorf("apply: WithTables: %w", err)
				}
			}
		}
		c.tables = m
		return nil
	}
}

// WithDroppedColumns leaves out source columns the target table lacks,
// which are otherwise an error naming the table and the column.
func WithDroppedColumns() Option {
	return func(c *config) error { c.dropColumns = true; return nil }
}

// WithReplaceRows writes rows with REPLACE: a target row that collides
// with the row written on any unique key is deleted first. It is for a
// stream replayed onto a copy read after the stream's start (an online
// schema change's shadow table): a colliding row holds a later state than
// the row written, and a later change of the stream writes it again. By
// default a collision on a secondary unique key is an error.
func WithReplaceRows() Option {
	return func(c *config) error { c.replaceRows = true; return nil }
}

// WithoutBinlog writes with sql_log_bin=0: the target's replicas do not
// receive the changes. It needs BINLOG ADMIN (or SUPER). Default: logged.
func WithoutBinlog() Option {
	return func(c *config) error { c.noBinlog = true; return nil }
}

// WithSource names the stream's source (conn.Identity.String of the source
// server, say). It is saved with the position, and a stream saved from
// another source is refused with ErrSourceMismatch.
func WithSource(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("apply: WithSource: empty source name")
		}
		c.source = name
		return nil
	}
}

// WithCovered tells whether the stored position already includes the
// transaction at position (for the binlog: the stored GTID set contains
// the transaction's GTID), so that a redelivery of any applied transaction
// is skipped. Without it only the last applied transaction is recognised
// (same position or id).
func WithCovered(f func(stored, position string) (bool, error)) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("apply: WithCovered: nil function")
		}
		c.covered = f
		return nil
	}
}

// WithLogger logs through l; default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("apply: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithPositionInterval saves the position of transactions without changes
// at most every d (default 1s; 0: each one). Their redelivery after a
// crash is harmless; Flush saves the last one now.
func WithPositionInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("apply: WithPositionInterval: negative interval %s", d)
		}
		c.posInterval = d
		return nil
	}
}

// WithGroupCommit applies consecutive source transactions in one target
// transaction (a group) with the position of its last one, and commits the
// group once it holds maxTxns transactions or 8 MiB of changes, or once it
// is maxDelay old (checked as each transaction ends), before a DDL, and at
// Flush: a stream calls it whenever it has delivered all it has read
// (rowchange.Flusher), so that a lone transaction is committed at once.
// Apply returning nil then means applied, not yet committed. maxTxns 1 or
// maxDelay 0: each transaction commits alone, Apply returning nil means
// committed. Default: DefaultGroupTxns, DefaultGroupDelay.
func WithGroupCommit(maxTxns int, maxDelay time.Duration) Option {
	return func(c *config) error {
		if maxTxns < 1 || maxDelay < 0 {
			return fmt.Errorf("apply: WithGroupCommit: need at least 1 transaction and a delay of 0 or more, not %d and %s", maxTxns, maxDelay)
		}
		c.groupTxns, c.groupDelay = maxTxns, maxDelay
		return nil
	}
}

// Stats is the progress of an Applier since New. It counts what is
// committed: a transaction of an open group counts once the group commits.
type Stats struct {
	Txns    int64 // transactions committed (with changes or a DDL)
	Rows    int64 // row changes committed
	Skipped int64 // redelivered transactions skipped as already applied
	// RowsPerSecond is the rate over the last second or more.
	RowsPerSecond float64
	// Position and TxnID are those of the last transaction whose changes
	// are committed: the target holds everything up to Position. That is
	// the last transaction committed, or a later position-only transaction
	// passed while no group was open (its save may wait, see
	// WithPositionInterval).
	Position, TxnID string
	// SourceTime is when the source committed that transaction; zero when
	// unknown.
	SourceTime time.Time
}

// Behind is how far the target is behind the source at now: now minus
// SourceTime; 0 when unknown or ahead.
func (s Stats) Behind(now time.Time) time.Duration {
	if s.SourceTime.IsZero() || now.Before(s.SourceTime) {
		return 0
	}
	return now.Sub(s.SourceTime)
}

// Applier applies a change stream to a target server. Apply, Start, Flush
// and Close are called from one goroutine; Stats from any.
type Applier struct {
	db       *sql.DB
	store    *checkpoint.Store
	stream   string
	database string
	cfg      config
	session  conn.Session

	prepared bool
	// conn is the Applier's connection, autocommit off; nil: Start again
	// (after New or an error).
	conn *sql.Conn
	// have says cur holds a position: that of the last transaction
	// applied or passed. version is the stored version; pending says cur
	// is not saved yet (the last of the open group, or a position-only
	// transaction).
	have    bool
	cur     checkpoint.Stream
	version int64
	pending bool
	savedAt time.Time
	group   group

	tables map[rowchange.Table]*table // by source table
	defs   map[rowchange.Table]*schema.TableDef
	w      writer
	whole  []rowchange.Change // a transaction read whole before it is written

	mu        sync.Mutex
	stats     Stats
	rateStart time.Time
	rateRows  int64
}

// group is what the open target transaction holds: source transactions
// applied and not committed, cur the last of them.
type group struct {
	n     int // source transactions, position-only ones included
	txns  int64
	rows  int64
	bytes int
	start time.Time
}

// savepoint is set in a group before the first statement of each source
// transaction after the first (see writer.exec).
const savepoint = "shiftgate_txn"

var (
	_ rowchange.Sink    = (*Applier)(nil)
	_ rowchange.Flusher = (*Applier)(nil)
)

// New returns an Applier of the stream called name (the key of its
// checkpoint row) that writes through db to tables of database, its
// position kept in store on the same server. db's connections need no
// particular session: the Applier sets its own on a connection it keeps
// (UTC, strict sql_mode, foreign_key_checks=0, unique checks on, READ
// COMMITTED, sql_log_bin per WithoutBinlog).
func New(db *sql.DB, store *checkpoint.Store, name, database string, opts ...Option) (*Applier, error) {
	if db == nil || store == nil {
		return nil, errors.New("apply: nil database or checkpoint store")
	}
	if err := schema.ValidateName("stream", name); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	if err := schema.ValidateName("target database", database); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	cfg := config{logger: slog.New(slog.DiscardHandler), posInterval: time.Second, flushBytes: 1 << 20, pendingBudget: 8 << 20,
		groupTxns: DefaultGroupTxns, groupDelay: DefaultGroupDelay, groupBytes: groupBytes, wholeBytes: wholeBytes}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("apply: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Applier{
		db: db, store: store, stream: name, database: database, cfg: cfg,
		session: conn.WriterSession(conn.WriterOptions{Strict: true, NoBinlog: cfg.noBinlog}),
		tables:  map[rowchange.Table]*table{}, defs: map[rowchange.Table]*schema.TableDef{},
	}, nil
}

// Start prepares the checkpoint, opens the Applier's connection and
// returns where the stream stands, where the source resumes: the stored
// position (nil: none yet). On an Applier already started it first
// commits what it holds (Flush). Apply starts by itself when needed; after
// an error it starts again, reading the checkpoint anew.
func (a *Applier) Start(ctx context.Context) (*checkpoint.Stream, error) {
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	if err := a.Flush(ctx); err != nil {
		return nil, err
	}
	if !a.have {
		return nil, nil
	}
	st := a.cur
	st.Version = a.version
	return &st, nil
}

func (a *Applier) start(ctx context.Context) error {
	if a.conn != nil {
		return nil
	}
	if !a.prepared {
		if err := a.store.Prepare(ctx, a.db); err != nil {
			return fmt.Errorf("apply: stream %q: %w", a.stream, err)
		}
		a.prepared = true
	}
	c, err := a.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("apply: stream %q: %w", a.stream, err)
	}
	if err := a.session.Apply(ctx, c); err != nil {
		conn.Discard(c)
		return fmt.Errorf("apply: stream %q: %w", a.stream, err)
	}
	st, err := a.store.LoadStream(ctx, c, a.stream)
	if err != nil {
		conn.Discard(c)
		return fmt.Errorf("apply: %w", err)
	}
	if st != nil && a.cfg.source != "" && st.Source != "" && st.Source != a.cfg.source {
		conn.Discard(c)
		return fmt.Errorf("apply: stream %q was saved from %q, not %q: %w", a.stream, st.Source, a.cfg.source, ErrSourceMismatch)
	}
	// Without autocommit the first statement of a transaction begins it:
	// one round trip less than START TRANSACTION for each transaction.
	if _, err := c.ExecContext(ctx, "SET SESSION autocommit = 0"); err != nil {
		conn.Discard(c)
		return fmt.Errorf("apply: stream %q: %w", a.stream, err)
	}
	a.conn, a.have, a.pending, a.version, a.cur = c, st != nil, false, 0, checkpoint.Stream{}
	a.w.begin(a, c)
	if st != nil {
		a.cur, a.version = *st, st.Version
		a.setPosition(st.Position, st.TxnID, st.SourceTime)
	}
	a.cfg.logger.Info("apply: stream started", "stream", a.stream, "position", a.cur.Position, "version", a.version)
	return nil
}

// reset drops the connection and what it knew, after an error: the open
// group is rolled back, and the next call starts again from the
// checkpoint.
func (a *Applier) reset() {
	if a.conn != nil {
		conn.Discard(a.conn)
		a.conn = nil
	}
	a.w.reset()
	a.pending, a.group = false, group{}
}

// Close releases the Applier's connection. What is not committed (an open
// group, a position-only transaction not saved yet, see
// WithPositionInterval) is discarded: call Flush first to keep it.
func (a *Applier) Close() error {
	a.reset()
	return nil
}

// Apply applies tx (rowchange.Sink): its changes and its position in one
// target transaction, or nothing; under WithGroupCommit that transaction
// is the open group's, committed when the group is due or at Flush. A
// transaction already applied is read to its end and skipped.
//
// When tx.Changes.Next fails, Apply rolls back tx only and returns Next's
// error wrapped: the open group keeps the transactions before it. When it
// cannot (or on any other error) it discards the group and returns an
// error that does not wrap Next's.
func (a *Applier) Apply(ctx context.Context, tx rowchange.Txn) (err error) {
	if tx.Position == "" {
		return fmt.Errorf("apply: stream %q: transaction %q has no position", a.stream, tx.ID)
	}
	if tx.DDL != nil && tx.Changes != nil {
		return fmt.Errorf("apply: stream %q: transaction %q has both row changes and a DDL", a.stream, tx.ID)
	}
	if err := a.start(ctx); err != nil {
		return err
	}
	// keep: the error left the open group as it was.
	keep := false
	defer func() {
		if err != nil && !keep {
			a.reset()
		}
	}()
	done, err := a.applied(tx)
	if err != nil {
		return err
	}
	if done {
		a.cfg.logger.Debug("apply: skipped a transaction applied already", "stream", a.stream, "txn", tx.ID, "position", tx.Position)
		if tx.Changes != nil {
			if err := drain(ctx, tx.Changes); err != nil {
				keep = true
				return fmt.Errorf("apply: stream %q: transaction %s: read changes: %w", a.stream, txnName(tx), err)
			}
		}
		a.mu.Lock()
		a.stats.Skipped++
		a.mu.Unlock()
		return nil
	}
	switch {
	case tx.DDL != nil:
		// The statement commits implicitly: the group first, with its
		// position.
		if a.group.n > 0 {
			if err := a.save(ctx); err != nil {
				return err
			}
		}
		return a.applyDDL(ctx, tx)
	case tx.Changes == nil:
		a.setCur(tx)
		if a.group.n > 0 {
			a.group.n++
			return a.saveIfDue(ctx)
		}
		// The target holds every change up to tx: report it now, save it
		// at most every posInterval.
		a.setPosition(tx.Position, tx.ID, tx.Time)
		if time.Since(a.savedAt) >= a.cfg.posInterval {
			return a.save(ctx)
		}
		return nil
	}
	keep, err = a.applyChanges(ctx, tx)
	return err
}

// applied reports whether tx was applied already.
func (a *Applier) applied(tx rowchange.Txn) (bool, error) {
	if !a.have {
		return false, nil
	}
	if tx.Position == a.cur.Position || tx.ID != "" && tx.ID == a.cur.TxnID {
		return true, nil
	}
	if a.cfg.covered == nil {
		return false, nil
	}
	ok, err := a.cfg.covered(a.cur.Position, tx.Position)
	if err != nil {
		return false, fmt.Errorf("apply: stream %q: position %q against stored %q: %w", a.stream, tx.Position, a.cur.Position, err)
	}
	return ok, nil
}

// applyChanges applies tx's changes in the open group (a new one when
// none is open) and commits the group when it is due. On an error the
// caller discards the connection, which rolls the group back, unless keep:
// only tx was rolled back.
//
// The writer's batches stay open across the transactions of a group, so
// that the group's changes of one table become a few statements. A
// transaction whose first batch is small is read whole before any of it
// reaches the writer: a failed read then has nothing to undo. A larger one
// is written as it is read, after the batches of the transactions before
// it are executed and a savepoint is set (see rollbackTxn).
func (a *Applier) applyChanges(ctx context.Context, tx rowchange.Txn) (keep bool, err error) {
	if a.group.n == 0 {
		a.group.start = time.Now()
	}
	fail := func(err error) error {
		return fmt.Errorf("apply: stream %q: transaction %s: %w", a.stream, txnName(tx), err)
	}
	rows, size := 0, 0
	streaming := false
	a.whole = a.whole[:0]
	// add takes a batch: kept whole, or written.
	add := func(changes []rowchange.Change) error {
		n := 0
		for i := range changes {
			n += changes[i].Size()
		}
		rows, size = rows+len(changes), size+n
		if !streaming && size < a.cfg.wholeBytes {
			a.whole = cloneChanges(a.whole, changes)
			return nil
		}
		if !streaming {
			streaming = true
			// The batches of the transactions before tx are executed
			// first: a rollback to the savepoint undoes tx alone.
			if err := a.w.flushAll(ctx); err != nil {
				return err
			}
			a.w.mark, a.w.marked = a.group.n > 0, false
			if err := a.write(ctx, a.whole); err != nil {
				return err
			}
		}
		return a.write(ctx, changes)
	}
	for {
		changes, err := tx.Changes.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			err = fail(fmt.Errorf("read changes: %w", err))
			if !streaming {
				return true, err // nothing of tx reached the target
			}
			return a.rollbackTxn(ctx, err)
		}
		if err := add(changes); err != nil {
			return false, fail(err)
		}
	}
	a.w.mark = false
	if !streaming {
		if err := a.write(ctx, a.whole); err != nil {
			return false, fail(err)
		}
	}
	a.setCur(tx)
	g := &a.group
	g.n, g.txns, g.rows, g.bytes = g.n+1, g.txns+1, g.rows+int64(rows), g.bytes+size
	return false, a.saveIfDue(ctx)
}

// write adds changes to the writer's batches.
func (a *Applier) write(ctx context.Context, changes []rowchange.Change) error {
	for i := range changes {
		if err := a.w.add(ctx, &changes[i]); err != nil {
			return err
		}
	}
	return nil
}

// wholeBytes bounds the changes (Change.Size) of a transaction read whole
// before it is written.
const wholeBytes = 1 << 20

// cloneChanges appends copies of changes to dst, to keep them past the
// next batch (rowchange.Change).
func cloneChanges(dst, changes []rowchange.Change) []rowchange.Change {
	for _, c := range changes {
		c.Before, c.After = cloneRow(c.Before), cloneRow(c.After)
		dst = append(dst, c)
	}
	return dst
}

func cloneRow(row []any) []any {
	if row == nil {
		return nil
	}
	out := slices.Clone(row)
	for i, v := range out {
		if b, ok := v.([]byte); ok {
			out[i] = bytes.Clone(b)
		}
	}
	return out
}

// rollbackTxn undoes the transaction being written, whose changes could
// not be read whole (readErr), keeping the open group's earlier
// transactions: keep reports that it did. The error wraps readErr only
// then (rowchange.Sink). The writer holds only that transaction's
// operations (applyChanges executed the others first).
func (a *Applier) rollbackTxn(ctx context.Context, readErr error) (keep bool, err error) {
	marked := a.w.marked
	a.w.drop()
	switch {
	case a.group.n == 0:
		// Nothing accepted is open: the caller rolls everything back.
		return false, readErr
	case !marked:
		// No statement of the transaction ran.
		return true, readErr
	}
	if _, err := a.conn.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); err != nil {
		return false, fmt.Errorf("apply: stream %q: %d transactions applied and not committed are discarded: rollback to savepoint: %w (after %v)",
			a.stream, a.group.n, err, readErr)
	}
	return true, readErr
}

// saveIfDue commits the open group when it is full or old enough.
func (a *Applier) saveIfDue(ctx context.Context) error {
	g := &a.group
	if g.n < a.cfg.groupTxns && g.bytes < a.cfg.groupBytes && time.Since(g.start) < a.cfg.groupDelay {
		return nil
	}
	return a.save(ctx)
}

// Flush commits what is applied and not committed (rowchange.Flusher):
// the open group, or the position of a position-only transaction not
// saved yet (see WithPositionInterval). On an error it discards them.
func (a *Applier) Flush(ctx context.Context) error {
	if !a.pending {
		return nil
	}
	if err := a.save(ctx); err != nil {
		a.reset()
		return err
	}
	return nil
}

// save saves cur, the last transaction passed, and commits it with the
// open group. On an error the caller resets.
func (a *Applier) save(ctx context.Context) error {
	if err := a.w.flushAll(ctx); err != nil {
		return fmt.Errorf("apply: stream %q: %s: %w", a.stream, a.groupName(), err)
	}
	next := a.cur
	next.Source, next.Version = a.source(), a.version+1
	if err := a.store.SaveStream(ctx, a.conn, a.stream, next); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := a.commit(ctx); err != nil {
		return fmt.Errorf("apply: stream %q: %s: %w", a.stream, a.groupName(), err)
	}
	a.saved(next)
	if a.group.txns > 0 {
		a.count(a.group.txns, a.group.rows)
	}
	a.group = group{}
	return nil
}

// commit commits the connection's transaction. When it fails, the
// transaction may or may not be committed: the caller resets, and the
// next Start reads what the checkpoint holds.
func (a *Applier) commit(ctx context.Context) error {
	if _, err := a.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// groupName names the open group in messages by its last transaction.
func (a *Applier) groupName() string {
	last := txnName(rowchange.Txn{ID: a.cur.TxnID, Position: a.cur.Position})
	if a.group.n > 1 {
		return "group of transactions up to " + last
	}
	return "transaction " + last
}

// source is the source name to save: WithSource's, else the stored one.
func (a *Applier) source() string {
	if a.cfg.source != "" {
		return a.cfg.source
	}
	return a.cur.Source
}

// next is the stream record that saves tx.
func (a *Applier) next(tx rowchange.Txn) checkpoint.Stream {
	return checkpoint.Stream{Source: a.source(), Position: tx.Position, TxnID: tx.ID, SourceTime: tx.Time, Version: a.version + 1}
}

// setCur records tx as the last transaction passed, not saved.
func (a *Applier) setCur(tx rowchange.Txn) {
	a.cur = a.next(tx)
	a.cur.Version = a.version
	a.have, a.pending = true, true
}

// saved records next as stored.
func (a *Applier) saved(next checkpoint.Stream) {
	a.cur, a.version, a.have, a.pending, a.savedAt = next, next.Version, true, false, time.Now()
	a.setPosition(next.Position, next.TxnID, next.SourceTime)
}

func (a *Applier) setPosition(pos, id string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Position, a.stats.TxnID = pos, id
	if !at.IsZero() {
		a.stats.SourceTime = at
	}
}

// count adds committed transactions and rows to the stats.
func (a *Applier) count(txns, rows int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Txns += txns
	a.stats.Rows += rows
	now := time.Now()
	if a.rateStart.IsZero() {
		a.rateStart, a.rateRows = now, a.stats.Rows-rows
	}
	if d := now.Sub(a.rateStart); d >= time.Second {
		a.stats.RowsPerSecond = float64(a.stats.Rows-a.rateRows) / d.Seconds()
		a.rateStart, a.rateRows = now, a.stats.Rows
	}
}

// Stats returns the progress so far.
func (a *Applier) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	// A window open for more than a second (an idle or slow stream) gives
	// the rate as it stands, so that it falls to 0 when nothing comes.
	if d := time.Since(a.rateStart); !a.rateStart.IsZero() && d >= 2*time.Second {
		s.RowsPerSecond = float64(s.Rows-a.rateRows) / d.Seconds()
	}
	return s
}

// drain reads b to its end.
func drain(ctx context.Context, b rowchange.Batches) error {
	for {
		_, err := b.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// txnName names tx in messages: its id, else its position.
func txnName(tx rowchange.Txn) string {
	if tx.ID != "" {
		return fmt.Sprintf("%q", tx.ID)
	}
	return fmt.Sprintf("at %q", tx.Position)
}
