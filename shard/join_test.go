package shard_test

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/shard"
)

// The seed's two-step join: ids from one sharded query, then the rows of
// those ids, asked only of the shards that hold them.
func TestLookupMatchesUnshardedJoin(t *testing.T) {
	f := newFixture(t, shard.WithLookupBatch(4))
	// Step one: ids with score 3 or 4 on shards 1 and 2 (id % 6 in 0, 1).
	step1, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT id FROM {table} WHERE score IN (?, ?) AND id % 6 IN (0, 1)", Args: []any{3, 4}})
	require.NoError(t, err)
	keys, err := step1.Keys("id")
	require.NoError(t, err)
	require.Greater(t, len(keys), 8, "several batches per shard")
	keys = append(keys, keys[0], shard.Int(6000)) // a duplicate and a missing id (shard 1)

	got, err := f.gatherer.Lookup(t.Context(), f.router, keys, shard.Query{
		SQL:  "SELECT id, name, amount FROM {table} WHERE amount IS NOT NULL AND id > ? AND id IN ({keys})",
		Args: []any{5},
	})
	require.NoError(t, err)
	var asked []int
	var rows []shard.Row
	for _, s := range got.Shards {
		asked = append(asked, s.Location.Shard)
		rows = append(rows, s.Rows...)
	}
	assert.Equal(t, []int{1, 2}, asked, "only the shards holding the keys, once each")
	slices.SortFunc(rows, func(a, b shard.Row) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })

	want := f.unshardedRows(t, "SELECT id, name, amount FROM {table} WHERE amount IS NOT NULL AND id > ? AND id IN (SELECT id FROM {table} WHERE score IN (3, 4) AND id % 6 IN (0, 1)) ORDER BY id", 5)
	require.NotEmpty(t, want.Shards[0].Rows)
	assert.Equal(t, render(want.Shards[0].Rows), render(rows))
}

func TestLookupRefusesBadQueriesAndKeys(t *testing.T) {
	f := newFixture(t)
	keys := []shard.Key{shard.Int(1)}
	for _, q := range []string{
		"SELECT id FROM {table} WHERE id IN (1)",
		"SELECT id FROM {table} WHERE id IN ({keys}) AND score = ?",
		"SELECT id FROM {table} WHERE id IN ({keys}) OR id IN ({keys})",
		"SELECT id FROM t WHERE id IN ({keys})",
	} {
		_, err := f.gatherer.Lookup(t.Context(), f.router, keys, shard.Query{SQL: q})
		assert.Error(t, err, q)
	}
	_, err := f.gatherer.Lookup(t.Context(), f.router, []shard.Key{shard.String("x")}, shard.Query{SQL: "SELECT id FROM {table} WHERE id IN ({keys})"})
	assert.ErrorContains(t, err, `routing key "x"`)

	none, err := f.gatherer.Lookup(t.Context(), f.router, nil, shard.Query{SQL: "SELECT id FROM {table} WHERE id IN ({keys})"})
	require.NoError(t, err)
	assert.Empty(t, none.Shards)

	g, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT amount, created, name FROM {table} LIMIT 3"})
	require.NoError(t, err)
	_, err = g.Keys("amount")
	assert.ErrorContains(t, err, "column amount (DECIMAL): not a key type")
	_, err = g.Keys("created")
	assert.ErrorContains(t, err, "parseTime")
	names, err := g.Keys("name")
	require.NoError(t, err)
	for _, k := range names {
		assert.Equal(t, shard.KindString, k.Kind())
	}
}
