package fence

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestLock: while LOCK TABLES ... WRITE holds, other sessions neither write
// nor read the tables (the fence's Conn reads them); while FLUSH TABLES
// ... WITH READ LOCK holds, they read but do not write. Release lets them
// write; Release after the lock's session died reports ErrLockLost.
func TestLock(t *testing.T) {
	for _, m := range []Method{LockTables, FlushTables} {
		t.Run(m.String(), func(t *testing.T) {
			ctx := t.Context()
			d := sandboxtest.NewDatabase(t, servers[0], "fence")
			root := sandboxtest.Open(t, servers[0], d)
			sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE u (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
			admin := sandboxtest.Open(t, servers[0], "")
			f, err := New(admin, m, []Table{{d, "t"}, {d, "u"}}, WithJournal(newJournal(t)), WithDrainTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			fe, err := f.Stop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w := session(t, root, "SET SESSION lock_wait_timeout = 1")
			mustFail(t, w, "INSERT INTO t VALUES (1)", errLockWait)
			mustFail(t, w, "DELETE FROM u", errLockWait)
			mustWrite(t, w, "INSERT INTO o VALUES (1)")
			var n int
			err = w.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n)
			if m == LockTables {
				if errno(err) != errLockWait {
					t.Fatalf("read under LOCK TABLES WRITE: %v", err)
				}
				if err := fe.Conn().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+Table{d, "t"}.String()).Scan(&n); err != nil {
					t.Fatalf("read through the fence's session: %v", err)
				}
			} else if err != nil {
				t.Fatalf("read under FLUSH TABLES WITH READ LOCK: %v", err)
			}
			if err := fe.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if err := fe.Release(ctx); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, w, "INSERT INTO t VALUES (1)")

			// The lock's session dies while the fence is up.
			fe, err = f.Stop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := fe.Conn().QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, admin, "KILL CONNECTION "+strconv.FormatInt(id, 10))
			mustWrite(t, w, "SET SESSION lock_wait_timeout = 30")
			mustWrite(t, w, "INSERT INTO t VALUES (2)")
			if err := fe.Check(ctx); !errors.Is(err, ErrLockLost) {
				t.Fatalf("Check after the lock's session died: %v", err)
			}
			if err := fe.Release(ctx); !errors.Is(err, ErrLockLost) {
				t.Fatalf("Release after the lock's session died: %v", err)
			}
		})
	}
}

// TestLockWait: a transaction that used the table keeps the lock from
// being taken; Stop refuses with ErrDrain when the wait ends, leaving
// nothing locked.
func TestLockWait(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)")
	c := session(t, root, "BEGIN", "INSERT INTO t VALUES (1)")
	f, err := New(sandboxtest.Open(t, servers[0], ""), LockTables, []Table{{d, "t"}}, WithDrainTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stop(ctx); !errors.Is(err, ErrDrain) {
		t.Fatalf("Stop: %v", err)
	}
	mustWrite(t, c, "INSERT INTO t VALUES (2)")
	mustWrite(t, c, "COMMIT")
}

// TestReadOnly: read_only stops the account's writes everywhere, also
// the commit of a transaction open when it was set (measured: setting it
// does not wait for such a transaction; it waits for a statement that
// runs), and is restored to its old value
// by Release; an account that bypasses it is refused.
func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	restoreReadOnlyAtEnd(t)
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT, INSERT ON `"+d+"`.* TO ACCT")
	app := connect(t, a, d)
	mustWrite(t, app, "INSERT INTO t VALUES (1)")
	admin := sandboxtest.Open(t, servers[0], "")
	f, err := New(admin, ReadOnly, nil, WithAccounts(a), WithJournal(newJournal(t)))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, app, "INSERT INTO t VALUES (2)", errReadOnly)
	if err := fe.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, app, "INSERT INTO t VALUES (2)")
	var v int
	if err := admin.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&v); err != nil || v != 0 {
		t.Fatalf("read_only after Release: %d, %v", v, err)
	}

	// A transaction in progress does not keep read_only from being set,
	// and cannot commit afterwards.
	c := session(t, app, "BEGIN", "INSERT INTO t VALUES (10)")
	f, err = New(admin, ReadOnly, nil, WithAccounts(a), WithJournal(newJournal(t)), WithDrainTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if fe, err = f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mustFail(t, c, "INSERT INTO t VALUES (11)", errReadOnly)
	mustFail(t, c, "COMMIT", errReadOnly)
	if err := fe.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+d+"`.t WHERE id >= 10").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the transaction: %d, %v", n, err)
	}

	// A statement that runs keeps read_only from being set: Stop refuses
	// when the wait ends.
	var id int64
	if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, "INSERT INTO t SELECT 100 + SLEEP(3)")
		done <- err
	}()
	waitRunning(t, id)
	if _, err := f.Stop(ctx); !errors.Is(err, ErrDrain) {
		t.Fatalf("Stop while a statement runs: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// SUPER no longer bypasses read_only on MariaDB 10.11; READ_ONLY ADMIN does.
	super := newAccount(t, "GRANT SUPER ON *.* TO ACCT", "GRANT INSERT ON `"+d+"`.* TO ACCT")
	admins := newAccount(t, "GRANT READ_ONLY ADMIN ON *.* TO ACCT", "GRANT INSERT ON `"+d+"`.* TO ACCT")
	mustWrite(t, admin, "SET GLOBAL read_only = 1")
	mustFail(t, connect(t, super, d), "INSERT INTO t VALUES (3)", errReadOnly)
	mustWrite(t, connect(t, admins, d), "INSERT INTO t VALUES (3)")
	mustWrite(t, admin, "SET GLOBAL read_only = 0")
	f, err = New(admin, ReadOnly, nil, WithAccounts(admins), WithJournal(newJournal(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stop(ctx); !errors.Is(err, ErrBypass) {
		t.Fatalf("Stop with %s: %v", admins, err)
	}
	f, err = New(admin, ReadOnly, nil, WithAccounts(super), WithJournal(newJournal(t)))
	if err != nil {
		t.Fatal(err)
	}
	if fe, err = f.Stop(ctx); err != nil {
		t.Fatalf("Stop with %s: %v", super, err)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
