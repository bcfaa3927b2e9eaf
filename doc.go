// Package shiftgate is an embeddable library for the database chores that
// platform teams and DBAs still do by hand: SQL changes that are reviewed,
// approved and executed through tickets; copying databases and tables
// between MySQL servers; and verification that source and target really
// match. Live moves with binlog catch-up and cutover, sharding and dual
// writes are planned and not built yet.
//
// The root package holds no code. The work is in its packages:
//
//   - [github.com/shiftgate/shiftgate/migrate]: Executors that change or
//     move data. Each has a dry run (Plan) and a Run with progress and
//     cancellation, and passes the conformance suite in migratetest.
//   - review: SQL review rules on the TiDB parser.
//   - verify: proof that a copy matches its source.
//   - workflow: tickets, approvals, notifications and audit trail.
//   - shard and dualwrite: reserved; they hold no code yet.
//
// A copy of one database to another server, with a dry run first:
//
//	pipe, err := migrate.NewPipe(
//		"app@tcp(prod-1:3306)/", "app@tcp(test-2:3306)/", "shop",
//		migrate.WithTargetDatabase("shop_copy"),
//		migrate.WithLogger(logger),
//	)
//	if err != nil {
//		return err // a bad DSN or option, named
//	}
//	plan, err := pipe.Plan(ctx) // connects, checks, changes nothing
//	if err != nil {
//		return err // every failed precondition, each naming its object
//	}
//	report, err := pipe.Run(ctx, func(p migrate.Progress) { log.Print(p) })
//
// The report carries the rows per table and the source binlog position the
// copy is consistent with.
package shiftgate
