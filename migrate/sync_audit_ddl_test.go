package migrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// auditDDLTables are the moved tables of the DDL policy tests, with a
// table of the source database that is not moved.
var auditDDLTables = []string{
	"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
	"CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL)",
	"CREATE TABLE other (id INT PRIMARY KEY)",
	"INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_100",
	"INSERT INTO counter VALUES (1, 0)",
}

// auditCounter waits until the target's counter is n, failing if the sync
// stops meanwhile.
func auditCounter(t *testing.T, target string, n int64, errc <-chan error) {
	t.Helper()
	dst := sandboxtest.Open(t, servers[1], target)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got int64
		if dst.QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&got) == nil && got == n {
			return
		}
		select {
		case err := <-errc:
			t.Fatalf("the sync stopped before the target's counter reached %d: %v", n, err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the target's counter never reached %d", n)
		time.Sleep(50 * time.Millisecond)
	}
}

// columns lists the columns of database.table on server srv.
func columns(t *testing.T, srv int, database, table string) []string {
	t.Helper()
	rows, err := sandboxtest.Open(t, servers[srv], "").Query(
		"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", database, table)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		out = append(out, c)
	}
	return out
}

// TestSyncAuditDDLSkip: with DDLSkip a schema change of a moved table
// does not stop the sync and is not run on the target: an index added on
// the source only, and a column the host added on the target first (as
// DDLSkip asks), whose values then flow; a schema change of a table not
// moved is ignored. The cutover verifies clean.
func TestSyncAuditDDLSkip(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, name, target, errc := auditSync(t, ctx, "auditskip", execAll(auditDDLTables...), func(string) []migrate.SyncOption {
		return []migrate.SyncOption{migrate.WithTables("items", "counter"), migrate.WithDDL(migrate.DDLSkip)}
	}, nil)
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, "ALTER TABLE items ADD INDEX by_name (name)", "ALTER TABLE other ADD COLUMN c INT",
		"UPDATE counter SET n = 1 WHERE id = 1")
	auditCounter(t, target, 1, errc)
	var n int
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow(
		"SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'by_name'", target).Scan(&n))
	assert.Zero(t, n, "the skipped ADD INDEX ran on the target")

	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], target), "ALTER TABLE items ADD COLUMN extra INT NOT NULL DEFAULT 0")
	sandboxtest.Exec(t, db, "ALTER TABLE items ADD COLUMN extra INT NOT NULL DEFAULT 0",
		"UPDATE items SET extra = id * 2 WHERE id <= 10", "INSERT INTO items VALUES (1000, 'new', 5)",
		"UPDATE counter SET n = 2 WHERE id = 1")
	auditCounter(t, target, 2, errc)
	assert.Equal(t, []string{"id", "name", "extra"}, columns(t, 1, target, "items"))
	auditCutover(t, ctx, s, name, target, errc)
}

// TestSyncAuditDDLApply: with DDLApply a schema change of a moved table
// runs on the target too, between the transactions before and after it,
// which then use the new layout; a schema change of a table not moved is
// ignored. The cutover verifies clean.
func TestSyncAuditDDLApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, name, target, errc := auditSync(t, ctx, "auditapply", execAll(auditDDLTables...), func(string) []migrate.SyncOption {
		return []migrate.SyncOption{migrate.WithTables("items", "counter"), migrate.WithDDL(migrate.DDLApply)}
	}, nil)
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, "INSERT INTO items VALUES (500, 'before')",
		"ALTER TABLE items ADD COLUMN extra INT NOT NULL DEFAULT 7, ADD UNIQUE KEY by_name (name)",
		"ALTER TABLE other ADD COLUMN c INT",
		"UPDATE items SET extra = id WHERE id <= 10", "INSERT INTO items VALUES (1000, 'after', 5)",
		"UPDATE counter SET n = 1 WHERE id = 1")
	auditCounter(t, target, 1, errc)
	assert.Equal(t, []string{"id", "name", "extra"}, columns(t, 1, target, "items"))
	var extra int
	require.NoError(t, sandboxtest.Open(t, servers[1], target).QueryRow("SELECT extra FROM items WHERE id = 500").Scan(&extra))
	assert.Equal(t, 7, extra, "a row written before the ADD COLUMN gets its default on the target")
	auditCutover(t, ctx, s, name, target, errc)
}
