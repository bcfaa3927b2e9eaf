package fence

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestExistingSessions measures what a session connected before a REVOKE
// of INSERT sees, by the level it was granted at (the package comment
// quotes the result): table level applies at its next statement (also in
// an open transaction, whose earlier writes still commit, and to a
// statement prepared before), database and global levels do not apply to
// it (until USE, for the database level); a new connection sees every
// level.
func TestExistingSessions(t *testing.T) {
	for _, c := range []struct {
		level, on string
		existing  bool // the existing session may still insert
		afterUse  bool // ... after USE of the database
	}{
		{level: "table", on: "`%s`.t", existing: false, afterUse: false},
		{level: "database", on: "`%s`.*", existing: true, afterUse: false},
		{level: "global", on: "*.*", existing: true, afterUse: true},
	} {
		t.Run(c.level, func(t *testing.T) {
			ctx := t.Context()
			d := sandboxtest.NewDatabase(t, servers[0], "fence")
			root := sandboxtest.Open(t, servers[0], d)
			sandboxtest.Exec(t, root, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY)")
			on := strings.ReplaceAll(c.on, "%s", d)
			a := newAccount(t, "GRANT SELECT ON `"+d+"`.* TO ACCT", "GRANT INSERT ON "+on+" TO ACCT")
			old := session(t, connect(t, a, d), "INSERT INTO t VALUES ()")
			inTrx := session(t, connect(t, a, d), "BEGIN", "INSERT INTO t VALUES ()")
			prepared := session(t, connect(t, a, d), "PREPARE p FROM 'INSERT INTO t VALUES ()'", "EXECUTE p")
			sandboxtest.Exec(t, root, "REVOKE INSERT ON "+on+" FROM "+a.String())
			for name, stmt := range map[string]struct {
				c    *sql.Conn
				stmt string
			}{"idle": {old, "INSERT INTO t VALUES ()"}, "in a transaction": {inTrx, "INSERT INTO t VALUES ()"}, "prepared": {prepared, "EXECUTE p"}} {
				_, err := stmt.c.ExecContext(ctx, stmt.stmt)
				if (err == nil) != c.existing || (err != nil && errno(err) != errDenied) {
					t.Fatalf("existing session (%s) after the revoke: %v", name, err)
				}
			}
			// What the transaction wrote before the revoke commits.
			mustWrite(t, inTrx, "COMMIT")
			mustWrite(t, old, "USE `"+d+"`")
			_, err := old.ExecContext(ctx, "INSERT INTO t VALUES ()")
			if (err == nil) != c.afterUse {
				t.Fatalf("existing session after USE: %v", err)
			}
			mustFail(t, connect(t, a, d), "INSERT INTO t VALUES ()", errDenied)
		})
	}
}

// TestDrain: a session that runs a write or holds a transaction keeps
// Stop waiting; when the wait ends Stop refuses, listing it, and restores
// the grants, or kills it (WithKill). After a database-level revoke an idle
// session connected before it counts too.
func TestDrain(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT, INSERT ON `"+d+"`.t TO ACCT", "GRANT SELECT, INSERT ON `"+d+"`.o TO ACCT")
	b := newAccount(t, "GRANT SELECT, INSERT, UPDATE ON `"+d+"`.* TO ACCT")
	before := grantsOf(t, a)
	admin := sandboxtest.Open(t, servers[0], "")
	newFencer := func(acct Account, opts ...Option) *Fencer {
		f, err := New(admin, Accounts, []Table{{d, "t"}}, append([]Option{WithAccounts(acct), WithJournal(newJournal(t)), WithDrainTimeout(time.Second)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	drainError := func(err error) *DrainError {
		t.Helper()
		var de *DrainError
		if !errors.As(err, &de) || !errors.Is(err, ErrDrain) || len(de.Sessions) != 1 {
			t.Fatalf("Stop: %v, want a *DrainError with one session", err)
		}
		return de
	}

	t.Run("running", func(t *testing.T) {
		c := session(t, connect(t, a, d))
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.ExecContext(ctx, "INSERT INTO t SELECT 100 + SLEEP(4)")
			done <- err
		}()
		waitRunning(t, id)
		_, err := newFencer(a).Stop(ctx)
		de := drainError(err)
		if s := de.Sessions[0]; s.ID != id || s.Command == "Sleep" || !strings.Contains(s.Info, "SLEEP(4)") || !strings.Contains(err.Error(), fmt.Sprint("session ", id)) {
			t.Fatalf("session %+v in %v", s, err)
		}
		sameGrants(t, a, before)
		// The statement started before the revoke: it wrote, which is
		// why the drain waits for it.
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		c := session(t, connect(t, a, d), "BEGIN", "INSERT INTO t VALUES (1)")
		_, err := newFencer(a).Stop(ctx)
		if s := drainError(err).Sessions[0]; !s.InTransaction || s.Command != "Sleep" {
			t.Fatalf("session %+v", s)
		}
		sameGrants(t, a, before)

		fe, err := newFencer(a, WithKill()).Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k := fe.Killed(); len(k) != 1 || !k[0].InTransaction {
			t.Fatalf("killed sessions %+v, want the one in a transaction", k)
		}
		if _, err := c.ExecContext(ctx, "COMMIT"); err == nil {
			t.Fatal("the killed session committed")
		}
		if err := fe.Release(ctx); err != nil {
			t.Fatal(err)
		}
		sameGrants(t, a, before)
		var n int
		if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id = 1").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rows of the killed transaction: %d, %v", n, err)
		}
	})

	t.Run("older", func(t *testing.T) {
		// Idle, no transaction: only a database-level revoke makes it
		// count, as it keeps its privileges.
		c := session(t, connect(t, b, d), "INSERT INTO o VALUES (7)")
		_, err := newFencer(b).Stop(ctx)
		if s := drainError(err).Sessions[0]; !s.Older || s.InTransaction {
			t.Fatalf("session %+v", s)
		}
		fe, err := newFencer(b, WithKill()).Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err == nil {
			t.Fatal("the older session was not killed")
		}
		if err := fe.Release(ctx); err != nil {
			t.Fatal(err)
		}
		// Idle sessions are no concern with table-level grants only.
		session(t, connect(t, a, d), "SELECT 1")
		fa, err := newFencer(a).Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := fa.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// waitRunning waits until session id runs a statement.
func waitRunning(t *testing.T, id int64) {
	t.Helper()
	root := sandboxtest.Open(t, servers[0], "")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var cmd string
		if err := root.QueryRowContext(t.Context(), "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&cmd); err != nil {
			t.Fatal(err)
		}
		if cmd != "Sleep" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session does not run")
		}
	}
}
