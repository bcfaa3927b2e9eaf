package apply

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Statement bounds: the bytes of one statement (a larger row makes a
// statement of its own) and the keys of one DELETE, which keeps the range
// optimizer's lists small.
const (
	statementBytes = 512 << 10
	deleteKeys     = 1000
)

// writer applies the changes of a group of transactions through one batch
// per target table (see the package doc for why that order is the
// source's).
type writer struct {
	a       *Applier
	tx      execer                     // the Applier's connection, in the transaction
	batches map[rowchange.Table]*batch // by target table
	order   []*batch                   // batches holding operations, first touched first
	pending int                        // bytes the batches hold
	// mark: set the savepoint before the next statement; marked: it is set
	// for the transaction being applied.
	mark, marked bool
	key          []byte
	key2         []byte
	row          []byte
	scratch      []byte
	stmt         []byte
}

// execer is what the writer runs statements and reads table definitions
// on: the Applier's *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// batch holds the pending operations on one target table: delete the keys
// of dels, then insert the live rows in order.
type batch struct {
	t       *table // the plan its rows are encoded for
	arena   []byte
	rows    []span
	index   map[string]int // key -> index in rows of its live row
	dels    []string
	delSet  map[string]struct{}
	bytes   int
	queued  bool
	inserts int // live rows
}

// span is a row tuple in arena; dead rows have start < 0.
type span struct{ start, end int }

// begin starts writing through tx, the Applier's connection.
func (w *writer) begin(a *Applier, tx execer) {
	w.drop()
	w.a, w.tx = a, tx
}

// drop drops every pending operation.
func (w *writer) drop() {
	for _, b := range w.order {
		b.clear()
		b.queued = false
	}
	w.order, w.pending = w.order[:0], 0
	w.mark, w.marked = false, false
}

// reset drops every pending operation and the connection.
func (w *writer) reset() {
	w.drop()
	w.tx = nil
}

func (b *batch) clear() {
	b.arena, b.rows, b.dels, b.bytes, b.inserts = b.arena[:0], b.rows[:0], b.dels[:0], 0, 0
	clear(b.index)
	clear(b.delSet)
}

// add applies one change to its table's batch, executing batches that grow
// past their bounds.
func (w *writer) add(ctx context.Context, ch *rowchange.Change) error {
	if ch.Shape == nil {
		return fmt.Errorf("change without a shape")
	}
	t, b, err := w.batchOf(ctx, ch.Shape)
	if err != nil {
		return err
	}
	before := b.bytes
	switch ch.Op {
	case rowchange.Insert:
		err = w.put(t, b, ch.After)
	case rowchange.Delete:
		if w.key, w.scratch, err = t.appendKey(w.key[:0], w.scratch, ch.Before); err == nil {
			b.del(w.key)
		}
	case rowchange.Update:
		if w.key, w.scratch, err = t.appendKey(w.key[:0], w.scratch, ch.Before); err != nil {
			break
		}
		if w.key2, w.scratch, err = t.appendKey(w.key2[:0], w.scratch, ch.After); err != nil {
			break
		}
		if !bytes.Equal(w.key, w.key2) {
			b.del(w.key)
		}
		err = w.put(t, b, ch.After)
	default:
		err = fmt.Errorf("source table %s: change of unknown operation %d", schema.QualifiedName(ch.Shape.Table.Schema, ch.Shape.Table.Name), ch.Op)
	}
	if err != nil {
		return err
	}
	if !b.queued {
		b.queued = true
		w.order = append(w.order, b)
	}
	w.pending += b.bytes - before
	switch {
	case b.bytes >= w.a.cfg.flushBytes:
		return w.flush(ctx, b)
	case w.pending >= w.a.cfg.pendingBudget:
		return w.flushAll(ctx)
	}
	return nil
}

// put adds the row image row to b.
func (w *writer) put(t *table, b *batch, row []any) error {
	var err error
	if w.key, w.scratch, err = t.appendKey(w.key[:0], w.scratch, row); err != nil {
		return err
	}
	if w.row, w.scratch, err = t.appendRow(w.row[:0], w.scratch, row); err != nil {
		return err
	}
	b.put(w.key, w.row, t)
	return nil
}

// batchOf returns shape's plan and its target table's batch. A batch
// encoded for another plan of different statements is executed first.
func (w *writer) batchOf(ctx context.Context, shape *rowchange.Shape) (*table, *batch, error) {
	a := w.a
	t := a.tables[shape.Table]
	switch {
	case t != nil && t.shape == shape:
	case t != nil && slices.Equal(t.shape.Columns, shape.Columns):
		t.shape = shape
	default:
		var err error
		if t, err = a.plan(ctx, w.tx, shape); err != nil {
			return nil, nil, err
		}
		a.tables[shape.Table] = t
	}
	b := w.batches[t.target]
	if b == nil {
		b = &batch{t: t, index: map[string]int{}, delSet: map[string]struct{}{}}
		if w.batches == nil {
			w.batches = map[rowchange.Table]*batch{}
		}
		w.batches[t.target] = b
	}
	if b.t != t {
		if b.t.insertHead != t.insertHead || b.t.insertTail != t.insertTail || !slices.Equal(b.t.keyKinds, t.keyKinds) {
			if err := w.flush(ctx, b); err != nil {
				return nil, nil, err
			}
		}
		b.t = t
	}
	return t, b, nil
}

// del adds a delete of key, cancelling a pending insert of it.
func (b *batch) del(key []byte) {
	if i, ok := b.index[string(key)]; ok {
		b.kill(i, key)
	}
	if _, ok := b.delSet[string(key)]; !ok {
		k := string(key)
		b.delSet[k] = struct{}{}
		b.dels = append(b.dels, k)
		b.bytes += len(k) + 16
	}
}

func (b *batch) kill(i int, key []byte) {
	b.rows[i].start = -1
	delete(b.index, string(key))
	b.inserts--
}

// put adds an insert of row under key for t: in place of a pending row of
// the same key when t.upsert (ON DUPLICATE KEY UPDATE replaces it anyway),
// else after a delete of key (which cancels that row) at the end. When
// t.whole, a pending delete of key is dropped: the put replaces the row.
func (b *batch) put(key, row []byte, t *table) {
	start := len(b.arena)
	b.arena = append(b.arena, row...)
	b.bytes += len(row)
	if t.whole {
		delete(b.delSet, string(key)) // its entry in dels is skipped
	}
	if i, ok := b.index[string(key)]; ok && t.upsert {
		b.rows[i] = span{start, len(b.arena)}
		return
	}
	if !t.upsert {
		b.del(key)
	}
	b.rows = append(b.rows, span{start, len(b.arena)})
	b.index[string(key)] = len(b.rows) - 1
	b.inserts++
	b.bytes += 16
}

// flushAll executes every pending batch.
func (w *writer) flushAll(ctx context.Context) error {
	for _, b := range w.order {
		if err := w.flush(ctx, b); err != nil {
			return err
		}
		b.queued = false
	}
	w.order, w.pending = w.order[:0], 0
	return nil
}

// flush executes b: DELETE of its keys, then INSERT of its live rows in
// order, each in statements of bounded size.
func (w *writer) flush(ctx context.Context, b *batch) error {
	t := b.t
	// The keys still to delete, each once.
	dels := b.dels[:0]
	for _, k := range b.dels {
		if _, ok := b.delSet[k]; ok {
			delete(b.delSet, k)
			dels = append(dels, k)
		}
	}
	b.dels = dels
	for i := 0; i < len(b.dels); {
		w.stmt = append(append(append(w.stmt[:0], "DELETE FROM "...), t.qname...), " WHERE "...)
		single := len(t.keyNames) == 1
		if single {
			w.stmt = append(append(w.stmt, t.keyNames[0]...), " IN ("...)
		}
		for n := 0; i < len(b.dels) && n < deleteKeys && len(w.stmt) < statementBytes; i, n = i+1, n+1 {
			k := b.dels[i]
			switch {
			case single:
				if n > 0 {
					w.stmt = append(w.stmt, ',')
				}
				w.stmt = append(w.stmt, k...)
			default:
				if n > 0 {
					w.stmt = append(w.stmt, " OR "...)
				}
				w.stmt = append(w.stmt, '(')
				for c, part := range bytes.Split([]byte(k), []byte{0}) {
					if c > 0 {
						w.stmt = append(w.stmt, " AND "...)
					}
					w.stmt = append(append(append(w.stmt, t.keyNames[c]...), '='), part...)
				}
				w.stmt = append(w.stmt, ')')
			}
		}
		if single {
			w.stmt = append(w.stmt, ')')
		}
		if err := w.exec(ctx, t); err != nil {
			return err
		}
	}
	n := 0
	for _, r := range b.rows {
		if r.start < 0 {
			continue
		}
		if n == 0 {
			w.stmt = append(w.stmt[:0], t.insertHead...)
		} else {
			w.stmt = append(w.stmt, ',')
		}
		w.stmt = append(w.stmt, b.arena[r.start:r.end]...)
		n++
		if len(w.stmt) >= statementBytes {
			if err := w.insert(ctx, t); err != nil {
				return err
			}
			n = 0
		}
	}
	if n > 0 {
		if err := w.insert(ctx, t); err != nil {
			return err
		}
	}
	w.pending -= b.bytes
	b.clear()
	return nil
}

func (w *writer) insert(ctx context.Context, t *table) error {
	w.stmt = append(w.stmt, t.insertTail...)
	return w.exec(ctx, t)
}

func (w *writer) exec(ctx context.Context, t *table) error {
	if w.mark {
		if _, err := w.tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		w.mark, w.marked = false, true
	}
	if _, err := w.tx.ExecContext(ctx, string(w.stmt)); err != nil {
		return fmt.Errorf("target table %s: %w", t.qname, err)
	}
	return nil
}
