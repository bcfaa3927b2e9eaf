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
// The commit's last such statement also reads the phase under a shared
// lock of the state row, held to commit (the fence of the switch to the
// new database, see Phases), and records nothing when the phase moved; a
// commit with nothing left to record reads it in a statement of its own.
//
// The cost is those two round trips per table, one outbox row
// per named key (the row's size again, in the binary log too) and one
// version row per key ever written (16 bytes and overhead, kept: it is
// what orders the key's changes). The version row lock adds no waiting
// beyond the host's own row lock on the key, except for a key named but
// not written (under REPEATABLE READ the read of such a row can then
// deadlock with a writer of it, which takes the row before the version:
// lock the row first, as Outbox.Backfill does). With innodb_autoinc_lock_mode=1 (the default) the
// INSERT ... SELECT holds the outbox's AUTO-INC lock for its statement,
// which serialises concurrent captures for that statement's duration;
// innodb_autoinc_lock_mode=2 removes that.
//
// Outbox.Backfill captures the rows that existed before capture began (the
// new database's initial copy, through the outbox), chunk by chunk, while
// the application writes.
//
// Keys are named as the table stores them: a string key in a
// case-insensitive collation must be given as stored, since the key's text
// decides its version row and bucket. Spatial columns are refused.
//
// # Relay
//
// A Relay (Outbox.NewRelay) drains the outbox through a Transport. The
// outbox is split in Buckets by key hash; a relay delivers a bucket while
// it holds the lock of the bucket's row in dualwrite_buckets, taken with
// SELECT ... FOR UPDATE SKIP LOCKED (MariaDB 10.6+, MySQL 8) in a
// transaction on the primary that lasts one batch of each of up to 16
// buckets (their leases, reads and marks take a few statements for the
// group); a relay works on WithWorkers buckets at a time. A relay that
// finds nothing waits for its poll, or until a transaction of its Outbox
// commits changes in the same process, which wakes it: a relay running in
// each writing process delivers without the poll's delay. Any number of relays in
// any processes share the work; a bucket is delivered by one at a time,
// in outbox id order, so each key's changes arrive in order; the lock of a
// relay that dies goes with its connection. A delivered batch is marked
// in that transaction: a relay killed between delivery and marking leaves
// the batch to be delivered again. Outbox ids are taken when a
// transaction captures, not when it commits, so an entry can also become
// pending after a later id of its bucket was delivered. Neither can take
// a key back: the secondary records each key's version with the changes
// (Direct: dualwrite_applied in the checkpoint database, beside the
// bucket's stream position that makes two relays' transactions of a
// bucket exclude each other), and an entry whose key it holds at that
// version or a later one is skipped.
//
// A failed delivery puts the bucket in backoff (exponential, with jitter)
// while other buckets go on. A batch the secondary rejects (ErrRejected)
// is retried one entry at a time to find the culprit, whose attempts are
// counted; after WithMaxAttempts it moves to dualwrite_dead_letters with
// the error, and the Alerter (WithAlert; NotifierAlerter for workflow
// notifiers) is told, at least once. Other errors (the secondary is down)
// are retried without limit. Outbox.Pause and Resume stop and restart
// every relay; applied entries are deleted after WithRetention.
// Outbox.Metrics and Relay.Stats are the numbers to scrape.
//
// Transports: Direct applies to the secondary database through a
// rowchange.Sink per bucket (the change engine's applier); NATS publishes
// to NATS JetStream and a Consumer applies, many messages in one
// transaction on the secondary, acknowledging each after commit.
//
// # Phases
//
// Outbox.Switch walks off, dual_write, verified, read_new, write_new,
// done, one step forward after checking its precondition (the secondary
// applied the outbox, no dead letter, a clean Outbox.Verify since dual
// writes began, where rows the application changed during the
// verification count as in flight) or one step back; Outbox.Route tells
// the application where to read and write.
//
// Applied means applied on the secondary, whatever the transport: each
// outbox entry records when it was delivered and when it was applied
// (applied_at). Direct applies as it delivers, so the relay marks both at
// once; through NATS the relay marks an entry delivered once the broker
// stored it, and the Consumer marks it applied once its transaction
// committed on the secondary (Outbox.MarkApplied), or once the secondary
// held a later version of its key. A switch counts the entries not
// applied, so a message still in the broker holds it as an undelivered
// entry does, and its refusal names the buckets behind.
//
// The switch to write_new holds the state row while the relays drain the
// outbox and the consumers apply it: commits on the old database wait for
// it (Tx.Commit reads the phase under a shared lock) and fail afterwards
// with ErrWriteMoved, so no write reaches the old database after the
// switch, the new one has every write before it, and no change of the old
// database reaches the new one after it, where it could overwrite a newer
// write; writes pause for the drain, no longer. In
// write_new the application writes the new database and captures its
// changes in an outbox there (WithReverse), relayed to the old one, so
// that going back loses nothing.
//
// # Handing over from a binlog sync
//
// When a binlog sync (migrate.Sync) already keeps the new database in step,
// BeginHandoff and CompleteHandoff move to dual writes with no write lost,
// applied twice or applied out of order, and no exact timing:
//
//  1. BeginHandoff pauses the relays (Pause returns once none delivers)
//     and switches to PhaseDualWrite: the application captures every
//     write while the sync goes on applying it; the outbox fills.
//  2. CompleteHandoff takes the state row's lock, which capturing commits
//     wait for (Tx.Commit), reads the primary's GTID position P and marks
//     the entries committed so far delivered: they are in the binary log
//     before P. It waits for the sync to hold P (SyncControl.Applied),
//     stops it (SyncControl.Stop), resumes the relays and releases the
//     commits. No write of a moved table commits between P and the sync's
//     stop, so every transaction reaches the new database once: through
//     the sync up to P, through the relay after it, each key's versions
//     in order. The writes pause for the sync's lag and its stop (tens of
//     milliseconds when in sync), at most WithHandoffTimeout; a sync too
//     far behind leaves everything as it was, to try again.
//
// Writers must capture as soon as the switch of step 1 is made. One that
// takes its route in its transaction (Tx.Route, a shared lock of the state
// row that the switch waits for) does; one that reads Outbox.Route first
// may act on PhaseOff a little longer, which WithRouteDelay covers. Every
// table the sync moves must be declared, and the outbox tables must not be
// moved (WithOutboxDatabase). TestHandoffFromSync runs writers through the
// handoff of a migrate.Sync and checks both sides equal and every key's
// versions applied in order.
//
// # Mapping
//
// A Table may name another target table and a Map hook that turns the
// primary's row into the target's (column renames, computed columns). It
// runs where changes are delivered, so a corrected Map applies to the
// changes captured before the correction.
package dualwrite
