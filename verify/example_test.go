package verify_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	_ "github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/verify"
)

// Verify a copy, print what differs and the SQL that repairs it, repair it
// and verify again. The servers are named by go-sql-driver DSNs
// (user:password@tcp(host:port)/) in the environment variables
// SHIFTGATE_EXAMPLE_SOURCE_DSN and SHIFTGATE_EXAMPLE_TARGET_DSN; both hold
// table example_verify.orders, whose copy on the target differs.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	source, err := sql.Open("mysql", os.Getenv("SHIFTGATE_EXAMPLE_SOURCE_DSN"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer source.Close()
	target, err := sql.Open("mysql", os.Getenv("SHIFTGATE_EXAMPLE_TARGET_DSN"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()

	v, err := verify.New(source, target)
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := v.Verify(ctx, verify.Pair("example_verify", "orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range report.Tables {
		fmt.Printf("%s: %d rows, %d missing, %d extra, %d changed\n", t.SourceTable, t.Rows, t.Missing, t.Extra, t.Changed)
		for _, d := range t.Diffs {
			fmt.Println(d.Kind, d.Key, d.Source, d.Target)
		}
	}
	var repair strings.Builder
	_ = report.WriteRepairSQL(&repair)
	// The first line names the servers (host:port); print the rest.
	_, sql, _ := strings.Cut(repair.String(), "\n")
	fmt.Print(sql)

	if _, err := v.Repair(ctx, report); err != nil {
		fmt.Println(err)
		return
	}
	again, _ := v.Verify(ctx, verify.Pair("example_verify", "orders"))
	fmt.Println("clean after repair:", again.Clean())
	// Output:
	// orders: 3 rows, 1 missing, 1 extra, 1 changed
	// missing [2] [2 'two'] []
	// changed [3] [3 NULL] [3 '']
	// extra [4] [] [4 'four']
	// -- example_verify.orders: 1 missing, 1 extra, 1 changed
	// SET NAMES utf8mb4;
	// SET SESSION time_zone = '+00:00';
	// SET SESSION foreign_key_checks = 0;
	// SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';
	// START TRANSACTION;
	// DELETE FROM `example_verify`.`orders` WHERE `id` IN (4);
	// COMMIT;
	// START TRANSACTION;
	// INSERT INTO `example_verify`.`orders` (`id`, `note`) VALUES (2, 'two'), (3, NULL) ON DUPLICATE KEY UPDATE `id` = VALUES(`id`), `note` = VALUES(`note`);
	// COMMIT;
	// clean after repair: true
}
