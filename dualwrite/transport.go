package dualwrite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/dbmigrate"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
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
	// (the relay died between delivery and marking), and an entry can come
	// after a later id of its bucket (its transaction committed later);
	// each key's entries come in version order. The side that applies
	// skips an entry whose key it holds at that version or a later one
	// (Direct: dualwrite_applied). An error wrapping ErrRejected means the
	// change cannot be delivered as it is; others are transient.
	Deliver(ctx context.Context, bucket int, entries []Entry) error
}

// Direct is the transport straight to the secondary database: each
// bucket's entries become one transaction of a rowchange.Sink, the
// bucket's own stream, which also records the version of every key it
// applies (the table dualwrite_applied of the checkpoint database). An
// entry whose key holds its version or a later one on the secondary is
// not applied: a batch delivered again (its relay died before marking
// it), or read before another relay delivered the bucket, cannot take a
// key back to an older state, and an entry that commits on the primary
// after a later id of its bucket was delivered is still applied (outbox
// ids are taken at capture, not at commit).
type Direct struct {
	o         *Outbox
	sinkFor   func(bucket int) (rowchange.Sink, error)
	secondary *sql.DB
	applied   string // dualwrite_applied, quoted with its database
	name      string
	appliedDB string

	mu       sync.Mutex
	sinks    map[int]*bucketSink
	prepared bool
}

type bucketSink struct {
	mu   sync.Mutex
	sink rowchange.Sink
}

var _ Transport = (*Direct)(nil)

// appliedTable is the source-side name of the changes to dualwrite_applied
// that Direct adds to each transaction; the applier maps it to the
// checkpoint database.
var appliedTable = rowchange.Table{Schema: "shiftgate_dualwrite", Name: "dualwrite_applied"}

// appliedShape is the shape of those changes: puts of a key's version.
var appliedShape = &rowchange.Shape{Table: appliedTable, Columns: []string{"key_hash", "name", "version"}, Key: []int{0, 1}}

//go:embed secondary_migrations/*.sql
var secondaryMigrationFiles embed.FS

var secondaryMigrations = func() []dbmigrate.Migration {
	list, err := dbmigrate.Load(secondaryMigrationFiles, "secondary_migrations")
	if err != nil {
		panic(err) // unreachable: the files are embedded
	}
	return list
}()

// NewDirectTo returns the direct transport to database on secondary: an
// internal/apply applier per bucket, the stream BucketStream(name,
// bucket), its position and the keys' versions (dualwrite_applied) kept
// with the changes in checkpointDatabase on the same server (created if
// missing). Each bucket's applier keeps one connection of secondary once
// it has delivered.
func NewDirectTo(o *Outbox, secondary *sql.DB, database, checkpointDatabase, name string) (*Direct, error) {
	if o == nil || secondary == nil {
		return nil, errors.New("dualwrite: NewDirectTo: nil outbox or secondary")
	}
	for _, n := range []struct{ kind, name string }{{"secondary database", database}, {"checkpoint database", checkpointDatabase}, {"name", name}} {
		if err := schema.ValidateName(n.kind, n.name); err != nil {
			return nil, fmt.Errorf("dualwrite: NewDirectTo: %w", err)
		}
	}
	store := checkpoint.New(checkpointDatabase)
	tables := map[rowchange.Table]rowchange.Table{appliedTable: {Schema: checkpointDatabase, Name: appliedTable.Name}}
	return &Direct{
		o: o, secondary: secondary, name: name, appliedDB: checkpointDatabase,
		applied: schema.QualifiedName(checkpointDatabase, appliedTable.Name),
		sinkFor: func(bucket int) (rowchange.Sink, error) {
			return apply.New(secondary, store, BucketStream(name, bucket), database, apply.WithTables(tables), apply.WithLogger(o.cfg.logger))
		},
		sinks: map[int]*bucketSink{},
	}, nil
}

// Close releases the connections the buckets' appliers keep. Deliver
// commits before it returns, so nothing delivered is lost; a Deliver
// after Close opens them again.
func (d *Direct) Close() error {
	d.mu.Lock()
	sinks := d.sinks
	d.sinks = map[int]*bucketSink{}
	d.mu.Unlock()
	var errs []error
	for _, bs := range sinks {
		bs.mu.Lock()
		if c, ok := bs.sink.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
		bs.sink = nil
		bs.mu.Unlock()
	}
	return errors.Join(errs...)
}

// BucketStream is the name of the stream of a bucket of the dual write
// called name, for the sink's position.
func BucketStream(name string, bucket int) string {
	return name + ".b" + strconv.Itoa(bucket)
}

