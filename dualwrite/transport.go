package dualwrite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// ErrRejected is wrapped by a delivery error that retrying the same
// change cannot fix: the secondary refused it (a constraint, a value out
// of range, a missing column) or it cannot be mapped. The relay counts
// such errors toward MaxAttempts; any other error is retried without limit.
var ErrRejected = errors.New("change rejected")

// Transport carries a bucket's changes to the secondary. Implementations:
// Direct (straight to the secondary database); a broker transport
// publishes and a consumer applies.
type Transport interface {
	// Deliver delivers entries, changes of one bucket in outbox order, and
	// returns nil only once they are durable on the other side (committed
	// on the secondary, or acknowledged by the broker): the relay marks
	// them delivered after that. Entries delivered before may come again
	// (the relay died between delivery and marking); the transport applies
	// them once (the secondary's position of the bucket) or harmlessly. An
	// error wrapping ErrRejected means the change cannot be delivered as it
	// is; others are transient.
	Deliver(ctx context.Context, bucket int, entries []Entry) error
}

// Direct is the transport straight to the secondary database: each
// bucket's entries become one transaction of a rowchange.Sink, the
// bucket's own stream whose position is the last outbox id delivered
// (positions compare as numbers: see PositionCovered).
type Direct struct {
	o       *Outbox
	sinkFor func(bucket int) (rowchange.Sink, error)

	mu    sync.Mutex
	sinks map[int]*bucketSink
}

type bucketSink struct {
	mu   sync.Mutex
	sink rowchange.Sink
}

var _ Transport = (*Direct)(nil)

// NewDirect returns the transport that applies o's entries through the
// sink sinkFor returns for each bucket (called once per bucket): a sink
// that stores each transaction's Position with its changes and skips a
// transaction whose position it covers, such as an apply.Applier of the
// stream BucketStream(name, bucket) with apply.WithCovered(PositionCovered).
func NewDirect(o *Outbox, sinkFor func(bucket int) (rowchange.Sink, error)) (*Direct, error) {
	if o == nil || sinkFor == nil {
		return nil, errors.New("dualwrite: NewDirect: nil outbox or sink function")
	}
	return &Direct{o: o, sinkFor: sinkFor, sinks: map[int]*bucketSink{}}, nil
}

// NewDirectTo returns the direct transport to database on secondary: an
// internal/apply applier per bucket, the stream BucketStream(name,
// bucket), its position kept with the changes in checkpointDatabase on
// the same server (created if missing). Each bucket's applier keeps one
// connection of secondary once it has delivered.
func NewDirectTo(o *Outbox, secondary *sql.DB, database, checkpointDatabase, name string) (*Direct, error) {
	if secondary == nil {
		return nil, errors.New("dualwrite: NewDirectTo: nil secondary")
	}
	for _, n := range []struct{ kind, name string }{{"secondary database", database}, {"checkpoint database", checkpointDatabase}, {"name", name}} {
		if err := schema.ValidateName(n.kind, n.name); err != nil {
			return nil, fmt.Errorf("dualwrite: NewDirectTo: %w", err)
		}
	}
	store := checkpoint.New(checkpointDatabase)
	return NewDirect(o, func(bucket int) (rowchange.Sink, error) {
		return apply.New(secondary, store, BucketStream(name, bucket), database, apply.WithCovered(PositionCovered), apply.WithLogger(o.cfg.logger))
	})
}

// BucketStream is the name of the stream of a bucket of the dual write
// called name, for the sink's position.
func BucketStream(name string, bucket int) string {
	return name + ".b" + strconv.Itoa(bucket)
}

// PositionCovered reports whether the stored position of a bucket (the
// last outbox id applied) covers position: the applied transaction with
// the highest id came at or after it.
func PositionCovered(stored, position string) (bool, error) {
	s, err := strconv.ParseUint(stored, 10, 64)
	if err != nil {
		return false, fmt.Errorf("dualwrite: stored position %q: %w", stored, err)
	}
	p, err := strconv.ParseUint(position, 10, 64)
	if err != nil {
		return false, fmt.Errorf("dualwrite: position %q: %w", position, err)
	}
	return p <= s, nil
}

