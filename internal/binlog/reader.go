package binlog

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// reader assembles transactions from the events of one replication
// connection. go-mysql calls HandleEvent from its reading goroutine; the
// reader hands transactions to Run through queue and their changes
// through each transaction's batches, blocking while the budget is spent,
// which stops the reading: memory stays bounded whatever the transaction.
type reader struct {
	s      *Stream
	ctx    context.Context
	flavor string
	gset   gomysql.GTIDSet // position after the last transaction read
	budget *budget
	queue  chan item

	dead chan struct{} // closed by fail
	once sync.Once
	err  error

	tables map[uint64]*table          // followed tables by table id, from the table maps
	shapes map[rowchange.Table]*table // the last decoder of each table, to reuse its Shape
	last   time.Time                  // when a Txn was last handed over

	// The transaction being read.
	in          bool
	explicit    bool // opened by BEGIN (MySQL) or a non-standalone GTID (MariaDB): ends with XID or COMMIT
	id          string
	position    string
	time        time.Time
	out         *batches // nil until the first followed change
	pend        []rowchange.Change
	pendBytes   int64
	undelivered *rowchange.Txn // a position-only Txn not handed over yet
}

// batchBytes is the size at which a batch is handed over: a quarter of
// the budget, so that several batches are in flight.
func (r *reader) batchBytes() int64 { return max(r.budget.limit/4, 1) }

func (s *Stream) newReader(ctx context.Context, flavor string) (*reader, error) {
	s.mu.Lock()
	start := s.position // after the last Txn accepted: the sink holds it
	s.mu.Unlock()
	gset, err := gomysql.ParseGTIDSet(flavor, start)
	if err != nil {
		return nil, fmt.Errorf("binlog: position %q: %w", start, err)
	}
	s.resetPending()
	return &reader{
		s: s, ctx: ctx, flavor: flavor, gset: gset,
		budget: newBudget(s.cfg.Budget, s),
		queue:  make(chan item, 4),
		dead:   make(chan struct{}),
		tables: map[uint64]*table{},
		shapes: map[rowchange.Table]*table{},
		last:   time.Now(),
	}, nil
}

// fail ends the connection's stream with err (the first one wins).
func (r *reader) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.dead)
	})
}

func (r *reader) failed() bool {
	select {
	case <-r.dead:
		return true
	default:
		return false
	}
}

// HandleEvent is go-mysql's synchronous event handler. An event the
// stream cannot take stops it (stop).
func (r *reader) HandleEvent(e *replication.BinlogEvent) error {
	r.s.countEvent()
	err := r.event(e)
	if err == nil || r.ctx.Err() != nil {
		return err
	}
	return r.stop(err)
}

func (r *reader) event(e *replication.BinlogEvent) error {
	ts := time.Unix(int64(e.Header.Timestamp), 0)
	switch ev := e.Event.(type) {
	case *replication.MariadbGTIDEvent:
		if err := r.gset.(*gomysql.MariadbGTIDSet).AddSet(&ev.GTID); err != nil {
			return fmt.Errorf("binlog: server %s: GTID %s: %w", r.s.Server(), ev.GTID.String(), err)
		}
		return r.begin(ev.GTID.String(), ts, !ev.IsStandalone())
	case *replication.GTIDEvent:
		return r.mysqlGTID(ev, gomysql.Tag{}, ts)
	case *replication.GtidTaggedLogEvent:
		return r.mysqlGTID(&ev.GTIDEvent, ev.Tag, ts)
	case *replication.TransactionPayloadEvent:
		// MySQL's binlog_transaction_compression: the transaction's
		// events inside one.
		for _, inner := range ev.Events {
			if err := r.event(inner); err != nil {
				return err
			}
		}
	case *replication.TableMapEvent:
		return r.tableMap(ev)
	case *replication.RowsEvent:
		return r.rows(e.Header.EventType, ev)
	case *replication.XIDEvent:
		return r.commit(nil)
	case *replication.QueryEvent:
		return r.query(ev)
	case *replication.HeartbeatEvent:
		if r.undelivered != nil && !r.in {
			return r.handOver(*r.undelivered)
		}
	}
	return nil
}

// mysqlGTID opens a MySQL transaction (untested flavor).
func (r *reader) mysqlGTID(ev *replication.GTIDEvent, tag gomysql.Tag, ts time.Time) error {
	u, err := uuid.FromBytes(ev.SID)
	if err != nil {
		return fmt.Errorf("binlog: server %s: GTID event: %w", r.s.Server(), err)
	}
	r.gset.(*gomysql.MysqlGTIDSet).AddGTIDWithTag(u, tag, ev.GNO)
	id := u.String() + ":"
	if tag.String() != "" {
		id += tag.String() + ":"
	}
	return r.begin(id+strconv.FormatInt(ev.GNO, 10), ts, false)
}

