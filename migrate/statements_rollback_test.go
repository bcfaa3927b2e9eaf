package migrate_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// rollbackServerIDs hands out replica ids for the rollback tests.
var rollbackServerIDs atomic.Uint32

func rollbackServerID() uint32 { return 920000 + rollbackServerIDs.Add(1) }

// checksums is CHECKSUM TABLE of each table, with its row count.
func checksums(t *testing.T, db *sql.DB, tables ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range tables {
		var name, sum, count string
		require.NoError(t, db.QueryRow("CHECKSUM TABLE "+tb).Scan(&name, &sum))
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+tb).Scan(&count))
		out[tb] = sum + "/" + count
	}
	return out
}

// TestStatementsRollbackSQL runs a mixed script with WithRollbackSQL, then
// the rollbacks of its statements, last first, as a second Statements run
// (as a rollback ticket would), and checks the tables are back to their
// exact prior state; a statement that changed nothing and a table
// without a key get a note instead.
func TestStatementsRollbackSQL(t *testing.T) {
	s := servers[1]
	name := sandboxtest.NewDatabase(t, s, "rbsql")
	db := sandboxtest.Open(t, s, name)
	sandboxtest.Exec(t, db,
		`CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, note VARCHAR(40) CHARACTER SET utf8mb4 NULL,
			raw VARBINARY(16) NULL, total DECIMAL(12,2) NOT NULL, doubled DECIMAL(13,2) AS (total * 2) PERSISTENT)`,
		`CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, blocked TINYINT NOT NULL DEFAULT 0)`,
		`CREATE TABLE archive (id INT PRIMARY KEY, customer INT NOT NULL, total DECIMAL(12,2) NOT NULL)`,
		`CREATE TABLE heap (v INT NULL)`,
		`INSERT INTO customers VALUES (1, 'ann', 0), (2, 'bob', 1), (3, 'cy', 0)`,
		`INSERT INTO orders (id, customer, note, raw, total) VALUES
			(1, 1, 'ünïcødé 😀', x'00ff00', 10.50), (2, 2, NULL, NULL, 3.00), (3, 2, 'it''s', x'', 7.25),
			(4, 3, 'back\\slash', x'5c27', 0.01), (5, 1, '', x'0a0d', 99.99)`,
		`INSERT INTO heap VALUES (1), (2)`)
	tables := []string{"orders", "customers", "archive"}
	before := checksums(t, db, tables...)

	script := []string{
		"UPDATE orders SET total = total + 1, note = CONCAT(IFNULL(note, ''), ' ✓'), raw = x'ffee' WHERE customer IN (1, 2)",
		"DELETE o FROM orders o JOIN customers c ON c.id = o.customer WHERE c.blocked = 1",
		"INSERT INTO archive SELECT id, customer, total FROM orders WHERE total > 5",
		"UPDATE orders SET id = id + 100 WHERE id < 3",
		"UPDATE customers SET name = 'nobody' WHERE id = 999",
		"CREATE TABLE extra (id INT PRIMARY KEY)",
		"DELETE FROM heap WHERE v = 1",
		"REPLACE INTO customers VALUES (3, 'cyrus', 1), (4, 'dee', 0)",
	}
	ex, err := migrate.NewStatements(s.DSN(""), name, script, migrate.WithRollbackSQL(rollbackServerID(), 0))
	require.NoError(t, err)
	_, err = ex.Plan(t.Context())
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.NoError(t, err)
	results := ex.Results()

	for _, i := range []int{0, 1, 2, 3, 7} {
		r := results[i]
		assert.NotEmpty(t, r.GTID, r.Text)
		assert.NotEmpty(t, r.Rollback, "%s: %s", r.Text, r.RollbackNote)
		assert.Empty(t, r.RollbackNote, r.Text)
	}
	assert.Contains(t, results[4].RollbackNote, "changed no row")
	assert.Equal(t, "DROP TABLE `"+name+"`.`extra`;\n", results[5].Rollback)
	assert.Contains(t, results[6].RollbackNote, "no primary key or unique NOT NULL key")
	assert.Contains(t, results[6].RollbackNote, "`heap`")
	for _, i := range []int{4, 6} {
		assert.Empty(t, results[i].Rollback, results[i].Text)
	}
	assert.NotEqual(t, before, checksums(t, db, tables...))

	// The rollback, last statement first, run as a reviewed script is.
	var undo []string
	for _, r := range slices.Backward(results) {
		if r.Rollback == "" {
			continue
		}
		for stmt := range strings.SplitSeq(strings.TrimSuffix(r.Rollback, ";\n"), ";\n") {
			undo = append(undo, stmt)
		}
	}
	rb, err := migrate.NewStatements(s.DSN(""), name, undo)
	require.NoError(t, err)
	_, err = rb.Run(t.Context(), nil)
	require.NoError(t, err)
	for _, r := range rb.Results() {
		assert.Equal(t, migrate.StatementSucceeded, r.Status, r.Text)
	}
	assert.Equal(t, before, checksums(t, db, tables...))
}

