// Package keyset walks a table in the order of a unique key, chunk by chunk,
// without LIMIT ... OFFSET paging: each chunk starts after the last key of
// the one before, so every chunk costs the same however deep into the table
// it is. It builds the key predicates for single and composite keys, finds
// chunk boundaries, and sizes chunks to a time target.
package keyset

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Key is the ordered list of columns of a unique key over NOT NULL columns.
type Key struct {
	Columns []string
	// Index is the name of the index the key comes from ("" for a key made
	// by NewKey); ChunkQuery forces it.
	Index  string
	quoted []string
	kinds  []Kind
}

// NewKey returns the key over columns (in index order).
func NewKey(columns ...string) Key {
	k := Key{Columns: columns, quoted: make([]string, len(columns))}
	for i, c := range columns {
		k.quoted[i] = schema.QuoteIdent(c)
	}
	return k
}

// ForTable returns the row key of t: its primary key or first unique key
// over NOT NULL columns (see schema.TableDef.RowKey).
func ForTable(t *schema.TableDef) (Key, error) {
	ix, err := t.RowKey()
	if err != nil {
		return Key{}, err
	}
	k := NewKey(ix.ColumnNames()...)
	k.Index = ix.Name
	k.kinds = make([]Kind, len(k.Columns))
	for i, c := range k.Columns {
		if col := t.Column(c); col != nil {
			k.kinds[i] = ColumnKind(col)
		}
	}
	return k, nil
}

// List is the quoted, comma-separated column list: `a`, `b`.
func (k Key) List() string { return strings.Join(k.quoted, ", ") }

// OrderBy is the ORDER BY list for ascending key order.
func (k Key) OrderBy() string { return k.List() }

// Values is one key value: one element per key column, as scanned from the
// server (bytes in the text protocol) or given by a caller.
type Values []any

// After returns the predicate "key > v" and its arguments, expanded so the
// range optimizer of every MySQL and MariaDB version uses the index:
// (a > ?) OR (a = ? AND b > ?) ...
func (k Key) After(v Values) (string, []any) { return k.compare(v, ">") }

// AtMost returns the predicate "key <= v" and its arguments.
func (k Key) AtMost(v Values) (string, []any) { return k.compare(v, "<=") }

func (k Key) compare(v Values, op string) (string, []any) {
	strict := strings.TrimSuffix(op, "=") // ">" or "<"
	var b strings.Builder
	var args []any
	for i := range k.quoted {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for j := 0; j < i; j++ {
			fmt.Fprintf(&b, "%s = ? AND ", k.quoted[j])
			args = append(args, v[j])
		}
		last := strict
		if i == len(k.quoted)-1 {
			last = op
		}
		fmt.Fprintf(&b, "%s %s ?)", k.quoted[i], last)
		args = append(args, v[i])
	}
	return "(" + b.String() + ")", args
}

// Range is a half-open key range (Lower, Upper]: rows with key > Lower (no
// bound when nil) and key <= Upper (no bound when nil).
type Range struct {
	Lower, Upper Values
}

// Where returns the predicate selecting r and its arguments; "1=1" for the
// whole table.
func (k Key) Where(r Range) (string, []any) {
	var parts []string
	var args []any
	if r.Lower != nil {
		p, a := k.After(r.Lower)
		parts, args = append(parts, p), append(args, a...)
	}
	if r.Upper != nil {
		p, a := k.AtMost(r.Upper)
		parts, args = append(parts, p), append(args, a...)
	}
	if len(parts) == 0 {
		return "1=1", nil
	}
	return strings.Join(parts, " AND "), args
}

// NextUpper returns the key of the n-th row after lower (the whole table
// when lower is nil) in key order on database.table, restricted by the
// optional extra predicate: the inclusive upper bound of a chunk of n rows.
// ok is false when fewer than n rows remain: the chunk is the last, and
// open-ended.
func (k Key) NextUpper(ctx context.Context, q schema.Querier, database, table string, lower Values, n int, extra string) (upper Values, ok bool, err error) {
	if n < 1 {
		return nil, false, fmt.Errorf("keyset: chunk of %d rows", n)
	}
	where, args := k.Where(Range{Lower: lower})
	if extra != "" {
		where = "(" + extra + ") AND " + where
	}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d",
		k.List(), schema.QualifiedName(database, table), where, k.OrderBy(), n-1)
	upper = make(Values, len(k.Columns))
	ptrs := make([]any, len(upper))
	for i := range upper {
		ptrs[i] = &upper[i]
	}
	err = q.QueryRowContext(ctx, query, args...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keyset: chunk boundary of %s: %w", schema.QualifiedName(database, table), err)
	}
	if upper, err = k.Normalize(upper); err != nil {
		return nil, false, err
	}
	return upper, true, nil
}

// Sizer adapts a chunk's row count so that each chunk takes about Target:
// after every chunk it scales the size by target/took, smoothed and bounded
// by Min and Max, and by a factor of 2 per step either way.
type Sizer struct {
	Target   time.Duration
	Min, Max int
	size     int
}

// NewSizer starts at start rows per chunk.
func NewSizer(target time.Duration, start, minRows, maxRows int) *Sizer {
	return &Sizer{Target: target, Min: minRows, Max: maxRows, size: max(minRows, min(start, maxRows))}
}

// Size is the row count for the next chunk.
func (s *Sizer) Size() int { return s.size }

// Observe records that a chunk of rows took took, and adjusts the size.
// Chunks of fewer rows than the size (the last of a table) do not count.
func (s *Sizer) Observe(rows int, took time.Duration) {
	if rows < s.size || took <= 0 {
		return
	}
	factor := float64(s.Target) / float64(took)
	factor = max(0.5, min(2, factor))
	next := int(float64(s.size) * (0.5 + 0.5*factor)) // halfway: smooths noise
	s.size = max(s.Min, min(s.Max, next))
}
