package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/verify"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 2, &servers))
}

func passwordless(s *sandbox.Server) string {
	cfg := s.Config("")
	cfg.Passwd = ""
	return cfg.FormatDSN()
}

// TestVerifydbReportsRepairsAndExits builds the same sample database on
// both servers (the generator is deterministic), damages the target, and
// runs verifydb: a report, repair SQL and exit 1; then -repair and exit 0.
func TestVerifydbReportsRepairsAndExits(t *testing.T) {
	ctx := context.Background()
	src := sandboxtest.NewDatabase(t, servers[0], "shop")
	dst := sandboxtest.NewDatabase(t, servers[1], "shop_copy")
	require.NoError(t, sampledata.Create(ctx, sandboxtest.Open(t, servers[0], ""), src, 300))
	require.NoError(t, sampledata.Create(ctx, sandboxtest.Open(t, servers[1], ""), dst, 300))
	tdb := sandboxtest.Open(t, servers[1], dst)
	sandboxtest.Exec(t, tdb,
		"SET SESSION foreign_key_checks = 0",
		"DELETE FROM order_items WHERE order_id = 7 AND line = 2",
		"UPDATE products SET image = UNHEX('00FF') WHERE id = 5",
		"UPDATE customers SET city = '' WHERE id = 7")
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}

	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	require.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "3 differing rows")
	assert.Contains(t, out.String(), "missing (order_id, line) = (7, 2)")
	assert.Contains(t, out.String(), "changed (id) = (7): city: '' -> NULL")
	assert.Contains(t, out.String(), "changed (id) = (5): image: X'00FF' -> X'00FF0A09")
	assert.Contains(t, out.String(), "INSERT INTO `"+dst+"`.`order_items`")
	assert.NotContains(t, out.String()+errOut.String(), servers[0].Password())
	assert.NotContains(t, errOut.String(), "warning")

	out.Reset()
	errOut.Reset()
	code = run(append(args, "-repair", "-json"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut.String(), out.String())
	assert.Contains(t, errOut.String(), "repair round 1: 0 rows deleted, 3 written")

	// A table only the target has is named, not compared.
	sandboxtest.Exec(t, tdb, "CREATE TABLE only_here (id INT PRIMARY KEY)")
	out.Reset()
	errOut.Reset()
	code = run(args, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "target table "+dst+".only_here is not on the source: not compared")

	out.Reset()
	errOut.Reset()
	code = run(append(args, "-tables", "orders,customers"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "2 tables, 360 rows, equal")

	// A password on the command line works but draws a warning.
	out.Reset()
	errOut.Reset()
	code = run([]string{"-source", servers[0].DSN(""), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "warning: the -source DSN holds a password")
	assert.NotContains(t, out.String()+errOut.String(), servers[0].Password())

	assert.Equal(t, 2, run([]string{"-database", src}, &out, &errOut))
	assert.Equal(t, 2, run(append(args, "-snapshot", "sometimes"), &out, &errOut))
	errOut.Reset()
	assert.Equal(t, 2, run([]string{"-h"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "  3  some or all tables could not be verified")
}

// sides creates a database on each server, runs stmts on both and returns
// the target's pool, the verifydb arguments and the target's name.
func sides(t *testing.T, prefix string, stmts ...string) (tdb *sql.DB, args []string, dst string) {
	t.Helper()
	src := sandboxtest.NewDatabase(t, servers[0], prefix)
	dst = sandboxtest.NewDatabase(t, servers[1], prefix+"_copy")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src), stmts...)
	tdb = sandboxtest.Open(t, servers[1], dst)
	sandboxtest.Exec(t, tdb, stmts...)
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	return tdb, []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}, dst
}

// TestVerifydbRepairWithTriggers: a target table whose BEFORE INSERT and
// BEFORE UPDATE triggers rewrite a column is refused up front, naming the
// triggers, and nothing changes; a repair that cannot take (a FLOAT column
// on the target for a DOUBLE on the source) stops after the first round
// that changes nothing.
func TestVerifydbRepairWithTriggers(t *testing.T) {
	tdb, args, dst := sides(t, "trig",
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
		"INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_50",
		"CREATE TABLE f (id INT PRIMARY KEY, x DOUBLE NOT NULL)",
		"INSERT INTO f VALUES (1, 0.5), (2, 0.25)")
	sandboxtest.Exec(t, tdb,
		"CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 'from trigger'",
		"CREATE TRIGGER t_bu BEFORE UPDATE ON t FOR EACH ROW SET NEW.v = UPPER(NEW.v)",
		"DELETE FROM t WHERE id = 7")

	var out, errOut bytes.Buffer
	code := run(append(args, "-tables", "t", "-repair"), &out, &errOut)
	assert.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "verifydb: verify: target table "+dst+".t: repair refused, nothing changed: trigger `t_bi` (BEFORE INSERT), `t_bu` (BEFORE UPDATE) would fire")
	assert.NotContains(t, errOut.String(), "repair round")
	assert.Contains(t, out.String(), "-- WARNING: "+dst+".t: trigger `t_bi` (BEFORE INSERT), `t_bu` (BEFORE UPDATE)")
	var n int
	require.NoError(t, tdb.QueryRow("SELECT COUNT(*) FROM t WHERE id = 7").Scan(&n))
	assert.Equal(t, 0, n, "nothing written")

	sandboxtest.Exec(t, tdb, "ALTER TABLE f MODIFY x FLOAT NOT NULL", "UPDATE f SET x = 0.1 WHERE id = 2")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], args[5]), "UPDATE f SET x = 0.1 WHERE id = 2")
	sandboxtest.Exec(t, tdb, "UPDATE f SET x = 0.2 WHERE id = 2")
	out.Reset()
	errOut.Reset()
	code = run(append(args, "-tables", "f", "-repair"), &out, &errOut)
	assert.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "verifydb: repair round 1: 0 rows deleted, 1 written")
	assert.Contains(t, errOut.String(), "verifydb: repair round 2 changed nothing: the same 1 rows differ as before; stopping")
	assert.NotContains(t, errOut.String(), "repair round 3")
	assert.Contains(t, out.String(), "column x is float NOT NULL on the target, double NOT NULL on the source")
}

