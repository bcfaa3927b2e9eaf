package dualwrite

import (
	"fmt"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// BenchmarkWrite is the host's write transaction of 1 and 10 rows with
// capture off (a plain transaction) and on: the ratio of the two is the
// write overhead of dual writes.
func BenchmarkWrite(b *testing.B) {
	ctx := b.Context()
	database := sandboxtest.NewDatabase(b, servers[0], "bench")
	db := sandboxtest.Open(b, servers[0], database)
	sandboxtest.Exec(b, db, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)")
	o, err := Open(ctx, db, database, []Table{{Name: "items"}})
	if err != nil {
		b.Fatal(err)
	}
	const upsert = "INSERT INTO items VALUES (?, 'name', 1) ON DUPLICATE KEY UPDATE v = v + 1"
	for _, rows := range []int{1, 10} {
		b.Run(fmt.Sprintf("off/%drows", rows), func(b *testing.B) {
			next := 0
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for range rows {
					next++
					if _, err := tx.ExecContext(ctx, upsert, next%10000); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("capture/%drows", rows), func(b *testing.B) {
			next := 0
			for b.Loop() {
				err := o.Run(ctx, func(tx *Tx) error {
					for range rows {
						next++
						if _, err := tx.ExecContext(ctx, upsert, next%10000); err != nil {
							return err
						}
						if err := tx.Changed("items", next%10000); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