// begin opens a transaction; explicit tells that it ends with XID or
// COMMIT rather than after its one statement. A transaction that changed
// followed tables and did not end (an XA transaction's prepared part)
// cannot be delivered whole: the stream stops.
func (r *reader) begin(id string, ts time.Time, explicit bool) error {
	if r.in && r.out != nil {
		return fmt.Errorf("binlog: server %s: transaction %s changed followed tables and did not end before %s (XA transactions are not supported)", r.s.Server(), r.id, id)
	}
	r.in, r.explicit, r.id, r.time = true, explicit, id, ts
	r.position = r.gset.String()
	r.out, r.pend, r.pendBytes = nil, nil, 0
	return nil
}

func (r *reader) follows(t rowchange.Table) bool { return r.s.follow[t] }

// followsFold matches followed tables in any case, for schema changes.
func (r *reader) followsFold(t rowchange.Table) bool {
	for f := range r.s.follow {
		if strings.EqualFold(f.Schema, t.Schema) && strings.EqualFold(f.Name, t.Name) {
			return true
		}
	}
	return false
}

func (r *reader) tableMap(tm *replication.TableMapEvent) error {
	name := rowchange.Table{Schema: string(tm.Schema), Name: string(tm.Table)}
	if !r.follows(name) {
		delete(r.tables, tm.TableID)
		return nil
	}
	if t, ok := r.shapes[name]; ok && t.sig == signature(tm) {
		r.tables[tm.TableID] = t
		return nil
	}
	t, err := newTable(tm)
	if err != nil {
		return fmt.Errorf("%w (server %s)", err, r.s.Server())
	}
	r.shapes[name], r.tables[tm.TableID] = t, t
	return nil
}

func (r *reader) rows(typ replication.EventType, ev *replication.RowsEvent) error {
	t := r.tables[ev.TableID]
	if t == nil {
		return nil // not followed: its rows were not decoded (decodeRows)
	}
	if !r.in {
		return fmt.Errorf("binlog: server %s: row event for %s outside a transaction", r.s.Server(), name(t.shape.Table))
	}
	var op rowchange.Op
	step := 1
	switch ev.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = rowchange.Insert
	case replication.EnumRowsEventTypeUpdate:
		op, step = rowchange.Update, 2
	case replication.EnumRowsEventTypeDelete:
		op = rowchange.Delete
	default:
		return fmt.Errorf("binlog: server %s: transaction %s: %s event for %s: %w", r.s.Server(), r.id, typ, name(t.shape.Table), ErrRowImage)
	}
	for _, skipped := range ev.SkippedColumns {
		if len(skipped) > 0 {
			return fmt.Errorf("binlog: server %s: transaction %s: row image of %s lacks %d columns (binlog_row_image set per session?): %w",
				r.s.Server(), r.id, name(t.shape.Table), len(skipped), ErrRowImage)
		}
	}
	if len(ev.Rows)%step != 0 {
		return fmt.Errorf("binlog: server %s: transaction %s: update event for %s with an odd number of images", r.s.Server(), r.id, name(t.shape.Table))
	}
	for i := 0; i < len(ev.Rows); i += step {
		c := rowchange.Change{Shape: t.shape, Op: op}
		for j, row := range ev.Rows[i : i+step] {
			if err := t.normalise(row); err != nil {
				return fmt.Errorf("%w (server %s, transaction %s)", err, r.s.Server(), r.id)
			}
			switch {
			case op == rowchange.Insert, op == rowchange.Update && j == 1:
				c.After = row
			default:
				c.Before = row
			}
		}
		if err := r.add(c); err != nil {
			return err
		}
	}
	return nil
}

// add appends a change to the transaction, opening its Txn on the first
// one, and hands the pending batch over when it is full or when the budget
// is spent.
func (r *reader) add(c rowchange.Change) error {
	if r.out == nil {
		r.out = &batches{r: r, ch: make(chan batch, 2)}
		if err := r.handOver(rowchange.Txn{ID: r.id, Position: r.position, Time: r.time, Changes: r.out}); err != nil {
			return err
		}
	}
	size := r.budget.clamp(int64(c.Size()))
	if !r.budget.sem.TryAcquire(size) {
		if err := r.flush(); err != nil {
			return err
		}
		if err := r.budget.sem.Acquire(r.ctx, size); err != nil {
			return err
		}
	}
	r.budget.took(size)
	r.pend = append(r.pend, c)
	r.pendBytes += size
	if r.pendBytes >= r.batchBytes() {
		return r.flush()
	}
	return nil
}

// flush hands the pending changes over.
func (r *reader) flush() error {
	if len(r.pend) == 0 {
		return nil
	}
	b := batch{changes: r.pend, bytes: r.pendBytes}
	r.pend, r.pendBytes = nil, 0
	select {
	case r.out.ch <- b:
		return nil
	case <-r.ctx.Done():
		r.budget.give(b.bytes)
		return r.ctx.Err()
	}
}

