package shard

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrCollationNeeded is returned when a text column is ordered, grouped
// or compared (MIN, MAX) without a Collation.
var ErrCollationNeeded = errors.New("text column needs a collation")

// ErrUnsupportedColumn is returned when a column of kind ColOther is
// ordered, grouped or aggregated, or an aggregate's column has a kind
// the aggregate cannot take.
var ErrUnsupportedColumn = errors.New("column type cannot be merged")

// ErrShardNotOrdered is wrapped by the ShardError of a shard whose rows
// are not in the order MergeOrdered was told: the shard query's ORDER BY
// differs from the merge's, or the merge's Collation is not the column's.
var ErrShardNotOrdered = errors.New("rows not in the merge's order")

// A Collation compares two strings as a server collation does: negative
// when a sorts before b, 0 when they are equal, positive otherwise.
//
// Bytewise and PadSpaceBin are exact for the collations their comments
// name. For any other collation (utf8mb4_general_ci, utf8mb4_unicode_ci,
// ...) select WEIGHT_STRING(col AS CHAR(n)) in the shard query as well,
// n being col's length in characters, and order or group by that column:
// a binary string that compares Bytewise exactly as the collation
// compares col (AS CHAR(n) pads it, so that trailing spaces compare as
// PAD SPACE collations compare them; without it they do not).
type Collation func(a, b string) int

// Bytewise compares byte by byte. It is exact for binary strings
// (BINARY, VARBINARY, BLOB, WEIGHT_STRING results) and for the NO PAD
// binary collations (utf8mb4_nopad_bin, utf8mb3_nopad_bin).
func Bytewise(a, b string) int { return strings.Compare(a, b) }

// PadSpaceBin compares by code point with trailing spaces ignored (the
// shorter string is compared as if padded with spaces). It is exact for
// utf8mb4_bin, utf8mb3_bin (utf8_bin) and ascii_bin, whose UTF-8 bytes
// order as their code points do.
func PadSpaceBin(a, b string) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	// The longer string's rest against spaces.
	rest, sign := a[n:], 1
	if len(b) > len(a) {
		rest, sign = b[n:], -1
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != ' ' {
			return sign * cmp.Compare(rest[i], ' ')
		}
	}
	return 0
}

// Order is one ORDER BY (or GROUP BY) column of a merge.
type Order struct {
	// Column is the name of a column of the shards' result.
	Column string
	// Desc orders descending.
	Desc bool
	// Collation is required for text columns; binary columns default to
	// Bytewise. It is ignored for other kinds.
	Collation Collation
}

// Result is a merged result.
type Result struct {
	Columns []Column
	Rows    []Row
}

// LimitPlaceholder is replaced, in the SQL of Gatherer.Ordered's query, by
// offset+limit: the rows each shard must return for the merged page.
const LimitPlaceholder = "{limit}"

// Ordered runs q on locs and returns rows offset .. offset+limit-1 of the
// merged order, as "ORDER BY order LIMIT offset, limit" on the unsharded
// table would. q must order by the same columns and end in
// "LIMIT {limit}": each shard is asked for offset+limit rows. A negative
// limit means no limit; q must then have no {limit}. See MergeOrdered.
func (g *Gatherer) Ordered(ctx context.Context, locs []Location, q Query, order []Order, offset, limit int) (*Result, error) {
	has := strings.Contains(q.SQL, LimitPlaceholder)
	switch {
	case offset < 0:
		return nil, fmt.Errorf("shard: ordered: negative offset %d", offset)
	case limit >= 0 && !has:
		return nil, fmt.Errorf("shard: ordered: query has no %s for the rows each shard returns", LimitPlaceholder)
	case limit < 0 && has:
		return nil, fmt.Errorf("shard: ordered: query has %s but no limit was given", LimitPlaceholder)
	}
	if has {
		q.SQL = strings.ReplaceAll(q.SQL, LimitPlaceholder, strconv.Itoa(offset+limit))
	}
	gathered, err := g.Gather(ctx, locs, q)
	if err != nil {
		return nil, err
	}
	return MergeOrdered(gathered, order, offset, limit)
}

// MergeOrdered merges the shards' rows, each shard's already in order,
// into one order and returns rows offset .. offset+limit-1 of it (all
// from offset when limit is negative). For a correct page every shard
// must have returned its first offset+limit rows in that order (see
// Gatherer.Ordered). A shard whose rows are out of order is a
// *ShardError wrapping ErrShardNotOrdered.
//
// Rows equal on every Order column keep their shard's order, and the
// lower-numbered location in g.Shards comes first. MariaDB leaves the
// order of such rows undefined too: make the last Order column unique
// (the primary key) for pages that repeat.
//
// Values order as MariaDB orders them: NULL before every value in
// ascending order (after every value in descending order); integers and
// floats by value; decimals by exact value; binary strings bytewise;
// dates and times chronologically; text by the Collation the caller
// names, which must be the column's collation on the server (see
// Collation for the ones given here and how to order by any other).
// MergeAggregate and MergeDistinct group and order the same way.
func MergeOrdered(g *Gathered, order []Order, offset, limit int) (*Result, error) {
	if offset < 0 {
		return nil, fmt.Errorf("shard: merge: negative offset %d", offset)
	}
	c, err := newComparer(g, order)
	if err != nil {
		return nil, err
	}
	for _, s := range g.Shards {
		for i := 1; i < len(s.Rows); i++ {
			if c.compare(s.Rows[i-1], s.Rows[i]) > 0 {
				return nil, &ShardError{Location: s.Location, Err: fmt.Errorf("%w: row %d sorts before row %d", ErrShardNotOrdered, i+1, i)}
			}
		}
	}
	want := -1
	if limit >= 0 {
		want = offset + limit
	}
	m := &kway{c: c}
	for i, s := range g.Shards {
		if len(s.Rows) > 0 {
			m.heads = append(m.heads, cursor{shard: i, rows: s.Rows})
		}
	}
	heap.Init(m)
	var rows []Row
	for m.Len() > 0 && (want < 0 || len(rows) < want) {
		h := &m.heads[0]
		rows = append(rows, h.rows[0])
		if h.rows = h.rows[1:]; len(h.rows) == 0 {
			heap.Pop(m)
		} else {
			heap.Fix(m, 0)
		}
	}
	if offset >= len(rows) {
		rows = nil
	} else {
		rows = rows[offset:]
	}
	return &Result{Columns: g.Columns, Rows: rows}, nil
}

