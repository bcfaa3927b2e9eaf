package review

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyChangeSpellings checks that key changes are recognised however
// they are written.
func TestKeyChangeSpellings(t *testing.T) {
	const schema = "CREATE TABLE k (id BIGINT NOT NULL, part INT NOT NULL, name VARCHAR(100) NOT NULL, note VARCHAR(100) NOT NULL, PRIMARY KEY (id, part), KEY idx_name (name), KEY idx_note (note(10)));\n"
	cases := []struct {
		rule, sql string
		fires     bool
	}{
		{"ddl.drop-primary-key", "ALTER TABLE k DROP INDEX `PRIMARY`", true},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP INDEX `primary`", true},
		{"ddl.drop-primary-key", "DROP INDEX `PRIMARY` ON k", true},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP COLUMN id, DROP COLUMN part", true},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP COLUMN part", false},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP INDEX `PRIMARY`, ADD PRIMARY KEY (id)", false},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP COLUMN id, DROP COLUMN part, ADD COLUMN nid BIGINT NOT NULL PRIMARY KEY", false},
		{"ddl.drop-primary-key", "ALTER TABLE k DROP INDEX idx_name", false},
		{"ddl.drop-index", "ALTER TABLE k DROP INDEX `PRIMARY`", false},
		{"ddl.drop-index", "ALTER TABLE k DROP INDEX idx_name", true},
		{"index.blob-prefix", "ALTER TABLE k MODIFY name TEXT NOT NULL", true},
		{"index.blob-prefix", "ALTER TABLE k CHANGE name title MEDIUMTEXT NOT NULL", true},
		{"index.blob-prefix", "ALTER TABLE k MODIFY name JSON", true},
		{"index.blob-prefix", "ALTER TABLE k MODIFY note TEXT NOT NULL", false},
		{"index.blob-prefix", "ALTER TABLE k MODIFY name VARCHAR(200) NOT NULL", false},
		{"index.blob-prefix", "ALTER TABLE k DROP INDEX idx_name, MODIFY name TEXT NOT NULL", false},
		{"ddl.existence", "ALTER TABLE k DROP INDEX `PRIMARY`, DROP PRIMARY KEY", true},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got := reviewWith(t, tc.rule, nil, schema+tc.sql)
			if tc.fires {
				assert.NotEmpty(t, got, "%s should fire on %q", tc.rule, tc.sql)
			} else {
				assert.Empty(t, got, "%s should not fire on %q", tc.rule, tc.sql)
			}
		})
	}
	r, err := New()
	require.NoError(t, err)
	for _, drop := range []string{"ALTER TABLE k DROP INDEX `PRIMARY`", "DROP INDEX `PRIMARY` ON k"} {
		res, err := r.Review(context.Background(), schema+drop)
		require.NoError(t, err)
		assert.Equal(t, algoCopy, res.Statements[1].Algorithm, drop)
	}
}

// TestColumnTypeAttributes checks that the script catalog keeps a column
// type's attributes, so that a change of signedness is a type change.
func TestColumnTypeAttributes(t *testing.T) {
	ctx := context.Background()
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(ctx, "a", "CREATE TABLE t (id BIGINT PRIMARY KEY, u INT UNSIGNED NOT NULL, z INT(6) UNSIGNED ZEROFILL NOT NULL, s VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_bin NOT NULL, g INT AS (u + 1))"))
	def, err := cat.Table(ctx, "a", "t")
	require.NoError(t, err)
	assert.Equal(t, "int(11) unsigned", def.Column("u").ColumnType)
	assert.True(t, def.Column("u").Unsigned)
	assert.Equal(t, "int(6) unsigned zerofill", def.Column("z").ColumnType)
	assert.Equal(t, "latin1", def.Column("s").Charset)
	assert.Equal(t, "latin1_bin", def.Column("s").Collation)
	assert.True(t, def.Column("g").Generated)

	// INVISIBLE, on CREATE and on ALTER; a MODIFY without it makes the
	// column visible again, as on the server.
	require.NoError(t, cat.Apply(ctx, "a", `CREATE TABLE v (id BIGINT PRIMARY KEY, h INT INVISIBLE, s INT VISIBLE, KEY k (s) INVISIBLE);
ALTER TABLE v ADD COLUMN h2 INT /*!80023 INVISIBLE */, MODIFY s INT INVISIBLE, ADD INDEX k2 (h2) INVISIBLE`))
	def, err = cat.Table(ctx, "a", "v")
	require.NoError(t, err)
	for col, want := range map[string]bool{"id": false, "h": true, "s": true, "h2": true} {
		assert.Equal(t, want, def.Column(col).Invisible, col)
	}
	require.NoError(t, cat.Apply(ctx, "a", "ALTER TABLE v MODIFY h INT, CHANGE s s2 INT INVISIBLE"))
	def, err = cat.Table(ctx, "a", "v")
	require.NoError(t, err)
	assert.False(t, def.Column("h").Invisible)
	assert.True(t, def.Column("s2").Invisible)
	assert.NotNil(t, def.Index("k2"))

	// Two statements in one piece under another delimiter: each its own.
	require.NoError(t, cat.Apply(ctx, "a", "DELIMITER $$\nCREATE TABLE m1 (id INT, x INT INVISIBLE); CREATE TABLE m2 (id INT, x INT)$$\n"))
	for name, want := range map[string]bool{"m1": true, "m2": false} {
		def, err = cat.Table(ctx, "a", name)
		require.NoError(t, err)
		assert.Equal(t, want, def.Column("x").Invisible, name)
	}

	// Defaults read as information_schema shows them, numbers included.
	require.NoError(t, cat.Apply(ctx, "a", "CREATE TABLE d (id BIGINT PRIMARY KEY, n INT NOT NULL DEFAULT 0, m DECIMAL(5,2) DEFAULT 1.50, f DOUBLE DEFAULT -2.5, s VARCHAR(3) DEFAULT 'x', z INT DEFAULT NULL, b BOOLEAN DEFAULT TRUE)"))
	def, err = cat.Table(ctx, "a", "d")
	require.NoError(t, err)
	for col, want := range map[string]string{"n": "0", "m": "1.50", "f": "-2.5", "s": "x", "z": "NULL", "b": "1"} {
		if assert.NotNil(t, def.Column(col).Default, col) {
			assert.Equal(t, want, *def.Column(col).Default, col)
		}
	}

	const base = "CREATE TABLE t (id BIGINT PRIMARY KEY, n INT NOT NULL, u INT UNSIGNED NOT NULL);\n"
	assert.NotEmpty(t, reviewWith(t, "ddl.lossy-type-change", nil, base+"ALTER TABLE t MODIFY n INT UNSIGNED NOT NULL"))
	assert.NotEmpty(t, reviewWith(t, "ddl.lossy-type-change", nil, base+"ALTER TABLE t MODIFY u INT NOT NULL"))
	assert.Empty(t, reviewWith(t, "ddl.lossy-type-change", nil, base+"ALTER TABLE t MODIFY u BIGINT UNSIGNED NOT NULL"))
}
