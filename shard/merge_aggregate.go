package shard

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// AggFunc is an aggregate function MergeAggregate combines.
type AggFunc uint8

// The aggregates. Each names what the shard query must select in the
// Aggregate's Column.
const (
	// AggCount: the shards select COUNT(...); the merge adds the counts.
	AggCount AggFunc = iota + 1
	// AggSum: the shards select SUM(x); the merge adds the sums exactly
	// (decimals and integers; floats in float64, so the last bits may
	// differ from the server's, which adds in another order). NULL when
	// every shard's sum is NULL.
	AggSum
	// AggMin and AggMax: the shards select MIN(x) or MAX(x).
	AggMin
	AggMax
	// AggAvg: the shards select SUM(x) in Column and COUNT(x) in
	// CountColumn; the merge divides the total sum by the total count,
	// never averaging the shards' averages. For a decimal or integer x the
	// result is a Decimal with the sum's scale + 4 digits (at most 38),
	// rounded half away from zero, as MariaDB's AVG with the default
	// div_precision_increment; for a float x it is a float64. NULL when
	// the total count is 0.
	AggAvg
)

func (f AggFunc) String() string {
	switch f {
	case AggCount:
		return "COUNT"
	case AggSum:
		return "SUM"
	case AggMin:
		return "MIN"
	case AggMax:
		return "MAX"
	case AggAvg:
		return "AVG"
	}
	return fmt.Sprintf("AggFunc(%d)", uint8(f))
}

// avgScaleIncrement is MariaDB's default div_precision_increment and
// maxDecimalScale its largest DECIMAL scale.
const (
	avgScaleIncrement = 4
	maxDecimalScale   = 38
)

// Aggregate is one aggregate column of a merge.
type Aggregate struct {
	Func AggFunc
	// Column is the shards' column holding the partial aggregate (the
	// SUM for AggAvg).
	Column string
	// CountColumn is, for AggAvg only, the shards' COUNT column.
	CountColumn string
	// As names the merged column; "" means Column.
	As string
	// Collation orders a text column for AggMin and AggMax.
	Collation Collation
}

// MergeAggregate combines the shards' partial aggregates, as the same
// query with GROUP BY groupBy on the unsharded table would: the shard
// query groups by the same columns and selects each Aggregate's partial
// (see AggFunc). The result has the groupBy columns, then one column per
// aggregate, one row per group, groups in groupBy order (NULL group
// first, as MariaDB's GROUP BY sorts). Rows equal on every groupBy column
// under its Collation are one group, shown with the values of the first
// such row. With no groupBy there is exactly one row, even when no shard
// returned any (COUNT 0, the others NULL), as MariaDB returns one.
//
// COUNT(DISTINCT x) cannot be merged from per-shard counts: gather the
// DISTINCT x instead and count MergeDistinct's rows.
func MergeAggregate(g *Gathered, groupBy []Order, aggs []Aggregate) (*Result, error) {
	var group comparer
	if len(groupBy) > 0 {
		var err error
		if group, err = newComparer(g, groupBy); err != nil {
			return nil, err
		}
	}
	accs := make([]accumulator, len(aggs))
	cols := make([]Column, 0, len(groupBy)+len(aggs))
	for _, k := range group.keys {
		cols = append(cols, g.Columns[k.index])
	}
	for i, a := range aggs {
		acc, col, err := newAccumulator(g, a)
		if err != nil {
			return nil, err
		}
		accs[i] = acc
		cols = append(cols, col)
	}

	var all []Row
	for _, s := range g.Shards {
		all = append(all, s.Rows...)
	}
	slices.SortStableFunc(all, group.compare)

	out := &Result{Columns: cols}
	emit := func(first Row, rows []Row) {
		row := make(Row, 0, len(cols))
		for _, k := range group.keys {
			row = append(row, first[k.index])
		}
		for _, acc := range accs {
			row = append(row, acc(rows))
		}
		out.Rows = append(out.Rows, row)
	}
	if len(groupBy) == 0 {
		emit(nil, all)
		return out, nil
	}
	for start := 0; start < len(all); {
		end := start + 1
		for end < len(all) && group.compare(all[start], all[end]) == 0 {
			end++
		}
		emit(all[start], all[start:end])
		start = end
	}
	return out, nil
}

// MergeDistinct combines the shards' DISTINCT rows: the rows of the same
// SELECT DISTINCT on the unsharded table, each once, in the order of
// columns, which must name every column of the result once (their
// Collations say which text values are the same).
func MergeDistinct(g *Gathered, columns []Order) (*Result, error) {
	named := make(map[string]bool, len(columns))
	for _, o := range columns {
		if named[o.Column] {
			return nil, fmt.Errorf("shard: merge distinct: column %q named twice", o.Column)
		}
		named[o.Column] = true
	}
	for _, c := range g.Columns {
		if !named[c.Name] {
			return nil, fmt.Errorf("shard: merge distinct: column %q not named: DISTINCT compares every column", c.Name)
		}
	}
	return MergeAggregate(g, columns, nil)
}