// TestVerifydbListsTablesItCannotCompare: tables that cannot be compared
// are listed with the reason, in text and JSON, and the others compared;
// the exit status tells differences (1) from tables not verified (3).
func TestVerifydbListsTablesItCannotCompare(t *testing.T) {
	tdb, args, dst := sides(t, "skip",
		"CREATE TABLE ok (id INT PRIMARY KEY, v INT)",
		"INSERT INTO ok VALUES (1, 1), (2, 2)",
		"CREATE TABLE wide (id INT PRIMARY KEY, name VARCHAR(45))",
		"CREATE TABLE nokey (a INT, b INT)",
		"CREATE TABLE extra (id INT PRIMARY KEY)",
		"CREATE TABLE gone (id INT PRIMARY KEY)",
		"CREATE VIEW vw AS SELECT * FROM ok")
	sandboxtest.Exec(t, tdb, "DROP TABLE gone", "ALTER TABLE extra ADD COLUMN more INT")

	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	assert.Equal(t, 3, code, "stderr: %s", errOut.String())
	text := out.String()
	assert.Contains(t, text, "2 tables, 2 rows, 3 tables not compared")
	assert.Contains(t, text, ".ok -> "+dst+".ok: 2 rows (target 2), 1 chunks, equal")
	assert.Contains(t, text, ".extra -> "+dst+".extra: not compared: target table: column more is not on the source")
	assert.Contains(t, text, ".gone -> "+dst+".gone: not compared: target table: does not exist")
	assert.Contains(t, text, ".nokey -> "+dst+".nokey: not compared: source table: no primary key or unique NOT NULL key")

	out.Reset()
	code = run(append(args, "-json", "-tables", "vw,ok"), &out, &errOut)
	assert.Equal(t, 3, code)
	var rep verify.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	require.Len(t, rep.Unverified, 1)
	assert.Equal(t, "vw", rep.Unverified[0].SourceTable)
	assert.Contains(t, rep.Unverified[0].Reason, "is a view, not a base table")
	require.Len(t, rep.Tables, 1)

	// A column type difference is a difference, and so are rows; both
	// outrank tables not verified.
	sandboxtest.Exec(t, tdb, "ALTER TABLE wide MODIFY name VARCHAR(100)")
	out.Reset()
	code = run(append(args, "-tables", "wide,ok"), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "column name is varchar(100) COLLATE")
	sandboxtest.Exec(t, tdb, "UPDATE ok SET v = 5 WHERE id = 2")
	out.Reset()
	code = run(append(args, "-tables", "ok,gone"), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "1 differing rows, 1 tables not compared")
}

