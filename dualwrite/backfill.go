package dualwrite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Backfill captures the current state of every row of the declared table,
// chunk rows per transaction in primary key order, so that the relay
// delivers the rows that existed before dual writes began (the initial
// copy of the new database, through the outbox). Run it after capture is
// on (PhaseDualWrite), while the application writes: each chunk locks its
// rows (SELECT ... FOR UPDATE) before it names them, the order a writer
// takes them in (its row, then the key's version), and the key versions
// order the backfilled states with the application's changes. A deadlock
// or lock wait timeout with the application retries the chunk.
func (o *Outbox) Backfill(ctx context.Context, tableName string, chunk int) error {
	tb, ok := o.tables[tableName]
	if !ok {
		return fmt.Errorf("dualwrite: backfill of table %q: %w", tableName, ErrUnknownTable)
	}
	if chunk < 1 {
		return fmt.Errorf("dualwrite: backfill of table %s: chunk of %d rows (want 1 or more)", tb.qname, chunk)
	}
	cols := make([]string, len(tb.key))
	for i, c := range tb.key {
		cols[i] = schema.QuoteIdent(c)
	}
	list := strings.Join(cols, ", ")
	first := "SELECT " + list + " FROM " + tb.qname + " ORDER BY " + list + " LIMIT " + fmt.Sprint(chunk) + " FOR UPDATE"
	next := "SELECT " + list + " FROM " + tb.qname + " WHERE (" + list + ") > (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") +
		") ORDER BY " + list + " LIMIT " + fmt.Sprint(chunk) + " FOR UPDATE"
	var last []any
	for {
		var keys [][]any
		err := o.Run(ctx, func(tx *Tx) error {
			q, args := first, []any(nil)
			if last != nil {
				q, args = next, last
			}
			var err error
			if keys, err = scanKeys(ctx, tx.Tx, q, args, len(cols)); err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Changed(tableName, k...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && retryable(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dualwrite: backfill of table %s: %w", tb.qname, err)
		}
		if len(keys) < chunk {
			return nil
		}
		last = keys[len(keys)-1]
	}
}

func scanKeys(ctx context.Context, tx *sql.Tx, q string, args []any, n int) ([][]any, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys [][]any
	for rows.Next() {
		vals := make([][]byte, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		key := make([]any, n)
		for i, v := range vals {
			key[i] = v
		}
		keys = append(keys, key)
	}
	return keys, rows.Err()
}