// accumulator folds one group's rows into an aggregate value.
type accumulator func(rows []Row) any

func newAccumulator(g *Gathered, a Aggregate) (accumulator, Column, error) {
	idx, err := columnIndex(g.Columns, a.Column)
	if err != nil {
		return nil, Column{}, err
	}
	in := g.Columns[idx]
	name := a.As
	if name == "" {
		name = a.Column
	}
	bad := func() error {
		return fmt.Errorf("shard: merge: %s of column %s (%s): %w", a.Func, in.Name, in.Type, ErrUnsupportedColumn)
	}
	switch a.Func {
	case AggCount:
		if in.Kind != ColInt && in.Kind != ColUint {
			return nil, Column{}, bad()
		}
		return func(rows []Row) any {
			var n int64
			for _, r := range rows {
				n += countOf(r[idx])
			}
			return n
		}, Column{Name: name, Type: "BIGINT", Kind: ColInt}, nil
	case AggSum:
		sum, col, ok := summer(in, idx)
		if !ok {
			return nil, Column{}, bad()
		}
		col.Name = name
		return func(rows []Row) any { return sum(rows) }, col, nil
	case AggMin, AggMax:
		f, err := valueComparer(g, idx, a.Collation)
		if err != nil {
			return nil, Column{}, err
		}
		want := -1
		if a.Func == AggMax {
			want = 1
		}
		return func(rows []Row) any {
			var best any
			for _, r := range rows {
				if v := r[idx]; v != nil && (best == nil || f(v, best) == want) {
					best = v
				}
			}
			return best
		}, Column{Name: name, Type: in.Type, Kind: in.Kind}, nil
	case AggAvg:
		sum, col, ok := summer(in, idx)
		if !ok {
			return nil, Column{}, bad()
		}
		col.Name = name
		if a.CountColumn == "" {
			return nil, Column{}, fmt.Errorf("shard: merge: AVG of column %s: no CountColumn", in.Name)
		}
		cidx, err := columnIndex(g.Columns, a.CountColumn)
		if err != nil {
			return nil, Column{}, err
		}
		if k := g.Columns[cidx].Kind; k != ColInt && k != ColUint {
			return nil, Column{}, fmt.Errorf("shard: merge: AVG count column %s (%s): %w", a.CountColumn, g.Columns[cidx].Type, ErrUnsupportedColumn)
		}
		return func(rows []Row) any {
			var n int64
			for _, r := range rows {
				n += countOf(r[cidx])
			}
			s := sum(rows)
			if n == 0 || s == nil {
				return nil
			}
			if f, ok := s.(float64); ok {
				return f / float64(n)
			}
			d := s.(Decimal)
			return d.quo(n, min(d.scale+avgScaleIncrement, maxDecimalScale))
		}, col, nil
	}
	return nil, Column{}, errors.New("shard: merge: unknown aggregate " + a.Func.String())
}

// countOf reads a COUNT column's value; COUNT is never NULL, nor above
// the int64 range.
func countOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case uint64:
		return int64(x)
	}
	return 0
}

// summer returns the function that adds column idx of rows, NULL when
// every value is NULL, and the column it makes.
func summer(in Column, idx int) (func(rows []Row) any, Column, bool) {
	switch in.Kind {
	case ColFloat:
		return func(rows []Row) any {
			var sum any
			for _, r := range rows {
				if v, ok := r[idx].(float64); ok {
					s, _ := sum.(float64)
					sum = s + v
				}
			}
			return sum
		}, Column{Type: "DOUBLE", Kind: ColFloat}, true
	case ColInt, ColUint, ColDecimal:
		return func(rows []Row) any {
			var sum any
			for _, r := range rows {
				if r[idx] == nil {
					continue
				}
				s, _ := sum.(Decimal)
				sum = s.Add(decimalOf(r[idx]))
			}
			return sum
		}, Column{Type: "DECIMAL", Kind: ColDecimal}, true
	}
	return nil, Column{}, false
}

// decimalOf converts an integer or Decimal value.
func decimalOf(v any) Decimal {
	switch x := v.(type) {
	case int64:
		return Decimal{unscaled: big.NewInt(x)}
	case uint64:
		return Decimal{unscaled: new(big.Int).SetUint64(x)}
	}
	return v.(Decimal)
}
