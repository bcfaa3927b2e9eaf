package migrate_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shiftgate/shiftgate/migrate"
)

// A native copy of database example_shop to another server under the name
// example_shop_copy: a dry run first, then the copy from one consistent
// snapshot. Run again after an interruption, the same copy continues where
// it stopped; WithReplace starts a finished one over. The servers are named
// by go-sql-driver DSNs (user:password@tcp(host:port)/) in the environment
// variables SHIFTGATE_EXAMPLE_SOURCE_DSN and SHIFTGATE_EXAMPLE_TARGET_DSN.
func ExampleCopier() {
	ctx := context.Background()
	source := os.Getenv("SHIFTGATE_EXAMPLE_SOURCE_DSN")
	target := os.Getenv("SHIFTGATE_EXAMPLE_TARGET_DSN")

	copier, err := migrate.NewCopier(source, target, "example_shop",
		migrate.WithTargetDatabase("example_shop_copy"), migrate.WithThreads(2), migrate.WithReplace())
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := copier.Plan(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range plan.Tables {
		fmt.Printf("will copy %s along (%v) in %d segment(s)\n", t.Name, t.Key, t.Segments)
	}
	report, err := copier.Run(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range report.Tables {
		fmt.Printf("copied %s: %d rows\n", t.Name, t.Rows)
	}
	fmt.Println("consistent at a recorded position:", report.Consistent && !report.Position.IsZero())
	// Output:
	// will copy audit_log along ([id]) in 1 segment(s)
	// will copy customers along ([id]) in 1 segment(s)
	// will copy order_items along ([order_id line]) in 1 segment(s)
	// will copy orders along ([id]) in 1 segment(s)
	// will copy products along ([id]) in 1 segment(s)
	// copied audit_log: 0 rows
	// copied customers: 20 rows
	// copied order_items: 300 rows
	// copied orders: 100 rows
	// copied products: 1000 rows
	// consistent at a recorded position: true
}