// cursor is a shard's rows not merged yet.
type cursor struct {
	shard int
	rows  []Row
}

// kway is a heap of cursors by their first row, then shard.
type kway struct {
	c     comparer
	heads []cursor
}

func (m *kway) Len() int { return len(m.heads) }
func (m *kway) Less(i, j int) bool {
	if c := m.c.compare(m.heads[i].rows[0], m.heads[j].rows[0]); c != 0 {
		return c < 0
	}
	return m.heads[i].shard < m.heads[j].shard
}
func (m *kway) Swap(i, j int) { m.heads[i], m.heads[j] = m.heads[j], m.heads[i] }
func (m *kway) Push(x any)    { m.heads = append(m.heads, x.(cursor)) }
func (m *kway) Pop() any {
	last := m.heads[len(m.heads)-1]
	m.heads = m.heads[:len(m.heads)-1]
	return last
}

// comparer compares rows by a list of columns.
type comparer struct {
	keys []sortKey
}

type sortKey struct {
	index int
	desc  bool
	cmp   func(a, b any) int
}

func (c comparer) compare(a, b Row) int {
	for _, k := range c.keys {
		r := compareNullsFirst(a[k.index], b[k.index], k.cmp)
		if k.desc {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return 0
}

func compareNullsFirst(a, b any, cmp func(a, b any) int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp(a, b)
}

func newComparer(g *Gathered, order []Order) (comparer, error) {
	if len(order) == 0 {
		return comparer{}, errors.New("shard: merge: no order columns")
	}
	c := comparer{keys: make([]sortKey, len(order))}
	for i, o := range order {
		idx, err := columnIndex(g.Columns, o.Column)
		if err != nil {
			return comparer{}, err
		}
		f, err := valueComparer(g, idx, o.Collation)
		if err != nil {
			return comparer{}, err
		}
		c.keys[i] = sortKey{index: idx, desc: o.Desc, cmp: f}
	}
	return c, nil
}

func columnIndex(cols []Column, name string) (int, error) {
	i := slices.IndexFunc(cols, func(c Column) bool { return c.Name == name })
	if i < 0 {
		return 0, fmt.Errorf("shard: merge: no column %q in the result", name)
	}
	return i, nil
}

// valueComparer returns how column idx's non-NULL values compare.
func valueComparer(g *Gathered, idx int, coll Collation) (func(a, b any) int, error) {
	col := g.Columns[idx]
	switch col.Kind {
	case ColInt:
		return func(a, b any) int { return cmp.Compare(a.(int64), b.(int64)) }, nil
	case ColUint:
		return func(a, b any) int { return cmp.Compare(a.(uint64), b.(uint64)) }, nil
	case ColDecimal:
		return func(a, b any) int { return a.(Decimal).Cmp(b.(Decimal)) }, nil
	case ColFloat:
		return func(a, b any) int { return cmp.Compare(a.(float64), b.(float64)) }, nil
	case ColText, ColBinary:
		if coll == nil {
			if col.Kind == ColText {
				return nil, fmt.Errorf("shard: merge: column %s (%s): %w", col.Name, col.Type, ErrCollationNeeded)
			}
			coll = Bytewise
		}
		return func(a, b any) int { return coll(a.(string), b.(string)) }, nil
	case ColTemporal:
		return temporalComparer(g, idx)
	}
	return nil, fmt.Errorf("shard: merge: column %s (%s): %w", col.Name, col.Type, ErrUnsupportedColumn)
}

// temporalComparer compares a date or time column, held as strings or as
// time.Time, which must not be mixed.
func temporalComparer(g *Gathered, idx int) (func(a, b any) int, error) {
	var strs, times bool
	for _, s := range g.Shards {
		for _, r := range s.Rows {
			switch r[idx].(type) {
			case string:
				strs = true
			case time.Time:
				times = true
			}
		}
	}
	if strs && times {
		col := g.Columns[idx]
		return nil, fmt.Errorf("shard: merge: column %s (%s): some hosts send text, others time.Time: use parseTime the same way on all", col.Name, col.Type)
	}
	if times {
		return func(a, b any) int { return a.(time.Time).Compare(b.(time.Time)) }, nil
	}
	return func(a, b any) int { return strings.Compare(a.(string), b.(string)) }, nil
}