// commit ends the transaction: its changes are complete, or, without
// any, it becomes a position to deliver (ddl set: a Txn carrying it).
func (r *reader) commit(ddl *rowchange.DDL) error {
	if !r.in {
		return nil
	}
	r.in = false
	if r.out != nil {
		if err := r.flush(); err != nil {
			return err
		}
		close(r.out.ch)
		r.out = nil
		return nil
	}
	tx := rowchange.Txn{ID: r.id, Position: r.position, Time: r.time, DDL: ddl}
	if ddl != nil {
		return r.handOver(tx)
	}
	r.s.unfollowed(r.time)
	r.undelivered = &tx
	if r.s.hurry.Load() > 0 || time.Since(r.last) >= positionEvery {
		return r.handOver(tx)
	}
	return nil
}

// handOver queues a Txn for Run.
func (r *reader) handOver(tx rowchange.Txn) error {
	select {
	case r.queue <- item{tx: tx}:
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	r.s.handed(tx.Time)
	r.last, r.undelivered = time.Now(), nil
	return nil
}

// stop ends the stream with err once what was read before is applied: it
// fails the transaction being delivered, or queues err behind the
// transactions handed over, then waits for Run to end the connection.
func (r *reader) stop(err error) error {
	if r.out != nil {
		r.fail(err)
		return err
	}
	select {
	case r.queue <- item{err: err}:
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	<-r.ctx.Done()
	return r.ctx.Err()
}

func (r *reader) query(ev *replication.QueryEvent) error {
	kind, touched := classify(string(ev.Schema), string(ev.Query), r.followsFold, r.s.cfg.Tables)
	switch kind {
	case stmtBegin:
		r.explicit = true
		return nil
	case stmtCommit:
		return r.commit(nil)
	case stmtDML:
		if len(touched) > 0 {
			return fmt.Errorf("binlog: server %s: transaction %s changes followed table %s as a statement, not as rows: %s: %w",
				r.s.Server(), r.id, name(touched[0]), termtext.Line(string(ev.Query)), ErrBinlogFormat)
		}
	case stmtDDL:
		if len(touched) > 0 {
			switch r.s.cfg.DDL {
			case DDLStop:
				return &DDLError{Server: r.s.Server(), Statement: string(ev.Query), Tables: touched, GTID: r.id}
			case DDLSkip:
				r.s.cfg.Logger.Warn("binlog: skipping a schema change on a followed table", "server", r.s.Server(),
					"gtid", r.id, "table", name(touched[0]), "statement", termtext.Line(string(ev.Query)))
			case DDLApply:
				return r.commit(&rowchange.DDL{Schema: string(ev.Schema), Statement: string(ev.Query), Tables: touched})
			}
		}
	}
	if !r.explicit {
		return r.commit(nil)
	}
	return nil
}

// batch is one hand-off of changes and the budget they hold.
type batch struct {
	changes []rowchange.Change
	bytes   int64
}

// batches is Txn.Changes of the stream: it hands the sink the batches the
// reader produces, and releases a batch's budget when the sink asks for
// the next.
type batches struct {
	r    *reader
	ch   chan batch
	held int64
	eof  bool
}

var _ rowchange.Batches = (*batches)(nil)

// Next returns the next batch; io.EOF after the last; the connection's
// error (wrapping ErrConnection, or what stopped the stream) when it was
// lost before the transaction was read whole.
func (b *batches) Next(ctx context.Context) ([]rowchange.Change, error) {
	b.r.budget.give(b.held)
	b.held = 0
	if b.eof {
		return nil, io.EOF
	}
	select {
	case bt, ok := <-b.ch:
		return b.got(bt, ok)
	case <-b.r.dead:
		select {
		case bt, ok := <-b.ch:
			return b.got(bt, ok)
		default:
			return nil, b.r.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *batches) got(bt batch, ok bool) ([]rowchange.Change, error) {
	if !ok {
		b.eof = true
		return nil, io.EOF
	}
	b.held = bt.bytes
	b.r.s.countChanges(len(bt.changes), b.r.budget.used.Load(), b.r.budget.peak.Load())
	return bt.changes, nil
}

// budget bounds the bytes of changes read and not yet released.
type budget struct {
	limit      int64
	sem        *semaphore.Weighted
	used, peak atomic.Int64
	s          *Stream
}

func newBudget(limit int64, s *Stream) *budget {
	return &budget{limit: limit, sem: semaphore.NewWeighted(limit), s: s}
}

// clamp lets a change larger than the whole budget through alone.
func (b *budget) clamp(n int64) int64 { return min(n, b.limit) }

// took records n bytes acquired.
func (b *budget) took(n int64) {
	u := b.used.Add(n)
	for {
		p := b.peak.Load()
		if u <= p || b.peak.CompareAndSwap(p, u) {
			break
		}
	}
	b.s.setBuffered(u, b.peak.Load())
}

// give releases n bytes.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	// Counted out before it is released: another acquire must not see it
	// twice (the peak would pass the limit).
	u := b.used.Add(-n)
	b.sem.Release(n)
	b.s.setBuffered(u, b.peak.Load())
}

// drop forgets a connection's budget once it has ended.
func (b *budget) drop() { b.s.setBuffered(0, b.peak.Load()) }
