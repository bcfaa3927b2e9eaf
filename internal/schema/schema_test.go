package schema_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

func TestLoadTables(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "schema")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db,
		"CREATE TABLE parent (a INT NOT NULL, b VARCHAR(20) NOT NULL, PRIMARY KEY (a, b)) COMMENT 'the parent'",
		`CREATE TABLE child (
			id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			a INT NOT NULL, b VARCHAR(20) NOT NULL,
			code CHAR(8) CHARACTER SET ascii NOT NULL DEFAULT 'x',
			note TEXT NULL COMMENT 'free text',
			doubled BIGINT AS (id * 2) VIRTUAL,
			UNIQUE KEY uk_code (code),
			KEY idx_note (note(10)),
			CONSTRAINT fk_parent FOREIGN KEY (a, b) REFERENCES parent (a, b) ON DELETE CASCADE)`,
		"CREATE TABLE nokey (x INT NULL, UNIQUE KEY (x))",
		"CREATE TABLE uniq (x INT NOT NULL, y INT NULL, h INT INVISIBLE, UNIQUE KEY uk_xy (x, y), UNIQUE KEY uk_x (x))",
		"CREATE VIEW v AS SELECT 1 AS one")

	defs, err := schema.LoadTables(ctx, db, dbName)
	require.NoError(t, err)
	require.Len(t, defs, 4, "views are not base tables")
	assert.Equal(t, []string{"child", "nokey", "parent", "uniq"}, []string{defs[0].Name, defs[1].Name, defs[2].Name, defs[3].Name})

	child := defs[0]
	assert.Equal(t, "InnoDB", child.Engine)
	require.Len(t, child.Columns, 6)
	id := child.Column("ID")
	require.NotNil(t, id, "column lookup ignores case")
	assert.True(t, id.AutoIncrement)
	assert.True(t, id.Unsigned)
	assert.Equal(t, "bigint", id.DataType)
	code := child.Column("code")
	assert.Equal(t, "ascii", code.Charset)
	require.NotNil(t, code.Default)
	assert.Equal(t, "'x'", *code.Default)
	assert.Equal(t, int64(8), code.MaxLength)
	assert.Nil(t, child.Column("id").Default)
	assert.Equal(t, "free text", child.Column("note").Comment)
	assert.True(t, child.Column("doubled").Generated)
	assert.Len(t, child.InsertableColumns(), 5)
	assert.False(t, child.Column("note").Invisible)
	assert.True(t, defs[3].Column("h").Invisible, "EXTRA says INVISIBLE")

	require.Len(t, child.Indexes, 4)
	assert.Equal(t, "PRIMARY", child.Indexes[0].Name, "the primary key comes first")
	assert.Equal(t, []schema.IndexColumn{{Name: "note", SubPart: 10}}, child.Index("idx_note").Columns)
	assert.True(t, child.Index("uk_code").Unique)
	require.Len(t, child.ForeignKeys, 1)
	assert.Equal(t, schema.ForeignKey{Name: "fk_parent", Columns: []string{"a", "b"}, RefDatabase: dbName, RefTable: "parent",
		RefColumns: []string{"a", "b"}, OnUpdate: "RESTRICT", OnDelete: "CASCADE"}, child.ForeignKeys[0])

	key, err := defs[2].RowKey()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, key.ColumnNames())
	assert.Equal(t, "the parent", defs[2].Comment)

	_, err = defs[1].RowKey()
	require.ErrorIs(t, err, schema.ErrNoKey)
	assert.Contains(t, err.Error(), "`nokey`")

	key, err = defs[3].RowKey()
	require.NoError(t, err)
	assert.Equal(t, "uk_x", key.Name, "a unique key over a NULL column does not identify rows")

	one, err := schema.LoadTable(ctx, db, dbName, "parent")
	require.NoError(t, err)
	assert.Equal(t, defs[2], one)
	_, err = schema.LoadTable(ctx, db, dbName, "v")
	assert.ErrorIs(t, err, schema.ErrNotFound)
}

func TestPrivilegesAndObjects(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "privs")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)",
		"CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW SET @x = NEW.id",
		"CREATE PROCEDURE p() SELECT 1")
	privs, err := schema.LoadPrivileges(ctx, db, dbName)
	require.NoError(t, err)
	assert.Empty(t, privs.Missing("", "SELECT", "CREATE", "TRIGGER", "BINLOG MONITOR"))
	routines, err := schema.Routines(ctx, db, dbName)
	require.NoError(t, err)
	assert.Equal(t, []schema.Routine{{Kind: "procedure", Name: "p"}, {Kind: "trigger", Name: "t_ai", Table: "t"}}, routines)
	has, err := schema.HasRows(ctx, db, dbName, "t")
	require.NoError(t, err)
	assert.False(t, has)
	v, err := schema.Variable(ctx, db, "binlog_format")
	require.NoError(t, err)
	assert.Equal(t, "ROW", v)
}