// TestStatementsRollbackCap: a rollback longer than the cap is not stored,
// and the note says so.
func TestStatementsRollbackCap(t *testing.T) {
	name, _ := newStatementsDB(t)
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"UPDATE t SET v = 'z'"},
		migrate.WithRollbackSQL(rollbackServerID(), 60))
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.NoError(t, err)
	r := ex.Results()[0]
	assert.Empty(t, r.Rollback)
	assert.Contains(t, r.RollbackNote, "longer than the cap of 60 bytes")
}

// TestStatementsRollbackUnlogged: a statement whose changes the binary log
// does not hold gets a note saying so.
func TestStatementsRollbackUnlogged(t *testing.T) {
	name, _ := newStatementsDB(t)
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"SET sql_log_bin = 0", "UPDATE t SET v = 'z'"},
		migrate.WithRollbackSQL(rollbackServerID(), 0))
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.NoError(t, err)
	r := ex.Results()
	assert.Contains(t, r[0].RollbackNote, "not an INSERT")
	assert.Empty(t, r[1].Rollback)
	assert.Contains(t, r[1].RollbackNote, "not in the binary log")
}

// TestStatementsRollbackRefused: an account that cannot read the binary
// log is refused before any statement runs.
func TestStatementsRollbackRefused(t *testing.T) {
	name, state := newStatementsDB(t)
	root := sandboxtest.Open(t, servers[1], "")
	user := "rb_" + name[len(name)-8:]
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'Rb-pass-1'", user),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", name, user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	cfg := servers[1].Config("")
	cfg.User, cfg.Passwd = user, "Rb-pass-1"
	before := state()
	ex, err := migrate.NewStatements(cfg.FormatDSN(), name, []string{"UPDATE t SET v = 'z'"}, migrate.WithRollbackSQL(rollbackServerID(), 0))
	require.NoError(t, err)
	_, err = ex.Plan(t.Context())
	require.ErrorIs(t, err, migrate.ErrPrivilege)
	assert.Contains(t, err.Error(), "REPLICATION SLAVE")
	_, err = ex.Run(t.Context(), nil)
	require.ErrorIs(t, err, migrate.ErrPrivilege)
	assert.Equal(t, before, state())
	assert.Equal(t, migrate.StatementPending, ex.Results()[0].Status)
}

func TestWithRollbackSQLBadInput(t *testing.T) {
	for _, opt := range []migrate.StatementsOption{migrate.WithRollbackSQL(0, 0), migrate.WithRollbackSQL(1, -1)} {
		_, err := migrate.NewStatements(servers[1].DSN(""), "x", []string{"SELECT 1"}, opt)
		var oe *migrate.OptionError
		require.True(t, errors.As(err, &oe), "%v", err)
	}
}
