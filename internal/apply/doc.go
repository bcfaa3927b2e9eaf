// Package apply writes a change stream into a target database: an Applier
// is the rowchange.Sink of a binlog sync or an outbox relay. It applies
// source transactions in target transactions, with the stream position
// saved in the checkpoint in the same target transaction, so that every
// transaction is applied exactly once whatever crashes.
//
// # The method
//
// A change becomes operations on the target keyed by the target table's
// row key (its primary key, or else a unique NOT NULL key):
//
//   - Delete removes the row of its Before key;
//   - Insert puts its After row;
//   - Update removes the row of its Before key when the key changes, then
//     puts its After row.
//
// Put depends on the target table's unique keys. A table whose row key is
// its only unique key puts with INSERT ... ON DUPLICATE KEY UPDATE, which
// can then only meet the row of the same key (and replaces it). A table
// with other unique keys puts as delete-by-key followed by a plain INSERT:
// the row of the same key is replaced, and a row holding one of the other
// unique values is never deleted or changed, as REPLACE or ON DUPLICATE KEY
// UPDATE would: the INSERT fails with the server's duplicate-key error,
// which stops the sync. Either way a delete of an absent row and a put of
// a present one converge (a redelivered or overlapping change is
// harmless on the row it names).
//
// The operations of one target table are batched as a set of keys to
// delete followed by a list of rows to insert in source order, executed as
// DELETE ... WHERE key IN (...) and then multi-row INSERT statements. That
// order is the source's, for three reasons:
//
//   - a delete moved before earlier inserts of other keys only frees key
//     values earlier; none of those inserts needed the deleted row;
//   - a delete of a key whose insert is pending in the batch cancels that
//     insert (the row never reaches the target) and stays in the delete
//     set for the row the target may hold from before the batch; so a row
//     changed many times in one batch is written once, as its last image;
//   - the inserts run in source order, and InnoDB checks unique keys row
//     by row as the source did, so an insert that succeeded on the source
//     succeeds here: a swap of unique values (A takes B's value, B takes
//     A's, through a third value as the source must), primary key updates
//     (UPDATE t SET id = id + 1) and rows deleted and inserted again stay
//     correct.
//
// Where the source writes every column the target table takes and puts
// use ON DUPLICATE KEY UPDATE, a put drops a pending delete of its key:
// it replaces the whole row anyway (a row deleted and inserted again
// costs one statement, not two).
//
// Tables do not interact (the session runs with foreign_key_checks=0, as
// the source's row events already hold what cascades did), so each table
// has its own batch, executed when it grows past a size bound (a
// transaction of any size is applied in bounded memory) and at the
// commit. The reasons hold for any sequence of changes in source order,
// so batches span the source transactions of a group (see Group commit):
// the group's changes of one table become a few statements. Keys are
// matched by their encoded values: a source
// gives the key of a row as the row holds it (the binlog does), so that a
// later change of the row finds the pending one.
//
// # Exactly once
//
// The position of a transaction is saved with checkpoint.Store.SaveStream
// in the target transaction that applies it; the save expects the version
// it last read, so a second applier of the same stream fails instead of
// interleaving. A transaction whose position (or id) is the one stored is
// skipped: the stream redelivers what it cannot know was applied.
// WithCovered recognises older positions too. A transaction that only
// advances the position (heartbeats, filtered transactions) is saved at
// most once per WithPositionInterval, on its own.
//
// # Group commit
//
// A COMMIT, a checkpoint save and a few statements per source transaction
// cost more round trips than anything else in a stream of small
// transactions. So consecutive source transactions share one target
// transaction, a group, with one save: the position of the last
// (WithGroupCommit); and the batches of each table span the group. A
// group commits when it is full (transactions or bytes), when it is old
// enough (checked as each transaction ends), before a DDL, and at Flush,
// which the stream calls whenever it has delivered all it has read
// (rowchange.Flusher). A crash or an error discards the open group whole,
// with its position: the checkpoint still holds the last group committed,
// and the stream resumes after it. Stats count only what is committed. As
// a group's statements run at its commit, an error of the target (a
// duplicate key) may come from Flush or from the Apply of a later
// transaction; it names the table and the group's last transaction.
//
// When a transaction's changes cannot be read whole (Batches.Next fails:
// the source connection was lost), that transaction alone is undone and
// the group stays open: a transaction whose changes are small (under
// 1 MiB) is read whole, copied, before any of it is written, so there is
// nothing to undo; a larger one is written as it is read, after the
// batches of the transactions before it are executed and a savepoint is
// set, and is rolled back to it. Apply then returns Next's error, and the
// stream delivers that transaction again after it reconnects. Should the
// rollback fail, the group is discarded and the error says so without
// wrapping Next's, which stops the stream (rowchange.Sink).
//
// # Schema changes
//
// A transaction with a DDL runs the statement on the target with the
// target database as the default database, then saves the position (two
// commits: a crash between them runs the statement again when the
// transaction is redelivered, which fails loudly unless it is
// idempotent). Table names inside the statement are not rewritten: a
// statement is refused with ErrDDL when one of its tables maps to another
// name, or maps elsewhere while the statement names the source database.
package apply
