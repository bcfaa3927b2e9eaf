package apply

import (
	"context"
	"fmt"
	"testing"

	"github.com/shiftgate/shiftgate/internal/rowchange"
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