// TestVerifydbEscapesTerminalText: names and values that hold terminal
// control sequences are escaped in the text report; the repair SQL is not
// printed on the terminal but written exactly with -sql.
func TestVerifydbEscapesTerminalText(t *testing.T) {
	tdb, args, dst := sides(t, "esc",
		"CREATE TABLE `t\x1b[2J` (id INT PRIMARY KEY, `c\u202e` VARCHAR(20))",
		"INSERT INTO `t\x1b[2J` VALUES (1, 'a'), (2, 'b')")
	sandboxtest.Exec(t, tdb, "UPDATE `t\x1b[2J` SET `c\u202e` = 'x\x1b]0;owned\x07' WHERE id = 2")
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	assert.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), dst+`.t\x1b[2J: 2 rows`)
	assert.Contains(t, out.String(), `changed (id) = (2): c\u{202E}: _utf8mb4 X'781B5D303B6F776E656407' -> 'b'`)
	for _, s := range []string{out.String(), errOut.String()} {
		assert.Equal(t, termtext.Block(s), s, "nothing a terminal acts on")
	}
	assert.Contains(t, errOut.String(), "the repair SQL is not printed")

	file := filepath.Join(t.TempDir(), "repair.sql")
	out.Reset()
	errOut.Reset()
	code = run(append(args, "-sql", file), &out, &errOut)
	assert.Equal(t, 1, code, "stderr: %s", errOut.String())
	sqlText, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(sqlText), "INSERT INTO `"+dst+"`.`t\x1b[2J` (`id`, `c\u202e`) VALUES (2, 'b')")
	assert.Contains(t, string(sqlText), "-- "+dst+`.t\x1b[2J: 0 missing`, "comments stay one line")
}

// TestVerifydbSilentServer: a target that accepts connections and never
// answers is an error naming it and the stage that timed out, not a hang.
func TestVerifydbSilentServer(t *testing.T) {
	silent := sandboxtest.SilentHost(t)
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	var out, errOut bytes.Buffer
	code := run([]string{"-source", passwordless(servers[0]), "-target", "u@tcp(" + silent + ")/", "-database", "d",
		"-connect-timeout", "300ms"}, &out, &errOut)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut.String(), "verifydb: target: connect to "+silent+": handshake: ")
	assert.Contains(t, errOut.String(), "timed out")
}

// TestVerifydbRefusesTheSourceAsTarget: the same server through another
// spelling of its address, with the same database, is refused before
// anything is read or repaired.
func TestVerifydbRefusesTheSourceAsTarget(t *testing.T) {
	name := sandboxtest.NewDatabase(t, servers[0], "self")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], name), "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
	cfg := servers[0].Config("")
	cfg.Passwd = ""
	cfg.Addr = fmt.Sprintf("localhost:%d", servers[0].Port())
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[0].Password())
	var out, errOut bytes.Buffer
	code := run([]string{"-source", passwordless(servers[0]), "-target", cfg.FormatDSN(), "-database", name, "-repair"}, &out, &errOut)
	assert.Equal(t, 2, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "verifydb: verify: target table "+name+".t: is the source table itself")
	assert.Empty(t, out.String())
}
