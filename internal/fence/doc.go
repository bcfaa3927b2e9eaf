// Package fence stops writes to a set of tables on a source server for a
// cutover, and restores them: the manual steps of a live move (make the
// application's account read-only, watch the process list until its
// traffic is gone) as one call.
//
// A Fencer is built once with New and a Method; Stop fences, Release
// undoes. Before it changes anything, Stop checks its input (accounts and
// tables exist, the fencer holds the privileges it needs, the grants can
// be narrowed to the tables) and writes what it will change to a Journal,
// so that Recover, after a crash, restores it.
//
// # Methods
//
// Accounts revokes the named accounts' write privileges on the tables
// (INSERT, UPDATE, DELETE, DELETE HISTORY, DROP, ALTER, INDEX, TRIGGER:
// REPLACE needs INSERT and DELETE, LOAD DATA needs INSERT, TRUNCATE needs
// DROP, RENAME needs ALTER and DROP; CREATE is left, as it cannot touch an
// existing table without DROP). A table-level grant is revoked on the
// table. A database-level grant (by name, or by a pattern that matches no
// database other than the fenced tables' ones) is revoked on the database
// after the same privileges were granted on each of its other tables, so
// that the account goes on writing those; Release gives the database-level
// grant back first, then revokes what it added. Global write privileges,
// a database pattern that matches other databases, write privileges through
// a role or PUBLIC, and column-level INSERT or UPDATE on a fenced table are
// refused with ErrBroadGrant: narrowing them would change what the account
// may do elsewhere. SHOW GRANTS after Release lists the same lines as
// before, byte for byte (table-level lines may come in another order: the
// server lists them in hash order).
//
// What an account's sessions that are already connected see, as measured
// on MariaDB 10.11 (TestExistingSessions): a revoked table-level privilege
// applies to them at their next statement, inside an open transaction and
// for a statement prepared before the revoke too (though what the
// transaction wrote before still commits); a revoked database-level
// privilege does not apply to them until they run USE of the database, a
// revoked global one not at all: they go on writing, only new connections
// see it. So after a database-level revoke the fence is trusted only once
// every session of the accounts that existed at the revoke has ended (the
// drain waits for that, or kills them by option); after table-level
// revokes only, once no session of the accounts runs a statement or holds
// an open transaction (on any table: the server does not say which tables
// a transaction wrote). Sessions are matched by user name: the process
// list does not say which host pattern a session authenticated with.
// Writes the accounts make through views, routines or triggers that run
// with another definer's privileges are not fenced, nor writes to tables
// created while the fence holds in a database whose grant it narrowed
// (CREATE stays, the other privileges are not there yet).
//
// LockTables holds LOCK TABLES ... WRITE on a connection of the fence's
// own: every other session's reads and writes of the tables wait. Taking
// the lock waits (up to the drain timeout) for every transaction that used
// the tables. While it holds, the tables can be read only through
// Fence.Conn: a verification that reads the source must use that session,
// or use FlushTables. A catch-up reading the binary log is not affected.
//
// FlushTables holds FLUSH TABLES ... WITH READ LOCK on a connection of its
// own: other sessions' writes to the tables wait, their reads go on, so the
// source can be read for verification from any session.
//
// A lock lasts as long as its connection: it dies with the process that
// holds it (nothing to recover), and if the connection dies before Release
// writes may have resumed unseen: Check and Release report ErrLockLost.
// Writes that wait behind a lock are not refused: they run on the source
// as soon as the lock goes (Release, or the fencer's death), unless their
// own lock_wait_timeout ended first. After a cutover, release a lock only
// once the application's sessions on the source are gone, or prefer
// Accounts or ReadOnly, whose writes fail instead of waiting.
//
// ReadOnly sets the server's global read_only to 1 and restores its
// previous value. It stops every account's writes on every table, except
// those of sessions with READ_ONLY ADMIN (SUPER, on versions before
// MariaDB 10.11 and on MySQL), whose use by a named account is refused with
// ErrBypass. Setting it waits, up to the drain timeout, for statements
// that are running; it does not wait for an open transaction, which cannot
// commit afterwards (its statements and COMMIT fail with error 1290,
// measured on MariaDB 10.11), so no drain is needed.
//
// GRANT and REVOKE go to the source's binary log like other account
// statements; a change stream reading it sees them.
package fence
