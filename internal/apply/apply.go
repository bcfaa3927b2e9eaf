package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	noBinlog      bool
	source        string
	covered       func(stored, position string) (bool, error)
	logger        *slog.Logger
	posInterval   time.Duration
	flushBytes    int
	pendingBudget int
}

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

// Stats is the progress of an Applier since New.
type Stats struct {
	Txns    int64 // transactions applied (with changes or a DDL)
	Rows    int64 // row changes applied
	Skipped int64 // redelivered transactions skipped as already applied
	// RowsPerSecond is the rate over the last second or more.
	RowsPerSecond float64
	// Position and TxnID are those of the last transaction applied or
	// passed (a position-only transaction may not be saved yet).
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
	// (a position-only transaction) is not saved yet.
	have    bool
	cur     checkpoint.Stream
	version int64
	pending bool
	savedAt time.Time

	tables map[rowchange.Table]*table // by source table
	defs   map[rowchange.Table]*schema.TableDef
	w      writer

	mu        sync.Mutex
	stats     Stats
	rateStart time.Time
	rateRows  int64
}

var _ rowchange.Sink = (*Applier)(nil)

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
	cfg := config{logger: slog.New(slog.DiscardHandler), posInterval: time.Second, flushBytes: 1 << 20, pendingBudget: 8 << 20}
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
// position (nil: none yet), or, on an Applier already started, a later
// position-only transaction's not saved yet (Flush saves it). Apply starts
// by itself when needed; after an error it starts again, reading the
// checkpoint anew.
func (a *Applier) Start(ctx context.Context) (*checkpoint.Stream, error) {
	if err := a.start(ctx); err != nil {
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
	if st != nil {
		a.cur, a.version = *st, st.Version
		a.setPosition(st.Position, st.TxnID, st.SourceTime)
	}
	a.cfg.logger.Info("apply: stream started", "stream", a.stream, "position", a.cur.Position, "version", a.version)
	return nil
}

// reset drops the connection and what it knew, after an error: the next
// call starts again from the checkpoint.
func (a *Applier) reset() {
	if a.conn != nil {
		conn.Discard(a.conn)
		a.conn = nil
	}
	a.w.reset()
}

// Close releases the Applier's connection. A position-only transaction not
// saved yet (see WithPositionInterval) is not saved: call Flush first to
// keep it.
func (a *Applier) Close() error {
	a.reset()
	return nil
}

// Apply applies tx (rowchange.Sink): its changes and its position in one
// target transaction, or nothing. A transaction already applied is read to
// its end and skipped.
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
	defer func() {
		if err != nil {
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
		return a.applyDDL(ctx, tx)
	case tx.Changes == nil:
		a.setCur(tx)
		a.pending = true
		if time.Since(a.savedAt) >= a.cfg.posInterval {
			return a.Flush(ctx)
		}
		return nil
	}
	return a.applyChanges(ctx, tx)
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

// applyChanges applies tx's changes and saves its position in one
// transaction. On an error the caller discards the connection, which rolls
// the transaction back.
func (a *Applier) applyChanges(ctx context.Context, tx rowchange.Txn) error {
	a.w.begin(a, a.conn)
	rows := 0
	for {
		changes, err := tx.Changes.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("apply: stream %q: transaction %s: read changes: %w", a.stream, txnName(tx), err)
		}
		for i := range changes {
			if err := a.w.add(ctx, &changes[i]); err != nil {
				return fmt.Errorf("apply: stream %q: transaction %s: %w", a.stream, txnName(tx), err)
			}
		}
		rows += len(changes)
	}
	if err := a.w.flushAll(ctx); err != nil {
		return fmt.Errorf("apply: stream %q: transaction %s: %w", a.stream, txnName(tx), err)
	}
	next := a.next(tx)
	if err := a.store.SaveStream(ctx, a.conn, a.stream, next); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := a.commit(ctx); err != nil {
		return fmt.Errorf("apply: stream %q: transaction %s: %w", a.stream, txnName(tx), err)
	}
	a.saved(next)
	a.count(1, int64(rows))
	return nil
}

// Flush saves the position of the last transaction passed when it is not
// saved yet (a position-only transaction, see WithPositionInterval).
func (a *Applier) Flush(ctx context.Context) error {
	if !a.pending {
		return nil
	}
	if err := a.start(ctx); err != nil {
		return err
	}
	next := a.cur
	next.Source, next.Version = a.source(), a.version+1
	if err := a.store.SaveStream(ctx, a.conn, a.stream, next); err != nil {
		a.reset()
		return fmt.Errorf("apply: %w", err)
	}
	if err := a.commit(ctx); err != nil {
		a.reset()
		return fmt.Errorf("apply: stream %q: %w", a.stream, err)
	}
	a.saved(next)
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
	a.have = true
	a.setPosition(tx.Position, tx.ID, tx.Time)
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

// count adds applied transactions and rows to the stats.
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
