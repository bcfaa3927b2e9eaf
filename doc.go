// Package shiftgate is an embeddable library for the database chores that
// platform teams and DBAs still do by hand: SQL changes that are reviewed,
// approved and executed through tickets; copying databases and tables
// between MySQL servers; verification that source and target really
// match; live moves with binlog catch-up and cutover, online schema
// changes, moves into, out of and between shards, and dual writes.
//
// The root package holds no code. The work is in its packages:
//
//   - [github.com/shiftgate/shiftgate/migrate]: Executors that change or
//     move data. Each has a dry run (Plan) and a Run with progress and
//     cancellation; migratetest is the conformance suite of that contract.
//   - review: SQL review rules on the TiDB parser.
//   - verify: proof that a copy matches its source.
//   - workflow: tickets, approvals, notifications and audit trail.
//   - shard: sharding keys routed to the databases and tables that hold
//     them, resharding plans, cross-shard queries.
//   - dualwrite: a new database kept in step with the old one while the
//     application writes the old one (a transactional outbox and a relay).
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
//
// # Naming a server
//
// One rule, by who opens the connections:
//
//   - Executors (migrate) open their own connections, with their own
//     timeouts, session settings and pool sizes, and compare the servers
//     they reach (server uuid, port, datadir): they take a go-sql-driver DSN
//     string per server, such as "app@tcp(prod-1:3306)/", whose database
//     part is ignored (the database is a separate argument).
//   - verify reads through pools the caller owns and tunes: it takes
//     *sql.DB, and leaves the pools as it found them.
//   - workflow names servers by instance (workflow.Instance in a
//     workflow.Registry); credentials stay behind a SecretResolver until a
//     ticket runs, and the resolved endpoint is a workflow.DSN, a DSN
//     string whose String, fmt verbs, slog and JSON forms hide the
//     password. It reaches an executor as string(dsn).
//
// A DSN never carries a password in a log, an error or a command line:
// migrate and verify name servers in errors and reports by host:port,
// workflow by instance name and user@host:port.
//
// # Options
//
// Required dependencies are positional (workflow.New(store, registry,
// secrets, reviewer, opts...)); optional ones are functional options that
// validate and are checked against each other at construction. Where
// several constructors share options (migrate's executors, notify's
// notifiers), each constructor has its own option interface and a shared
// option satisfies each of them, so an option given where it does not
// apply does not compile. The same option name has the same shape in every
// package: WithLogger(*slog.Logger), WithChunkTime(time.Duration),
// WithSnapshot(SnapshotMode) with SnapshotNone as the lock-free mode.
package shiftgate
