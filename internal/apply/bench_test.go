package apply

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// BenchmarkApply measures the apply rate (rows/s) of transactions of one
// row and of 1,000 rows, inserts into a sysbench-like table.
func BenchmarkApply(b *testing.B) {
	for _, per := range []int{1, 1000} {
		b.Run(fmt.Sprint("rows=", per), func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, "sbtest (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k))")
			a := e.applier(b)
			shape := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "sbtest"}, Columns: []string{"id", "k", "c", "pad"}, Key: []int{0}}
			c, pad := fmt.Sprintf("%0120d", 42), fmt.Sprintf("%060d", 7)
			batch := make([]rowchange.Change, per)
			id := int64(0)
			b.ResetTimer()
			for i := range b.N {
				for j := range batch {
					id++
					batch[j] = rowchange.Change{Shape: shape, Op: rowchange.Insert, After: []any{id, id % 1000, c, pad}}
				}
				pos := fmt.Sprint(i + 1)
				if err := a.Apply(ctx, rowchange.Txn{ID: pos, Position: pos, Changes: &batchList{list: [][]rowchange.Change{batch}}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(id)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkApplySysbench measures the apply rate (txns/s) of transactions
// shaped as sysbench oltp_write_only's over 4 tables of 10,000 rows: an
// index update, a non-index update, and a delete and insert of one id,
// each on a table drawn at random. It compares each transaction
// committed alone with smaller groups and the default ones.
func BenchmarkApplySysbench(b *testing.B) {
	const tables, rows = 4, 10_000
	for _, g := range []struct {
		n     int
		delay time.Duration
	}{{1, 0}, {100, 20 * time.Millisecond}, {DefaultGroupTxns, DefaultGroupDelay}} {
		b.Run(fmt.Sprintf("group=%d,delay=%s", g.n, g.delay), func(b *testing.B) {
			ctx := context.Background()
			var ddl []string
			for i := 1; i <= tables; i++ {
				ddl = append(ddl, fmt.Sprintf("sbtest%d (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k))", i))
			}
			e := newEnv(b, ddl...)
			use := sandboxtest.Open(b, servers[0], e.target) // for the sequence tables
			shapes := make([]*rowchange.Shape, tables)
			for i := range shapes {
				name := fmt.Sprint("sbtest", i+1)
				sandboxtest.Exec(b, use, fmt.Sprintf("INSERT INTO %s SELECT seq, seq %% 1000, REPEAT('c', 119), REPEAT('p', 59) FROM seq_1_to_%d",
					schema.QuoteIdent(name), rows))
				shapes[i] = &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: name}, Columns: []string{"id", "k", "c", "pad"}, Key: []int{0}}
			}
			a := e.applier(b, WithGroupCommit(g.n, g.delay))
			rng := rand.New(rand.NewPCG(1, 2))
			sbRow := func(id int64) []any {
				return []any{id, id % 1000, fmt.Sprintf("%0119d", rng.Int64N(1e18)), fmt.Sprintf("%059d", rng.Int64N(1e18))}
			}
			pick := func() (*rowchange.Shape, int64) { return shapes[rng.IntN(tables)], 1 + rng.Int64N(rows) }
			b.ResetTimer()
			for i := range b.N {
				s1, id1 := pick()
				s2, id2 := pick()
				s3, id3 := pick()
				up1, up2, old := sbRow(id1), sbRow(id2), sbRow(id3)
				up1[1] = up1[1].(int64) + 1
				changes := []rowchange.Change{
					upd(s1, sbRow(id1), up1),
					upd(s2, sbRow(id2), up2),
					del(s3, old...),
					ins(s3, sbRow(id3)...),
				}
				pos := fmt.Sprint(i + 1)
				if err := a.Apply(ctx, rowchange.Txn{ID: pos, Position: pos, Changes: &batchList{list: [][]rowchange.Change{changes}}}); err != nil {
					b.Fatal(err)
				}
			}
			if err := a.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
		})
	}
}
