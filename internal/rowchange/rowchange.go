// Package rowchange is the currency of the change engine: row changes as a
// change source produces them (the binlog stream, the dual-write outbox)
// and a sink consumes them (the applier). It holds types only, so that
// sources and sinks depend on it and not on each other.
package rowchange

import (
	"context"
	"errors"
	"io"
	"time"
)

// Op is what a change does to its row.
type Op uint8

// The operations of a row change.
const (
	Insert Op = iota + 1
	Update
	Delete
)

// String names the operation as SQL does.
func (o Op) String() string {
	switch o {
	case Insert:
		return "INSERT"
	case Update:
		return "UPDATE"
	case Delete:
		return "DELETE"
	}
	return "op?"
}

// Table names a table on its server.
type Table struct {
	Schema string
	Name   string
}

// String is schema.name, unquoted, for messages.
func (t Table) String() string { return t.Schema + "." + t.Name }

// Shape is the layout of one table's row images as the source wrote them.
// Changes of one table that follow each other share a *Shape; a new Shape
// means the layout may have changed.
type Shape struct {
	Table Table
	// Columns names the columns in row-image order.
	Columns []string
	// Types are the columns' data types as information_schema spells them
	// (DATA_TYPE: "int", "varchar", "decimal"...), in Columns order; empty
	// when the source does not know them.
	Types []string
	// Unsigned marks the unsigned numeric columns, in Columns order.
	Unsigned []bool
	// Key holds the indexes into Columns of the primary key's columns, in
	// key order.
	Key []int
}

// Change is one row change.
//
// Before is the row before the change (Update, Delete) and After the row
// after it (Insert, Update), both full images in Shape.Columns order. A
// value is nil (SQL NULL), int64, uint64 (unsigned columns), float32,
// float64, string or []byte: DECIMAL as its exact decimal text, temporal
// types as their SQL text ("2006-01-02 15:04:05.000000", TIMESTAMP in
// UTC: a sink applies them with time_zone '+00:00'), ENUM and SET as
// their text, BIT as uint64, JSON as its text. A sink may keep the slices
// only until it asks for the next batch.
type Change struct {
	Shape  *Shape
	Op     Op
	Before []any
	After  []any
}

// Size is an estimate of the bytes a change holds, for memory budgets.
func (c *Change) Size() int {
	n := 64
	for _, row := range [2][]any{c.Before, c.After} {
		for _, v := range row {
			n += 16
			switch v := v.(type) {
			case string:
				n += len(v)
			case []byte:
				n += len(v)
			}
		}
	}
	return n
}

// Batches yields the changes of one transaction, in the order the source
// made them, in batches bounded by the source's memory budget.
type Batches interface {
	// Next returns the next batch; io.EOF after the last one. Any other
	// error means the transaction could not be read whole (for example the
	// source connection was lost): the sink must not commit what it has.
	Next(ctx context.Context) ([]Change, error)
}

// Each reads the batches of b to the end, passing each to fn in order. It
// returns fn's first error or the error of a transaction that could not
// be read whole; nil once b is read. A nil b has no batch.
func Each(ctx context.Context, b Batches, fn func([]Change) error) error {
	if b == nil {
		return nil
	}
	for {
		batch, err := b.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
}

// DDL is a schema change the source made.
type DDL struct {
	// Schema is the default database the statement ran in.
	Schema string
	// Statement is the statement's text as the source logged it.
	Statement string
	// Tables are the tables it changes, when known.
	Tables []Table
}

// Txn is one source transaction, delivered whole and in commit order.
type Txn struct {
	// ID identifies the transaction at its source (a GTID such as
	// "0-1-42"; an outbox entry id); "" when the source has none.
	ID string
	// Position is where the stream stands once this transaction is applied.
	// A sink stores it in the same target transaction as the changes, and a
	// stream restarted from it resumes after this transaction. It is
	// opaque to the sink (a GTID set for the binlog).
	Position string
	// Time is when the source committed it (for lag).
	Time time.Time
	// Changes yields the row changes; nil for a transaction that only
	// advances the position (its changes were all filtered out, or it is a
	// heartbeat), or that carries a DDL.
	Changes Batches
	// DDL is set for a schema change the source's policy passes on.
	DDL *DDL
}

// Sink consumes a change stream.
//
// Apply returning nil accepts the transaction: a plain Sink has made it
// durable; a Flusher may hold it uncommitted until its next Flush that
// returns nil (or commit it earlier, as it chooses). What a sink has made
// durable is where a new stream resumes (its checkpoint).
//
// The stream calls Apply and Flush from one goroutine, in commit order.
// After Apply or Flush returns an error (which may concern any
// transaction accepted and not durable) the stream stops, and the sink
// discards what it accepted and had not made durable; with one exception:
// when tx.Changes.Next fails (the source connection was lost mid
// transaction), a sink that rolls back that transaction only, keeping the
// ones it accepted before, returns Next's error (wrapped, so that
// errors.Is matches it); the stream then reconnects and delivers again
// every transaction after the last one accepted. A sink that could not
// keep them returns an error that does not wrap Next's, and the stream
// stops.
type Sink interface {
	// Apply applies one transaction: all of its changes and its Position
	// in one target transaction, or nothing. It reads tx.Changes to
	// io.EOF before returning nil.
	Apply(ctx context.Context, tx Txn) error
}

// Flusher is implemented by a Sink that commits several transactions
// together (group commit). A stream delivering to a Flusher calls Flush,
// if the sink accepted transactions since its last Flush: whenever it has
// handed over every transaction it has read and is about to wait for the
// source (its queue stayed empty for a moment, so that a transaction
// still being decoded does not end a group), so that the last transaction
// of a burst is durable promptly; before it waits to reconnect; and before
// it returns, except after an error of the sink or the end of its
// context. A stream that has not seen Flush return nil treats the
// transactions accepted since as not durable.
type Flusher interface {
	// Flush makes every transaction accepted so far durable, with the
	// Position of the last, or returns an error and discards them.
	Flush(ctx context.Context) error
}
