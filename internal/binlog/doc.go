// Package binlog is the project's one reader of MySQL and MariaDB binary
// logs: a change stream that follows a set of tables from a GTID position
// and delivers their row changes, whole transaction by whole transaction,
// to a rowchange.Sink.
//
// The flow:
//
//   - Check (run by Stream.Run first, and by a Plan) refuses a source
//     whose binary log cannot serve the stream: log_bin off, binlog_format
//     not ROW, binlog_row_image or binlog_row_metadata not FULL, no GTIDs,
//     or a start position whose binary log is purged (ErrPurged: the
//     stream never restarts from another position). It reports the
//     source's binlog retention, for a Plan to compare with the copy time.
//   - Stream.Run registers as a replica (go-mysql's replication package,
//     synchronous event handler, with heartbeats and a read timeout) and
//     asks for the events after the position. The reading goroutine
//     decodes row events with the column names, signedness, charsets and
//     ENUM/SET values of the FULL row metadata into rowchange values,
//     skips the row events of tables not followed without decoding their
//     rows (Stats.Skipped), and hands transactions to Run
//     through a small queue; their changes follow in batches through the
//     Txn's Batches, bounded by a byte budget: when the sink does not keep
//     up, reading stops, so a transaction of a million rows never sits in
//     memory.
//   - Run calls Sink.Apply once per transaction in commit order. Txn.Position
//     is the GTID position after the transaction; a stream created with it
//     as Start resumes right after it. Transactions of other tables only
//     move the position: a position-only Txn at most every second, or at
//     the next heartbeat. A sink that commits transactions in groups
//     (rowchange.Flusher) is flushed whenever Run has handed over all it
//     has read (and nothing came for a millisecond), so that the last
//     transaction of a burst is committed at once while a backlog is
//     applied in full groups; Stream.Position is what the sink made
//     durable.
//   - When the connection is lost, Batches.Next returns an error wrapping
//     ErrConnection, the sink rolls back that transaction (keeping those
//     it accepted before), and Run flushes the sink and reconnects with
//     backoff from the position of the last transaction accepted.
//   - Schema changes on followed tables follow the DDL policy: stop
//     (a *DDLError), skip, or apply (a Txn with DDL set).
//
// The MariaDB flavor is tested against real servers; the MySQL flavor
// (GTID sets as in gtid_executed) follows MySQL 8.0's documentation and is
// untested.
package binlog
