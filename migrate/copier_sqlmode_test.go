package migrate_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestCopierUnderSQLModes copies a database, its objects created under
// NO_BACKSLASH_ESCAPES and ANSI_QUOTES among them, from and to servers
// whose global sql_mode is NO_BACKSLASH_ESCAPES,ANSI_QUOTES, with both
// write methods. The Copier sets its own sql_mode on its sessions; the
// objects are created with the sql_mode they were created with.
func TestCopierUnderSQLModes(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newEdgeDB(t, sampledata.KindsTable...)
	conn, err := srcDB.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, s := range []string{
		"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'",
		`CREATE PROCEDURE modes_p() SELECT 'a\b' AS "x", "txt" FROM kinds WHERE id = 1`,
		`CREATE TRIGGER kindsr BEFORE INSERT ON kinds FOR EACH ROW SET NEW.txt = CONCAT(NEW.txt, 'c\d')`,
		`CREATE VIEW modes_v AS SELECT id, CONCAT("txt", 'v\w') AS "c" FROM kinds`,
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
			assert.Equal(t, rowsOf(t, servers[0], src, "kinds"), rowsOf(t, servers[1], dst, "kinds"))
			for _, db := range []*sql.DB{sandboxtest.Open(t, servers[0], src), sandboxtest.Open(t, servers[1], dst)} {
				var x, txt, c string
				require.NoError(t, db.QueryRowContext(ctx, "CALL modes_p()").Scan(&x, &txt))
				require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM modes_v WHERE id = 4").Scan(&c))
				assert.Equal(t, []string{`a\b`, `back\slash 'q' "dq"`, `NULLv\w`}, []string{x, txt, c}) // "txt" is a column
			}
		})
	}
}
