package migrate_test

import (
	"context"
	"fmt"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/migrate"
)

// A native copy of database shop to another server under the name
// shop_copy: a dry run first, then the copy from one consistent snapshot.
// Run again after an interruption, the same copy continues where it
// stopped.
func ExampleCopier() {
	ctx := context.Background()
	source, target := servers[0], servers[1] // throwaway MariaDB servers
	db, _ := source.Open("")
	defer db.Close()
	_, _ = db.Exec("DROP DATABASE IF EXISTS example_shop2")
	if err := sampledata.Create(ctx, db, "example_shop2", 100); err != nil {
		fmt.Println(err)
		return
	}
	defer db.Exec("DROP DATABASE example_shop2")

	copier, err := migrate.NewCopier(source.DSN(""), target.DSN(""), "example_shop2",
		migrate.WithTargetDatabase("example_shop2_copy"), migrate.WithThreads(2))
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

	tdb, _ := target.Open("")
	defer tdb.Close()
	defer tdb.Exec("DELETE FROM _shiftgate.copy_segments WHERE target_db = 'example_shop2_copy'")
	defer tdb.Exec("DELETE FROM _shiftgate.copy_runs WHERE target_db = 'example_shop2_copy'")
	defer tdb.Exec("DROP DATABASE example_shop2_copy")
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
