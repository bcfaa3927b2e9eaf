// Package dualwrite keeps a new database in step with the old one while
// the application keeps writing the old one: a transactional outbox on the
// primary, and a relay that delivers it to the secondary.
//
// # Capture
//
// The host declares the tables it dual-writes (Open) and wraps its write
// transaction on the primary (Outbox.Begin, Wrap or Run). After writing a
// row of a declared table it names the row by primary key with
// Tx.Changed. At Commit (or Tx.Flush) the Tx records, in the same
// transaction, the state of every named row as the transaction leaves it:
// the whole row, or its absence. The outbox therefore holds a change if
// and only if the primary committed it, whatever process dies when; and
// what it holds is row state by key, not SQL text, so that delivery is an
// idempotent put or delete by key on the secondary.
//
// Recording a table's named keys takes two statements per 500 keys, run
// on the host's transaction:
//
//  1. INSERT INTO dualwrite_key_versions ... ON DUPLICATE KEY UPDATE
//     version = version + 1 takes the next version of each key and holds
//     its row lock to commit. Two transactions that name one key are
//     thereby ordered: the second waits for the first to commit before it
//     reads the row, so the versions of a key (1, 2, 3...) follow its
//     commits, and so do its outbox ids.
//  2. INSERT INTO dualwrite_outbox ... SELECT ... LEFT JOIN the table by
//     key reads the rows server-side (no row travels to the host) as
//     JSON_OBJECT, NULL for a deleted row.
//
// The cost is those two round trips per commit and table, one outbox row
// per named key (the row's size again, in the binary log too) and one
// version row per key ever written (16 bytes and overhead, kept: it is
// what orders the key's changes). The version row lock adds no waiting
// beyond the host's own row lock on the key, except for a key named but
// not written. With innodb_autoinc_lock_mode=1 (the default) the
// INSERT ... SELECT holds the outbox's AUTO-INC lock for its statement,
// which serialises concurrent captures for that statement's duration;
// innodb_autoinc_lock_mode=2 removes that.
//
// Keys are named as the table stores them: a string key in a
// case-insensitive collation must be given as stored, since the key's text
// decides its version row and bucket. Spatial columns are refused.
//
// # Mapping
//
// A Table may name another target table and a Map hook that turns the
// primary's row into the target's (column renames, computed columns). It
// runs where changes are delivered, so a corrected Map applies to the
// changes captured before the correction.
package dualwrite