// Deliver applies entries in one transaction of the bucket's sink.
func (d *Direct) Deliver(ctx context.Context, bucket int, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	changes := make([]rowchange.Change, 0, len(entries))
	for i := range entries {
		ch, err := d.o.Change(&entries[i])
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		changes = append(changes, ch)
	}
	d.mu.Lock()
	bs := d.sinks[bucket]
	if bs == nil {
		bs = &bucketSink{}
		d.sinks[bucket] = bs
	}
	d.mu.Unlock()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.sink == nil {
		s, err := d.sinkFor(bucket)
		if err != nil {
			return fmt.Errorf("dualwrite: sink of bucket %d: %w", bucket, err)
		}
		bs.sink = s
	}
	// Delivered means durable: a sink that groups transactions (the
	// applier) commits at Flush.
	deliver := func() error {
		from, err := firstUncovered(ctx, bs.sink, entries)
		if err != nil || from == len(entries) {
			return err
		}
		first, last := entries[from], entries[len(entries)-1]
		txn := rowchange.Txn{
			ID:       "outbox:" + strconv.FormatUint(first.ID, 10) + "-" + strconv.FormatUint(last.ID, 10),
			Position: strconv.FormatUint(last.ID, 10),
			Time:     last.Created,
			Changes:  &oneBatch{changes: changes[from:]},
		}
		if err := bs.sink.Apply(ctx, txn); err != nil {
			return err
		}
		if f, ok := bs.sink.(rowchange.Flusher); ok {
			return f.Flush(ctx)
		}
		return nil
	}
	err := deliver()
	if errors.Is(err, checkpoint.ErrStreamMoved) {
		// Another relay delivered the bucket since this sink last did: the
		// sink reads the bucket's position again and applies what it does
		// not cover.
		err = deliver()
	}
	if err != nil {
		return classify(err)
	}
	return nil
}

// positionedSink is a sink that reports the position it stores (an
// apply.Applier's Start).
type positionedSink interface {
	Start(ctx context.Context) (*checkpoint.Stream, error)
}

// firstUncovered is the index of the first of entries the sink's stored
// position does not cover (len(entries): none). A batch can begin below
// that position: a relay that died after its delivery committed and
// before it marked the entries delivered leaves them pending, and the
// next batch of the bucket repeats them with newer ones. Applied whole,
// such a batch writes those entries to the secondary again (its state
// converges, but its binary log and triggers see the writes twice); a
// sink that cannot say its position gets the whole batch (it skips only
// batches it covers whole).
func firstUncovered(ctx context.Context, sink rowchange.Sink, entries []Entry) (int, error) {
	p, ok := sink.(positionedSink)
	if !ok {
		return 0, nil
	}
	st, err := p.Start(ctx)
	if err != nil || st == nil {
		return 0, err
	}
	stored, err := strconv.ParseUint(st.Position, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dualwrite: stored position %q: %w", st.Position, err)
	}
	return sort.Search(len(entries), func(i int) bool { return entries[i].ID > stored }), nil
}

// oneBatch yields its changes as one batch.
type oneBatch struct {
	changes []rowchange.Change
	done    bool
}

func (b *oneBatch) Next(context.Context) ([]rowchange.Change, error) {
	if b.done {
		return nil, io.EOF
	}
	b.done = true
	return b.changes, nil
}

// transientCodes are server errors that retrying can fix: lock waits,
// deadlocks, connection limits, shutdown, read-only.
var transientCodes = map[uint16]bool{
	1040: true, // too many connections
	1053: true, // server shutdown in progress
	1205: true, // lock wait timeout
	1213: true, // deadlock
	1290: true, // --read-only
	1467: true, // an AUTO-INC lock wait ended in a deadlock or a timeout
	1836: true, // read-only mode
	1927: true, // connection killed
	4031: true, // disconnected by the server for inactivity
}

// classify wraps ErrRejected around the error of a statement the
// secondary refused for what it holds.
func classify(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && !transientCodes[me.Number] {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return err
}

// retryable reports a deadlock or a lock wait timeout, of a row lock or
// of a table's AUTO-INC lock (InnoDB's error 1467 then, not 1213 or 1205):
// the transaction can run again.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205 || me.Number == 1467)
}
