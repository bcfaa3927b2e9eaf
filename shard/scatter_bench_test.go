package shard_test

import (
	"fmt"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

// benchRows and benchShards are the seed's table: test(id, name, addTime)
// with 1M rows, split into test_1 .. test_32 on one server.
const (
	benchRows   = 1_000_000
	benchShards = 32
)

// BenchmarkScatterGather compares, on the seed's data, each query over the
// 32 shards (Gatherer with its default concurrency, then the merge)
// against the same query on the unsharded table (through the same
// Gatherer, one location):
//
//	go test -run '^$' -bench ScatterGather -benchtime 20x ./shard/
func BenchmarkScatterGather(b *testing.B) {
	s := server()
	db := sandboxtest.Open(b, s, "")
	var pool int64
	if err := db.QueryRowContext(b.Context(), "SELECT @@innodb_buffer_pool_size").Scan(&pool); err != nil {
		b.Fatal(err)
	}
	// Both copies of the table fit in memory, as they would on a server
	// sized for them.
	sandboxtest.Exec(b, db, "SET GLOBAL innodb_buffer_pool_size = 512*1024*1024")
	b.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf("SET GLOBAL innodb_buffer_pool_size = %d", pool)) })

	name := sandboxtest.NewDatabase(b, s, "shardq_bench")
	const def = "(id INT NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, addTime DATETIME NOT NULL, KEY (addTime))"
	sandboxtest.Exec(b, db,
		"CREATE TABLE `"+name+"`.test "+def,
		fmt.Sprintf("INSERT INTO `%s`.test SELECT seq, CONCAT('name', seq), '2024-01-01' + INTERVAL (seq * 7919) %% 31536000 SECOND FROM `%s`.seq_1_to_%d", name, name, benchRows))
	unsharded := []shard.Location{{Shard: 1, Database: name, Table: "test"}}
	var locs []shard.Location
	for n := 1; n <= benchShards; n++ {
		locs = append(locs, shard.Location{Shard: n, Database: name, Table: fmt.Sprintf("test_%d", n)})
		sandboxtest.Exec(b, db,
			fmt.Sprintf("CREATE TABLE `%s`.test_%d %s", name, n, def),
			fmt.Sprintf("INSERT INTO `%s`.test_%d SELECT * FROM `%s`.test WHERE id %% %d + 1 = %d", name, n, name, benchShards, n),
			fmt.Sprintf("ANALYZE TABLE `%s`.test_%d", name, n))
	}
	db.SetMaxIdleConns(shard.DefaultConcurrency) // else each gather opens connections anew
	g, err := shard.NewGatherer(shard.Hosts{"": db})
	if err != nil {
		b.Fatal(err)
	}
	page := "SELECT id, name, addTime FROM {table} %s ORDER BY addTime DESC, id DESC LIMIT {limit}"
	order := []shard.Order{{Column: "addTime", Desc: true}, {Column: "id", Desc: true}}
	count := shard.Query{SQL: "SELECT COUNT(*) AS n FROM {table}"}
	for _, c := range []struct {
		name, hint string
		locs       []shard.Location
	}{
		{"unsharded", "", unsharded},
		{"32-shards", "", locs},
		// MariaDB reads the 31k-row shards whole and sorts them rather
		// than walk the index: the hint shows what the index gives.
		{"32-shards-force-index", "FORCE INDEX (addTime)", locs},
	} {
		b.Run("order-by-limit-100/"+c.name, func(b *testing.B) {
			q := shard.Query{SQL: fmt.Sprintf(page, c.hint)}
			for b.Loop() {
				r, err := g.Ordered(b.Context(), c.locs, q, order, 0, 100)
				if err != nil || len(r.Rows) != 100 {
					b.Fatal(err, len(r.Rows))
				}
			}
		})
		if c.hint != "" {
			continue
		}
		b.Run("count/"+c.name, func(b *testing.B) {
			for b.Loop() {
				gathered, err := g.Gather(b.Context(), c.locs, count)
				if err != nil {
					b.Fatal(err)
				}
				r, err := shard.MergeAggregate(gathered, nil, []shard.Aggregate{{Func: shard.AggCount, Column: "n"}})
				if err != nil || r.Rows[0][0] != int64(benchRows) {
					b.Fatal(err, r.Rows)
				}
			}
		})
	}
}
