package shard_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/shard"
)

// Every merge is checked against the same query on the unsharded table.

func TestMergeOrderedMatchesUnshardedQuery(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		orderBy string // SQL
		order   []shard.Order
	}{
		{"score, id", []shard.Order{{Column: "score"}, {Column: "id"}}},
		{"score DESC, id DESC", []shard.Order{{Column: "score", Desc: true}, {Column: "id", Desc: true}}},
		{"score DESC, id", []shard.Order{{Column: "score", Desc: true}, {Column: "id"}}},
		{"name, id", []shard.Order{{Column: "name", Collation: shard.PadSpaceBin}, {Column: "id"}}},
		{"name DESC, grp, id", []shard.Order{{Column: "name", Desc: true, Collation: shard.PadSpaceBin}, {Column: "grp", Collation: shard.PadSpaceBin}, {Column: "id"}}},
		{"amount DESC, id", []shard.Order{{Column: "amount", Desc: true}, {Column: "id"}}},
		{"u, id", []shard.Order{{Column: "u"}, {Column: "id"}}},
		{"f DESC, id", []shard.Order{{Column: "f", Desc: true}, {Column: "id"}}},
		{"created, id DESC", []shard.Order{{Column: "created"}, {Column: "id", Desc: true}}},
		{"bin, id", []shard.Order{{Column: "bin"}, {Column: "id"}}},
	}
	pages := []struct{ offset, limit int }{{0, 100}, {0, 1}, {7, 13}, {95, 10}, {390, 50}, {500, 10}, {3, 0}, {25, -1}}
	for _, c := range cases {
		for _, p := range pages {
			t.Run(fmt.Sprintf("%s/%d,%d", c.orderBy, p.offset, p.limit), func(t *testing.T) {
				shardSQL, wantSQL := "SELECT * FROM {table} ORDER BY "+c.orderBy, "SELECT * FROM {table} ORDER BY "+c.orderBy
				switch {
				case p.limit >= 0:
					shardSQL += " LIMIT {limit}"
					wantSQL += fmt.Sprintf(" LIMIT %d, %d", p.offset, p.limit)
				case p.offset > 0:
					wantSQL += fmt.Sprintf(" LIMIT %d, 1000000", p.offset)
				}
				got, err := f.gatherer.Ordered(t.Context(), f.router.Locations(), shard.Query{SQL: shardSQL}, c.order, p.offset, p.limit)
				require.NoError(t, err)
				want := f.unshardedRows(t, wantSQL)
				assert.Equal(t, want.Columns, got.Columns)
				assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
			})
		}
	}
}

// Without a unique last column, rows that tie may come in any order on
// either side; the order columns' values must still match exactly.
func TestMergeOrderedTiesMatchUnshardedKeys(t *testing.T) {
	f := newFixture(t)
	for _, p := range []struct{ offset, limit int }{{0, 17}, {40, 60}, {0, -1}} {
		shardSQL := "SELECT score, grp FROM {table} ORDER BY score DESC, grp"
		wantSQL := "SELECT score, grp FROM {table} ORDER BY score DESC, grp"
		if p.limit >= 0 {
			shardSQL += " LIMIT {limit}"
			wantSQL += fmt.Sprintf(" LIMIT %d, %d", p.offset, p.limit)
		}
		got, err := f.gatherer.Ordered(t.Context(), f.router.Locations(), shard.Query{SQL: shardSQL},
			[]shard.Order{{Column: "score", Desc: true}, {Column: "grp", Collation: shard.PadSpaceBin}}, p.offset, p.limit)
		require.NoError(t, err)
		assert.Equal(t, render(f.unshardedRows(t, wantSQL).Shards[0].Rows), render(got.Rows), "page %d,%d", p.offset, p.limit)
	}
}

// A collation other than the binary ones merges through WEIGHT_STRING.
func TestMergeOrderedByWeightStringMatchesGeneralCI(t *testing.T) {
	f := newFixture(t)
	got, err := f.gatherer.Ordered(t.Context(), f.router.Locations(),
		shard.Query{SQL: "SELECT id, name_ci, WEIGHT_STRING(name_ci AS CHAR(20)) AS w FROM {table} ORDER BY name_ci, id LIMIT {limit}"},
		[]shard.Order{{Column: "w"}, {Column: "id"}}, 10, 200)
	require.NoError(t, err)
	want := f.unshardedRows(t, "SELECT id, name_ci, WEIGHT_STRING(name_ci AS CHAR(20)) AS w FROM {table} ORDER BY name_ci, id LIMIT 10, 200")
	assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
}

