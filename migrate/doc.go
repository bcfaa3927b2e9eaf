// Package migrate holds the Executors that change or move data.
//
// An Executor describes its work and checks its preconditions without
// changing anything (Plan), then does it with progress reports and
// cancellation through the context (Run) and returns a Report: rows, bytes,
// time and the source binlog position the copy is consistent with.
//
// Pipe copies a database or some of its tables by streaming mariadb-dump
// into the mariadb client. Copier copies them natively: parallel
// keyset-chunked reads from one consistent snapshot, LOAD DATA LOCAL INFILE
// writes, a checkpoint per chunk committed with its rows so that a killed
// copy resumes, and memory bounded by bytes in flight. Split copies one
// table into the shards of a shard.Router's layout with the same engine
// (internal/copyengine), routing rows in Go; Merge is its reverse (every
// shard table into one table), and Rebalance moves rows from one layout to
// another as a shard.Plan says (the rows that move are split into staging
// tables, then published; deleting them from their old shards is the
// host's step). Each constructor takes its own option interface
// (PipeOption, CopierOption, SplitOption, MergeOption, StatementsOption);
// an option several take, such as WithTables, WithThreads (EngineOption),
// WithReplace (RowsOption) or WithLogger, satisfies each of their
// interfaces, so an option given to an
// executor it does not apply to does not compile. The conformance suite
// in migratetest checks the Executor contract for any implementation.
package migrate
