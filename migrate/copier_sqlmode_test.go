package migrate_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// modesTable holds values whose encoding depends on the column kind or on
// quoting: backslashes and quotes, NUL and Ctrl-Z, a FLOAT with 7
// significant digits, YEAR 0000, BIT(64), INET6, UUID, spatial, JSON,
// ENUM and SET members with quotes and backslashes.
var modesTable = []string{
	`CREATE TABLE modes_t (id INT NOT NULL PRIMARY KEY, txt VARCHAR(50) COLLATE utf8mb4_bin NULL, bin VARBINARY(50) NULL,
		fl FLOAT NULL, y YEAR NULL, b BIT(64) NULL, i6 INET6 NULL, u UUID NULL, g GEOMETRY NULL, js JSON NULL,
		e ENUM('a', 'it''s', 'b\\s') NULL, s SET('x', 'y''z') NULL)`,
	`INSERT INTO modes_t VALUES
		(1, 'back\\slash ''q'' "dq"', x'ff00275c22', 0.1234567, 0, 18446744073709551615, '::1', '123e4567-e89b-12d3-a456-426655440000',
			ST_GeomFromText('POINT(1 2)'), '{"a": "b\\\\c"}', 'b\\s', 'x,y''z'),
		(2, 'nul\0 z\Z nl\n', '', 3.4028234e38, 2155, 0, 'ffff::1', '00000000-0000-0000-0000-000000000001', NULL, '[]', 'it''s', ''),
		(3, '', NULL, -1.1754944e-38, 1901, 1, NULL, NULL, NULL, 'null', 'a', 'y''z'),
		(4, 'NULL', 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
}

// TestCopierUnderSQLModes copies a database, its objects created under
// NO_BACKSLASH_ESCAPES and ANSI_QUOTES among them, from and to servers
// whose global sql_mode is NO_BACKSLASH_ESCAPES,ANSI_QUOTES, with both
// write methods. The Copier sets its own sql_mode on its sessions; the
// objects are created with the sql_mode they were created with.
func TestCopierUnderSQLModes(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newEdgeDB(t, modesTable...)
	conn, err := srcDB.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, s := range []string{
		"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'",
		`CREATE PROCEDURE modes_p() SELECT 'a\b' AS "x", "txt" FROM modes_t WHERE id = 1`,
		`CREATE TRIGGER modes_tr BEFORE INSERT ON modes_t FOR EACH ROW SET NEW.txt = CONCAT(NEW.txt, 'c\d')`,
		`CREATE VIEW modes_v AS SELECT id, CONCAT("txt", 'v\w') AS "c" FROM modes_t`,
	} {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
	sandboxtest.SetGlobalSQLMode(t, "NO_BACKSLASH_ESCAPES,ANSI_QUOTES", servers[0], servers[1])

	for _, method := range []migrate.WriteMethod{migrate.WriteLoadData, migrate.WriteInsert} {
		t.Run(method.String(), func(t *testing.T) {
			dst := targetName(t, servers[1])
			_, err := newCopier(t, src, servers[1], dst, migrate.WithWriteMethod(method), migrate.WithChunkRows(64)).Run(ctx, nil)
			require.NoError(t, err)
			assertCopied(t, src, servers[1], dst)
			assert.Equal(t, rowsOf(t, servers[0], src, "modes_t"), rowsOf(t, servers[1], dst, "modes_t"))
			for _, db := range []*sql.DB{sandboxtest.Open(t, servers[0], src), sandboxtest.Open(t, servers[1], dst)} {
				var x, txt, c string
				require.NoError(t, db.QueryRowContext(ctx, "CALL modes_p()").Scan(&x, &txt))
				require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM modes_v WHERE id = 4").Scan(&c))
				assert.Equal(t, []string{`a\b`, `back\slash 'q' "dq"`, `NULLv\w`}, []string{x, txt, c}) // "txt" is a column
			}
		})
	}
}