func TestMergeAggregateWithoutGroupByMatchesUnshardedQuery(t *testing.T) {
	f := newFixture(t)
	shardSelect := `SELECT COUNT(*) AS n, COUNT(score) AS n_score, SUM(score) AS sum_score,
		SUM(amount) AS sum_amount, COUNT(amount) AS n_amount, SUM(f) AS sum_f, COUNT(f) AS n_f,
		MIN(score) AS min_score, MAX(score) AS max_score, MIN(name) AS min_name, MAX(name) AS max_name,
		MIN(created) AS min_created, MAX(u) AS max_u, MIN(amount) AS min_amount, MAX(bin) AS max_bin
		FROM {table}`
	unshardedSelect := `SELECT COUNT(*) AS n, COUNT(score) AS n_score, SUM(score) AS sum_score,
		SUM(amount) AS sum_amount, AVG(amount) AS avg_amount, AVG(score) AS avg_score, SUM(f) AS sum_f, AVG(f) AS avg_f,
		MIN(score) AS min_score, MAX(score) AS max_score, MIN(name) AS min_name, MAX(name) AS max_name,
		MIN(created) AS min_created, MAX(u) AS max_u, MIN(amount) AS min_amount, MAX(bin) AS max_bin
		FROM {table}`
	aggs := []shard.Aggregate{
		{Func: shard.AggCount, Column: "n"},
		{Func: shard.AggCount, Column: "n_score"},
		{Func: shard.AggSum, Column: "sum_score"},
		{Func: shard.AggSum, Column: "sum_amount"},
		{Func: shard.AggAvg, Column: "sum_amount", CountColumn: "n_amount", As: "avg_amount"},
		{Func: shard.AggAvg, Column: "sum_score", CountColumn: "n_score", As: "avg_score"},
		{Func: shard.AggSum, Column: "sum_f"},
		{Func: shard.AggAvg, Column: "sum_f", CountColumn: "n_f", As: "avg_f"},
		{Func: shard.AggMin, Column: "min_score"},
		{Func: shard.AggMax, Column: "max_score"},
		{Func: shard.AggMin, Column: "min_name", Collation: shard.PadSpaceBin},
		{Func: shard.AggMax, Column: "max_name", Collation: shard.PadSpaceBin},
		{Func: shard.AggMin, Column: "min_created"},
		{Func: shard.AggMax, Column: "max_u"},
		{Func: shard.AggMin, Column: "min_amount"},
		{Func: shard.AggMax, Column: "max_bin"},
	}
	// All rows; a filter that leaves some shards empty; one that matches
	// nothing (every shard's SUM is NULL, COUNT 0).
	for _, where := range []string{"", " WHERE score >= 8", " WHERE id % 6 = 0", " WHERE id < 0"} {
		t.Run(where, func(t *testing.T) {
			g, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: shardSelect + where})
			require.NoError(t, err)
			got, err := shard.MergeAggregate(g, nil, aggs)
			require.NoError(t, err)
			want := f.unshardedRows(t, unshardedSelect+where)
			assert.Equal(t, names(want.Columns), names(got.Columns))
			assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
		})
	}
}

func TestMergeAggregateGroupByMatchesUnshardedQuery(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		groupBy string
		order   []shard.Order
	}{
		{"grp", []shard.Order{{Column: "grp", Collation: shard.PadSpaceBin}}},
		{"score, grp", []shard.Order{{Column: "score"}, {Column: "grp", Collation: shard.PadSpaceBin}}},
		{"created", []shard.Order{{Column: "created"}}},
		{"name", []shard.Order{{Column: "name", Collation: shard.PadSpaceBin}}},
	}
	for _, c := range cases {
		t.Run(c.groupBy, func(t *testing.T) {
			g, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT " + c.groupBy +
				", COUNT(*) AS n, SUM(amount) AS s, COUNT(amount) AS na, MIN(name) AS mn, MAX(score) AS mx FROM {table} WHERE id % 7 <> 3 GROUP BY " + c.groupBy})
			require.NoError(t, err)
			got, err := shard.MergeAggregate(g, c.order, []shard.Aggregate{
				{Func: shard.AggCount, Column: "n"},
				{Func: shard.AggSum, Column: "s"},
				{Func: shard.AggAvg, Column: "s", CountColumn: "na", As: "a"},
				{Func: shard.AggMin, Column: "mn", Collation: shard.PadSpaceBin},
				{Func: shard.AggMax, Column: "mx"},
			})
			require.NoError(t, err)
			want := f.unshardedRows(t, "SELECT "+c.groupBy+
				", COUNT(*) AS n, SUM(amount) AS s, AVG(amount) AS a, MIN(name) AS mn, MAX(score) AS mx FROM {table} WHERE id % 7 <> 3 GROUP BY "+c.groupBy+" ORDER BY "+c.groupBy)
			assert.Equal(t, names(want.Columns), names(got.Columns))
			assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
		})
	}
}

func TestMergeDistinctMatchesUnshardedQuery(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		cols  string
		order []shard.Order
	}{
		{"grp, score", []shard.Order{{Column: "grp", Collation: shard.PadSpaceBin}, {Column: "score"}}},
		{"score, grp", []shard.Order{{Column: "score"}, {Column: "grp", Collation: shard.PadSpaceBin}}},
		{"bin", []shard.Order{{Column: "bin"}}},
		{"amount", []shard.Order{{Column: "amount", Desc: true}}},
	} {
		t.Run(c.cols, func(t *testing.T) {
			g, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT DISTINCT " + c.cols + " FROM {table}"})
			require.NoError(t, err)
			got, err := shard.MergeDistinct(g, c.order)
			require.NoError(t, err)
			orderBy := c.cols
			if c.order[0].Desc {
				orderBy += " DESC"
			}
			want := f.unshardedRows(t, "SELECT DISTINCT "+c.cols+" FROM {table} ORDER BY "+orderBy)
			assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
		})
	}
}

func names(cols []shard.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name + " " + c.Kind.String()
	}
	return out
}
