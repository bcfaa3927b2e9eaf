package fence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

// appPassword is the test accounts' password.
const appPassword = "app-pw"

// newAccount creates an account app_<random>@'%' on the server, runs
// grants (each with ACCT standing for the account), and drops it at the end.
func newAccount(t *testing.T, grants ...string) Account {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	a := Account{User: "app_" + hex.EncodeToString(rnd[:]), Host: "%"}
	root := sandboxtest.Open(t, servers[0], "")
	sandboxtest.Exec(t, root, "CREATE USER "+a.String()+" IDENTIFIED BY '"+appPassword+"'")
	t.Cleanup(func() { execAtEnd("DROP USER IF EXISTS " + a.String()) })
	for _, g := range grants {
		sandboxtest.Exec(t, root, strings.ReplaceAll(g, "ACCT", a.String()))
	}
	return a
}

// execAtEnd runs stmt on the server, for a t.Cleanup (whose t.Context is
// canceled), ignoring errors.
func execAtEnd(stmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if db, err := servers[0].Open(""); err == nil {
		_, _ = db.ExecContext(ctx, stmt)
		db.Close()
	}
}

// connect opens a pool as a on database.
func connect(t *testing.T, a Account, database string) *sql.DB {
	t.Helper()
	cfg := servers[0].Config(database)
	cfg.User, cfg.Passwd = a.User, appPassword
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// grantsOf is SHOW GRANTS FOR a, as the server lists it.
func grantsOf(t *testing.T, a Account) []string {
	t.Helper()
	rows, err := sandboxtest.Open(t, servers[0], "").QueryContext(t.Context(), "SHOW GRANTS FOR "+a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// sameGrants fails the test unless got lists the lines of want, byte for
// byte; the server may list table-level lines in another order.
func sameGrants(t *testing.T, a Account, want []string) {
	t.Helper()
	got := grantsOf(t, a)
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("grants of %s:\n got  %q\n want %q", a, got, want)
	}
}

func newJournal(t *testing.T) Journal {
	return Journal{Store: checkpoint.New(sandboxtest.NewDatabase(t, servers[0], "fencejournal")), DB: sandboxtest.Open(t, servers[0], "")}
}

func errno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

const (
	errDenied      = 1142 // command denied on a table
	errDeniedDB    = 1044
	errReadOnly    = 1290
	errLockWait    = 1205
	errTableAccess = 1100 // table was not locked with LOCK TABLES
)

// mustWrite fails the test unless stmt succeeds on q.
func mustWrite(t *testing.T, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmt string) {
	t.Helper()
	if _, err := q.ExecContext(t.Context(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// mustFail fails the test unless stmt fails on q with one of codes.
func mustFail(t *testing.T, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmt string, codes ...uint16) {
	t.Helper()
	_, err := q.ExecContext(t.Context(), stmt)
	if err == nil || !slices.Contains(codes, errno(err)) {
		t.Fatalf("%s: got %v, want error %v", stmt, err, codes)
	}
}

// session opens a session of db and runs stmts on it.
func session(t *testing.T, db *sql.DB, stmts ...string) *sql.Conn {
	t.Helper()
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, stmt := range stmts {
		mustWrite(t, c, stmt)
	}
	return c
}

// openFences is the journal's unreleased fences of the test server.
func openFences(t *testing.T, j Journal) []checkpoint.Fence {
	t.Helper()
	var n int
	if err := j.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'fences'", j.Store.Database()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return nil
	}
	rows, err := j.DB.QueryContext(t.Context(), "SELECT id, method FROM "+"`"+j.Store.Database()+"`.fences WHERE released_at IS NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []checkpoint.Fence
	for rows.Next() {
		var f checkpoint.Fence
		if err := rows.Scan(&f.ID, &f.Method); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestAccountsTableLevel fences an account whose write privileges are
// granted on the table: writes fail after Stop, the grants come back
// byte for byte after Release, the journal records the pause.
func TestAccountsTableLevel(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE t2 (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT ON *.* TO ACCT",
		"GRANT INSERT ON `"+d+"`.t2 TO ACCT",
		"GRANT SELECT, INSERT, UPDATE, DELETE, DROP, ALTER ON `"+d+"`.t TO ACCT WITH GRANT OPTION",
		"GRANT INSERT ON `"+d+"`.o TO ACCT")
	before := grantsOf(t, a)
	app := connect(t, a, d)
	mustWrite(t, app, "INSERT INTO t VALUES (1)")
	j := newJournal(t)
	f, err := New(sandboxtest.Open(t, servers[0], ""), Accounts, []Table{{d, "t"}, {d, "t2"}}, WithAccounts(a), WithJournal(j), WithDrainTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The pool's idle session predates the revoke: table-level, it is fenced too.
	mustFail(t, app, "INSERT INTO t VALUES (2)", errDenied)
	mustFail(t, app, "UPDATE t SET id = 3", errDenied)
	mustFail(t, app, "DELETE FROM t", errDenied)
	mustFail(t, app, "TRUNCATE t", errDenied)
	mustFail(t, app, "INSERT INTO t2 VALUES (2)", errDenied)
	mustWrite(t, app, "INSERT INTO o VALUES (1)")
	if err := fe.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if open := openFences(t, j); len(open) != 1 || open[0].ID != fe.Pause().ID {
		t.Fatalf("journal: %+v", open)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sameGrants(t, a, before)
	mustWrite(t, app, "INSERT INTO t VALUES (2)")
	mustWrite(t, app, "INSERT INTO t2 VALUES (2)")
	if p := fe.Pause(); p.Stopped.IsZero() || p.Released.Before(p.Stopped) {
		t.Fatalf("pause %+v", p)
	}
	if open := openFences(t, j); len(open) != 0 {
		t.Fatalf("journal after Release: %+v", open)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

// TestAccountsDatabaseLevel fences an account whose write privileges are
// granted on the database: its other tables stay writable while the fence
// holds, and every grant comes back byte for byte.
func TestAccountsDatabaseLevel(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE t2 (id INT PRIMARY KEY)",
		"CREATE TABLE o (id INT PRIMARY KEY)", "CREATE TABLE p (id INT PRIMARY KEY)", "CREATE VIEW v AS SELECT id FROM o")
	a := newAccount(t, "GRANT ALL PRIVILEGES ON `"+strings.ReplaceAll(d, "_", `\_`)+"`.* TO ACCT",
		"GRANT SELECT, INSERT ON `"+d+"`.p TO ACCT",
		"GRANT UPDATE ON `"+d+"`.t TO ACCT")
	before := grantsOf(t, a)
	f, err := New(sandboxtest.Open(t, servers[0], ""), Accounts, []Table{{d, "t"}, {d, "t2"}}, WithAccounts(a), WithJournal(newJournal(t)), WithDrainTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app := connect(t, a, d) // connects after the revoke
	for _, stmt := range []string{"INSERT INTO t VALUES (1)", "UPDATE t SET id = 2", "DELETE FROM t2", "TRUNCATE t2", "ALTER TABLE t ADD COLUMN c INT", "DROP TABLE t2", "CREATE INDEX i ON t (id)"} {
		mustFail(t, app, stmt, errDenied)
	}
	for _, stmt := range []string{"INSERT INTO o VALUES (1)", "INSERT INTO p VALUES (1)", "UPDATE v SET id = 5", "CREATE TABLE n (id INT)"} {
		mustWrite(t, app, stmt)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sameGrants(t, a, before)
	app2 := connect(t, a, d)
	mustWrite(t, app2, "INSERT INTO t VALUES (1)")
	mustWrite(t, app2, "INSERT INTO t2 VALUES (1)")
}

// TestGrantsChangedMeanwhile: Check reports a write privilege granted
// again while the fence holds; Release reports grants that differ from the
// recorded ones when it is done (ErrNotRestored), and closes the fence.
func TestGrantsChangedMeanwhile(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT, INSERT ON `"+d+"`.t TO ACCT")
	j := newJournal(t)
	f, err := New(sandboxtest.Open(t, servers[0], ""), Accounts, []Table{{d, "t"}}, WithAccounts(a), WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.Exec(t, root, "GRANT INSERT ON `"+d+"`.t TO "+a.String())
	if err := fe.Check(ctx); err == nil || !strings.Contains(err.Error(), "INSERT") {
		t.Fatalf("Check after a grant: %v", err)
	}
	sandboxtest.Exec(t, root, "GRANT SELECT ON `"+d+"`.o TO "+a.String())
	if err := fe.Release(ctx); !errors.Is(err, ErrNotRestored) {
		t.Fatalf("Release: %v", err)
	}
	if open := openFences(t, j); len(open) != 0 {
		t.Fatalf("journal: %+v", open)
	}
	if err := fe.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}