// prepare creates or upgrades dualwrite_applied, once.
func (d *Direct) prepare(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prepared {
		return nil
	}
	if err := checkpoint.New(d.appliedDB).Prepare(ctx, d.secondary); err != nil {
		return fmt.Errorf("dualwrite: checkpoint database %s: %w", schema.QuoteIdent(d.appliedDB), err)
	}
	s := &dbmigrate.Schema{
		What: "dualwrite applied versions", Database: d.appliedDB, Table: "dualwrite_applied_schema_version",
		Lock: "shiftgate.dualwrite.applied." + d.appliedDB, Migrations: secondaryMigrations, Err: ErrVersion,
	}
	if err := s.Migrate(ctx, d.secondary); err != nil {
		return fmt.Errorf("dualwrite: %w", err)
	}
	d.prepared = true
	return nil
}

// Deliver applies, in one transaction of the bucket's sink, the entries
// whose keys the secondary holds at an older version, and records their
// versions.
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
	if err := d.prepare(ctx); err != nil {
		return err
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
		// The stream's version first, the keys' versions after: the
		// transaction commits only if the stream did not move in between
		// (the applier's save expects that version), so the versions read
		// are those the transaction commits over.
		if p, ok := bs.sink.(positionedSink); ok {
			if _, err := p.Start(ctx); err != nil {
				return err
			}
		}
		keep, versions, err := d.unapplied(ctx, entries)
		if err != nil || len(keep) == 0 {
			return err
		}
		batch := make([]rowchange.Change, 0, len(keep)+len(versions))
		for _, i := range keep {
			batch = append(batch, changes[i])
		}
		batch = append(batch, versions...)
		first, last := entries[keep[0]], entries[keep[len(keep)-1]]
		txn := rowchange.Txn{
			ID: "outbox:" + strconv.FormatUint(first.ID, 10) + "-" + strconv.FormatUint(last.ID, 10),
			// The last entry applied: never the stored position, whose
			// entry's key holds its version already.
			Position: strconv.FormatUint(last.ID, 10),
			Time:     last.Created,
			Changes:  &oneBatch{changes: batch},
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
		// sink reads the bucket's position again, and the keys' versions
		// are read again.
		err = deliver()
	}
	if err != nil {
		return classify(err)
	}
	return nil
}

// positionedSink is a sink that reads its stream's stored position (an
// apply.Applier's Start, which reads it again after an error).
type positionedSink interface {
	Start(ctx context.Context) (*checkpoint.Stream, error)
}

// unapplied returns the indexes of the entries whose keys the secondary
// holds at an older version (in order), and the changes to
// dualwrite_applied that record their keys' new versions.
func (d *Direct) unapplied(ctx context.Context, entries []Entry) ([]int, []rowchange.Change, error) {
	hashes := make([]uint64, len(entries))
	q := []byte("SELECT key_hash, version FROM " + d.applied + " WHERE name = " + rowcodec.String(d.name) + " AND key_hash IN (")
	for i, e := range entries {
		hashes[i] = keyHash(e.Table, e.Key)
		if i > 0 {
			q = append(q, ',')
		}
		// Each value cast: a list mixing literals below 2^63 (integers)
		// and above (decimals) is not a range on the key, and the server
		// reads every key of the name instead (MariaDB 10.11).
		q = append(q, "CAST("...)
		q = strconv.AppendUint(q, hashes[i], 10)
		q = append(q, " AS UNSIGNED)"...)
	}
	rows, err := d.secondary.QueryContext(ctx, string(append(q, ')')))
	if err != nil {
		return nil, nil, fmt.Errorf("dualwrite: applied versions in %s: %w", d.applied, err)
	}
	defer rows.Close()
	held := map[uint64]uint64{}
	for rows.Next() {
		var h, v uint64
		if err := rows.Scan(&h, &v); err != nil {
			return nil, nil, fmt.Errorf("dualwrite: applied versions in %s: %w", d.applied, err)
		}
		held[h] = v
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("dualwrite: applied versions in %s: %w", d.applied, err)
	}
	var keep []int
	next := map[uint64]uint64{}
	var order []uint64
	for i, e := range entries {
		h := hashes[i]
		if e.Version <= held[h] || e.Version <= next[h] {
			continue
		}
		if _, ok := next[h]; !ok {
			order = append(order, h)
		}
		next[h] = e.Version
		keep = append(keep, i)
	}
	versions := make([]rowchange.Change, len(order))
	for i, h := range order {
		versions[i] = rowchange.Change{Shape: appliedShape, Op: rowchange.Insert, After: []any{h, d.name, next[h]}}
	}
	return keep, versions, nil
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
