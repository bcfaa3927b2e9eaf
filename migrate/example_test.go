package migrate_test

import (
	"context"
	"fmt"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/migrate"
)

// A copy of database shop to another server under the name shop_copy: a dry
// run first, then the copy.
func ExamplePipe() {
	ctx := context.Background()
	source, target := servers[0], servers[1] // throwaway MariaDB servers
	db, _ := source.Open("")
	defer db.Close()
	_, _ = db.Exec("DROP DATABASE IF EXISTS example_shop")
	if err := sampledata.Create(ctx, db, "example_shop", 100); err != nil {
		fmt.Println(err)
		return
	}
	defer db.Exec("DROP DATABASE example_shop")

	pipe, err := migrate.NewPipe(source.DSN(""), target.DSN(""), "example_shop",
		migrate.WithTargetDatabase("example_shop_copy"), migrate.WithReplace())
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

	tdb, _ := target.Open("")
	defer tdb.Close()
	defer tdb.Exec("DROP DATABASE example_shop_copy")
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
