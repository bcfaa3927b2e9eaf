package migrate_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shiftgate/shiftgate/migrate"
)

// A copy of database example_shop to another server under the name
// example_shop_pipe: a dry run first, then the copy. The servers are named
// by go-sql-driver DSNs (user:password@tcp(host:port)/) in the environment
// variables SHIFTGATE_EXAMPLE_SOURCE_DSN and SHIFTGATE_EXAMPLE_TARGET_DSN.
func ExamplePipe() {
	ctx := context.Background()
	source := os.Getenv("SHIFTGATE_EXAMPLE_SOURCE_DSN")
	target := os.Getenv("SHIFTGATE_EXAMPLE_TARGET_DSN")

	pipe, err := migrate.NewPipe(source, target, "example_shop",
		migrate.WithTargetDatabase("example_shop_pipe"), migrate.WithReplace())
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := pipe.Plan(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range plan.Tables {
		fmt.Printf("will copy %s\n", t.Name)
	}
	report, err := pipe.Run(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range report.Tables {
		fmt.Printf("copied %s: %d rows\n", t.Name, t.Rows)
	}
	fmt.Printf("%d views, routines, triggers and events\n", len(report.Objects))
	fmt.Println("position recorded:", !report.Position.IsZero())
	// Output:
	// will copy audit_log
	// will copy customers
	// will copy order_items
	// will copy orders
	// will copy products
	// copied audit_log: 0 rows
	// copied customers: 20 rows
	// copied order_items: 300 rows
	// copied orders: 100 rows
	// copied products: 1000 rows
	// 5 views, routines, triggers and events
	// position recorded: true
}
