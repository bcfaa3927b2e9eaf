package fence

import (
	"database/sql"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestNamesTable: a statement names a fenced table when it spells it
// qualified by its database, or bare in a session of that database;
// substrings, string literals, comments and another database's table of
// the same name do not count.
func TestNamesTable(t *testing.T) {
	tables := []Table{{"shop", "t"}, {"shop", "Order Items"}}
	for _, c := range []struct {
		stmt, db string
		want     bool
	}{
		{"INSERT INTO t VALUES (1)", "shop", true},
		{"INSERT INTO T VALUES (1)", "SHOP", true},
		{"insert into `t` values (1)", "shop", true},
		{"UPDATE shop.t SET v = 1", "", true},
		{"UPDATE `shop` . `t` SET v = 1", "other", true},
		{`UPDATE "shop"."t" SET v = 1`, "", true},
		{"DELETE FROM `Order Items` WHERE id = 1", "shop", true},
		{"DELETE FROM `order items`", "shop", true},
		{"INSERT INTO t VALUES (1)", "other", false},
		{"INSERT INTO other.t VALUES (1)", "shop", false},
		{"INSERT INTO items VALUES ('t')", "shop", false},
		{"INSERT INTO test VALUES (1)", "shop", false},
		{"UPDATE tt SET note = 'shop.t' WHERE id = 1", "shop", false},
		{"UPDATE u /* t */ SET v = 1 -- t\n", "shop", false},
		{"UPDATE u SET v = 1 # t", "shop", false},
		{"UPDATE u SET v = 'it''s t'", "shop", false},
		{"INSERT INTO other.`t``x` VALUES (1)", "shop", false},
		{"SELECT * FROM u JOIN t USING (id) FOR UPDATE", "shop", true},
	} {
		if got := namesTable(c.stmt, c.db, tables); got != c.want {
			t.Errorf("namesTable(%q, db %q) = %v, want %v", c.stmt, c.db, got, c.want)
		}
	}
}

// TestKillBlocked: under LOCK TABLES, KillBlocked kills the session
// queued for the fenced table and leaves alone a session of another
// database queued for a table of the same name behind someone else's lock
// (before, any waiting statement containing the letters of the table's
// name was killed).
func TestKillBlocked(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	other := sandboxtest.NewDatabase(t, servers[0], "fenceo")
	root := sandboxtest.Open(t, servers[0], d)
	oroot := sandboxtest.Open(t, servers[0], other)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)")
	sandboxtest.Exec(t, oroot, "CREATE TABLE t (id INT PRIMARY KEY)")
	holder := session(t, oroot, "LOCK TABLES t WRITE")
	defer func() { _, _ = holder.ExecContext(ctx, "UNLOCK TABLES") }()

	admin := sandboxtest.Open(t, servers[0], "")
	f, err := New(admin, LockTables, []Table{{d, "t"}}, WithJournal(newJournal(t)), WithDrainTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fe.Release(ctx) }()

	queue := func(db *sql.DB) chan error {
		c := session(t, db, "SET SESSION lock_wait_timeout = 60")
		done := make(chan error, 1)
		go func() { _, err := c.ExecContext(ctx, "INSERT INTO t VALUES (1)"); done <- err }()
		return done
	}
	mine, theirs := queue(root), queue(oroot)
	waitWaiting(t, admin, 2, d, other)
	killed, err := fe.KillBlocked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) != 1 || killed[0].DB != d {
		t.Fatalf("killed %v, want the one session of %s", killed, d)
	}
	select {
	case err := <-mine:
		if err == nil {
			t.Fatal("the fenced table's queued write ran")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced table's queued write was not killed")
	}
	select {
	case err := <-theirs:
		t.Fatalf("the other database's queued write ended: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := holder.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	if err := <-theirs; err != nil {
		t.Fatalf("the other database's write: %v", err)
	}
}

// waitWaiting waits until n sessions of databases a and b wait for a
// table lock.
func waitWaiting(t *testing.T, db *sql.DB, n int, a, b string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table%' AND DB IN (?, ?)", a, b).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a table lock, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
