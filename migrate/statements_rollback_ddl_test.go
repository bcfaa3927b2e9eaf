package migrate_test

import (
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// definitions is SHOW CREATE TABLE of every table of the database.
func definitions(t *testing.T, db *sql.DB, database string) map[string]string {
	t.Helper()
	var tables []string
	require.NoError(t, scanColumn(db, &tables, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", database))
	out := map[string]string{}
	for _, tb := range tables {
		var name, create string
		require.NoError(t, db.QueryRow("SHOW CREATE TABLE `"+tb+"`").Scan(&name, &create))
		out[tb] = create
	}
	return out
}

// TestStatementsRollbackDDL runs schema changes with WithRollbackSQL, then
// their rollbacks, last first, as a second Statements run, and checks that
// every table's definition is back (SHOW CREATE TABLE equal, the tables
// of the database the same); statements that drop data or have no
// inverse get a note.
func TestStatementsRollbackDDL(t *testing.T) {
	s := servers[1]
	name := sandboxtest.NewDatabase(t, s, "rbddl")
	db := sandboxtest.Open(t, s, name)
	var setup []string
	for _, tb := range []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t9", "t10"} {
		setup = append(setup, "CREATE TABLE "+tb+` (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 1 COMMENT 'it''s n', v VARCHAR(20) CHARACTER SET utf8mb4 NULL,
			w DECIMAL(8,2) AS (n * 2) VIRTUAL, KEY kn (n), UNIQUE KEY uv (v(10))) COMMENT 'table'`,
			"INSERT INTO "+tb+" (id, n, v) VALUES (1, 1, 'a'), (2, 2, NULL), (3, 3, 'ü')")
	}
	sandboxtest.Exec(t, db, setup...)
	sandboxtest.Exec(t, db, "CREATE TABLE t11 (id INT PRIMARY KEY, p INT NULL)", "CREATE TABLE dropped (id INT PRIMARY KEY)", "CREATE TABLE truncated (id INT PRIMARY KEY)", "CREATE TABLE narrowed (id INT PRIMARY KEY, n INT)")
	before := definitions(t, db, name)

	script := []string{
		"ALTER TABLE t1 ADD COLUMN c INT NOT NULL DEFAULT 3 AFTER id, ADD INDEX (v, n), ADD COLUMN (d DATE NULL, e TEXT)",
		"ALTER TABLE t2 MODIFY n BIGINT NULL COMMENT 'wider', CHANGE v vv VARCHAR(50) NULL DEFAULT 'x' FIRST",
		"RENAME TABLE t3 TO t3b",
		"ALTER TABLE t4 RENAME COLUMN n TO m, RENAME INDEX kn TO km",
		"ALTER TABLE t5 DROP INDEX kn, ADD UNIQUE INDEX un (n, id)",
		"CREATE INDEX ix ON t6 (v, id)",
		"ALTER TABLE t7 ALTER COLUMN n SET DEFAULT 9, ALGORITHM=INSTANT",
		"CREATE TABLE t8 (id INT PRIMARY KEY)",
		"ALTER TABLE t9 ADD CONSTRAINT fk9 FOREIGN KEY (n) REFERENCES t1 (id)",
		"ALTER TABLE t10 RENAME TO t10b, ADD COLUMN z INT",
		"ALTER TABLE t11 ADD CONSTRAINT fk11 FOREIGN KEY (p) REFERENCES t1 (id)",
		"DROP TABLE dropped",
		"TRUNCATE TABLE truncated",
		"ALTER TABLE narrowed DROP COLUMN n",
		"ALTER TABLE t6 ENGINE=InnoDB",
	}
	ex, err := migrate.NewStatements(s.DSN(""), name, script, migrate.WithRollbackSQL(rollbackServerID(), 0))
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.NoError(t, err)
	results := ex.Results()
	for _, r := range results[:11] {
		assert.NotEmpty(t, r.Rollback, "%s: %s", r.Text, r.RollbackNote)
		t.Logf("%s\n\t-> %s", r.Text, r.Rollback)
	}
	for _, r := range results[11:14] {
		assert.Empty(t, r.Rollback, r.Text)
		assert.Contains(t, r.RollbackNote, "no rollback: data dropped", r.Text)
	}
	assert.Contains(t, results[11].RollbackNote, "DROP TABLE")
	assert.Contains(t, results[12].RollbackNote, "TRUNCATE")
	assert.Contains(t, results[13].RollbackNote, "DROP COLUMN `n`")
	assert.Empty(t, results[14].Rollback)
	assert.Contains(t, results[14].RollbackNote, "no rollback")

	var undo []string
	for _, r := range slices.Backward(results) {
		if r.Rollback != "" {
			undo = append(undo, strings.TrimSuffix(r.Rollback, ";\n"))
		}
	}
	rb, err := migrate.NewStatements(s.DSN(""), name, undo)
	require.NoError(t, err)
	_, err = rb.Run(t.Context(), nil)
	require.NoError(t, err)
	after := definitions(t, db, name)
	delete(before, "dropped")
	delete(after, "narrowed") // its column is gone
	delete(before, "narrowed")
	assert.Equal(t, before, after)
}
