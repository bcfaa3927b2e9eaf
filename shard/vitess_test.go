package shard

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVitessDirectRanges(t *testing.T) {
	l, err := ParseLayout([]byte(`{"method": "range", "database": "shard{n}", "table": "orders", "column": "id",
		"ranges": [{"shard": 1, "from": 0, "to": 1000000}, {"shard": 2, "from": 1000000, "to": 5000000}, {"shard": 3, "from": 5000000}]}`), "json")
	require.NoError(t, err)
	ks, err := l.Vitess()
	require.NoError(t, err)
	got, err := json.Marshal(ks.VSchema)
	require.NoError(t, err)
	assert.JSONEq(t, `{"sharded": true, "vindexes": {"numeric": {"type": "numeric"}},
		"tables": {"orders": {"column_vindexes": [{"column": "id", "name": "numeric"}]}}}`, string(got))
	require.Len(t, ks.Shards, 3)
	assert.Equal(t, "-00000000000f4240", ks.Shards[0].Name)
	assert.Equal(t, "00000000000f4240-00000000004c4b40", ks.Shards[1].Name)
	assert.Equal(t, "00000000004c4b40-", ks.Shards[2].Name)
	assert.Equal(t, "shard2.orders", ks.Shards[1].Location.String())
	assert.Empty(t, ks.Notes)

	one := &Layout{Method: MD5, Shards: 1, Database: "app", Table: "test"}
	ks, err = one.Vitess()
	require.NoError(t, err)
	assert.False(t, ks.VSchema.Sharded)
	assert.Contains(t, ks.VSchema.Tables, "test")
}

func TestVitessNotDirect(t *testing.T) {
	_, err := seedLayout(MD5, 32).Vitess()
	require.ErrorIs(t, err, ErrNotVitessDirect)
	assert.ErrorContains(t, err, "method md5 picks a shard by a remainder")
	assert.ErrorContains(t, err, "several shard tables in one database")
	assert.ErrorContains(t, err, `table template "test_{n}" names each shard's table apart`)
	assert.ErrorContains(t, err, "names no column")

	l := &Layout{Method: Range, Database: "s{n}", Table: "t", Column: "id", Ranges: []RangeSpec{
		{Shard: 1, From: Bound{Int(-10)}, To: Bound{Int(0)}}, {Shard: 2, From: Bound{Int(0)}}}}
	_, err = l.Vitess()
	assert.ErrorContains(t, err, "shard 1: bound -10: the numeric vindex maps only non-negative keys")
}

// TestVitessOneDatabasePerShard: {n} in the database template puts each
// shard in its own database even without tables_per_database.
func TestVitessOneDatabasePerShard(t *testing.T) {
	l := &Layout{Method: Range, Database: "db", Table: "t", Column: "id", TablesPerDatabase: 0, Ranges: []RangeSpec{
		{Shard: 1, To: Bound{Int(10)}}, {Shard: 2, From: Bound{Int(10)}}}}
	l.Database = "db_{n}"
	_, err := l.Vitess()
	require.NoError(t, err)
	l.Database, l.Table = "db", "t{n}"
	_, err = l.Vitess()
	assert.ErrorContains(t, err, "several shard tables in one database")
}
