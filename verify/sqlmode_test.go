package verify_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/verify"
)

// modesKeyTable has a text key with backslashes and quotes.
var modesKeyTable = []string{
	`CREATE TABLE k (k VARCHAR(20) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, v INT NULL)`,
	`INSERT INTO k VALUES ('a\\b', 1), ('it''s', 2), ('"dq"', 3), ('\\''', 4), ('plain', 5)`,
}

// modesDamage makes the target differ from the source in every column
// kind of sampledata.KindsTable and modesKeyTable.
var modesDamage = []string{
	"UPDATE kinds SET txt = 'other', y = 1999, b = 7 WHERE id = 1",
	"UPDATE kinds SET i6 = '::2', u = NULL, fl = 0.123457 WHERE id = 2",
	"UPDATE kinds SET g = ST_GeomFromText('POINT(0 0)'), js = '[1]', e = 'b\\\\s', s = 'x' WHERE id = 3",
	"DELETE FROM kinds WHERE id IN (4, 5)",
	"INSERT INTO kinds (id, txt) VALUES (6, 'extra')",
	"UPDATE k SET v = 0 WHERE k IN ('a\\\\b', '\"dq\"')",
	"DELETE FROM k WHERE k = 'it''s'",
	"INSERT INTO k VALUES ('x\\\\y''z', 9)",
}

// TestUnderSQLModes verifies and repairs tables on servers whose global
// sql_mode is NO_BACKSLASH_ESCAPES,ANSI_QUOTES: verify reads in the
// sessions it is given, Repair sets its own sql_mode, and the repair SQL's
// literals read the same without its session preamble, on a session of the
// server's sql_mode.
func TestUnderSQLModes(t *testing.T) {
	ctx := context.Background()
	_, dst, srcName, dstName := pairOf(t, "modes", slices.Concat(sampledata.KindsTable, modesKeyTable)...)
	sandboxtest.Exec(t, dst, modesDamage...)
	sandboxtest.SetGlobalSQLMode(t, "NO_BACKSLASH_ESCAPES,ANSI_QUOTES", servers[0], servers[1])
	src, dst := sandboxtest.Open(t, servers[0], srcName), sandboxtest.Open(t, servers[1], dstName)
	pairs := []verify.TablePair{
		{SourceDatabase: srcName, SourceTable: "k", TargetDatabase: dstName, TargetTable: "k"},
		{SourceDatabase: srcName, SourceTable: "kinds", TargetDatabase: dstName, TargetTable: "kinds"},
	}
	v, err := verify.New(src, dst)
	require.NoError(t, err)
	wantDiffs := [][]string{
		{"changed '\"dq\"' v", "changed _utf8mb4 X'615C62' v", "extra _utf8mb4 X'785C79277A'", "missing 'it''s'"},
		{"changed 1 txt,y,b", "changed 2 fl,i6,u", "changed 3 g,js,e,s", "extra 6", "missing 4", "missing 5"},
	}

	rep, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	for i, tr := range rep.Tables {
		assert.Equal(t, wantDiffs[i], diffSet(tr), tr.SourceTable)
	}

	// The repair SQL without its session preamble, on a session with the
	// server's sql_mode.
	var sqlText bytes.Buffer
	require.NoError(t, rep.WriteRepairSQL(&sqlText))
	conn, err := dst.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, stmt := range strings.Split(sqlText.String(), ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt == "" || strings.HasPrefix(stmt, "SET SESSION sql_mode") {
			continue
		}
		_, err := conn.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	again, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.True(t, again.Clean(), "after the repair SQL: %v %v", diffSet(again.Tables[0]), diffSet(again.Tables[1]))

	// Repair, which sets its own sql_mode.
	sandboxtest.Exec(t, dst, modesDamage...)
	rep, err = v.Verify(ctx, pairs...)
	require.NoError(t, err)
	_, err = v.Repair(ctx, rep)
	require.NoError(t, err)
	again, err = v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.True(t, again.Clean(), "after Repair: %v %v", diffSet(again.Tables[0]), diffSet(again.Tables[1]))
}
