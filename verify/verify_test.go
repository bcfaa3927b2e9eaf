package verify_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/verify"
)

// pairOf sets up the same database on both servers: dbs[0] on the source,
// dbs[1] on the target, with the same statements run on both.
func pairOf(t *testing.T, prefix string, stmts ...string) (src, dst *sql.DB, srcName, dstName string) {
	t.Helper()
	srcName = sandboxtest.NewDatabase(t, servers[0], prefix+"_src")
	dstName = sandboxtest.NewDatabase(t, servers[1], prefix+"_dst")
	src = sandboxtest.Open(t, servers[0], srcName)
	dst = sandboxtest.Open(t, servers[1], dstName)
	sandboxtest.Exec(t, src, stmts...)
	sandboxtest.Exec(t, dst, stmts...)
	return src, dst, srcName, dstName
}

// diffSet renders a table report's differences as "kind key columns".
func diffSet(t *verify.TableReport) []string {
	var out []string
	for _, d := range t.Diffs {
		s := string(d.Kind) + " " + strings.Join(d.Key, ",")
		if d.Kind == verify.Changed {
			s += " " + strings.Join(d.Columns, ",")
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

const typesTable = `CREATE TABLE t (
	id INT NOT NULL PRIMARY KEY,
	name VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL,
	note VARCHAR(20) NULL,
	f DOUBLE NOT NULL,
	fl FLOAT NULL,
	bin VARBINARY(8) NULL,
	d DECIMAL(10,2) NOT NULL,
	dt DATETIME(6) NOT NULL,
	ts TIMESTAMP(3) NULL,
	js JSON NULL,
	latin VARCHAR(10) CHARACTER SET latin1 NULL,
	gen INT AS (id * 2) VIRTUAL
)`

const typesRows = `INSERT INTO t (id, name, note, f, fl, bin, d, dt, ts, js, latin)
	SELECT seq * 2, CONCAT('name', seq), IF(seq % 3 = 0, NULL, CONCAT('n', seq)), seq / 7, seq / 3,
	IF(seq % 5 = 0, NULL, UNHEX(LPAD(HEX(seq), 8, '0'))), seq * 1.25,
	TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,
	IF(seq % 4 = 0, NULL, TIMESTAMP'2024-03-31 01:30:00' + INTERVAL seq MINUTE),
	IF(seq % 2 = 0, NULL, JSON_OBJECT('k', seq)), IF(seq % 6 = 0, NULL, CONCAT('é', seq))
	FROM seq_1_to_3000`

// TestFindsExactlyTheInjectedDifferences corrupts a copy in every way the
// issue lists and checks that exactly those rows are reported, that the
// repair fixes them and that a second run is clean.
func TestFindsExactlyTheInjectedDifferences(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "inject", typesTable, typesRows,
		"UPDATE t SET note = NULL WHERE id = 60",
		"UPDATE t SET name = 'abc', bin = 'abc' WHERE id IN (80, 120, 140)",
		"UPDATE t SET f = CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE) WHERE id = 100")
	sandboxtest.Exec(t, dst,
		"UPDATE t SET d = d + 0.01 WHERE id = 20",                                                    // changed
		"DELETE FROM t WHERE id IN (40, 5000)",                                                       // missing
		"INSERT INTO t (id, name, f, d, dt) VALUES (41, 'x', 0, 0, NOW()), (9001, 'y', 0, 0, NOW())", // extra
		"UPDATE t SET note = '' WHERE id = 60",                                                       // NULL vs ''
		"UPDATE t SET name = 'abc ' WHERE id = 80",                                                   // trailing space, equal under PAD SPACE
		"UPDATE t SET f = 0.3 WHERE id = 100",                                                        // float rounding
		"UPDATE t SET bin = 'ABC' WHERE id = 120",                                                    // binary: case matters
		"UPDATE t SET name = 'ABC' WHERE id = 140",                                                   // text: case-insensitively equal, bytes differ
		"UPDATE t SET ts = ts + INTERVAL 1 SECOND WHERE id = 166",
		"UPDATE t SET js = JSON_OBJECT('k', 'x') WHERE id = 162",
		"UPDATE t SET latin = 'e1' WHERE id = 164",
		"UPDATE t SET fl = 28.0001 WHERE id = 168",                     // FLOAT, compared through DOUBLE
		"UPDATE t SET dt = dt + INTERVAL 1 MICROSECOND WHERE id = 170", // DATETIME(6)
		"UPDATE t SET bin = UNHEX('0000005500') WHERE id = 172",        // NUL bytes
	)
	pair := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName, TargetTable: "t"}

	// Exact chunks (boundaries read from the source) find the same rows
	// as ranges of the integer key.
	ve, err := verify.New(src, dst, verify.WithChunkTime(time.Second), verify.WithChunkRowRange(500, 100, 500), verify.WithParallelism(3), verify.WithLeafRows(40), verify.WithExactChunks())
	require.NoError(t, err)
	exact, err := ve.Verify(ctx, pair)
	require.NoError(t, err)
	assert.Equal(t, 7, exact.Tables[0].Chunks, "6 full chunks and the open end")

	v, err := verify.New(src, dst, verify.WithChunkTime(time.Second), verify.WithChunkRowRange(500, 100, 500), verify.WithParallelism(3), verify.WithLeafRows(40))
	require.NoError(t, err)
	rep, err := v.Verify(ctx, pair)
	require.NoError(t, err)
	require.Len(t, rep.Tables, 1)
	tr := rep.Tables[0]
	assert.Equal(t, []string{
		"changed 100 f",
		"changed 120 bin",
		"changed 140 name",
		"changed 162 js",
		"changed 164 latin",
		"changed 166 ts",
		"changed 168 fl",
		"changed 170 dt",
		"changed 172 bin",
		"changed 20 d",
		"changed 60 note",
		"changed 80 name",
		"extra 41",
		"extra 9001",
		"missing 40",
		"missing 5000",
	}, diffSet(tr))
	assert.Equal(t, int64(3000), tr.Rows)
	assert.Equal(t, int64(3000), tr.TargetRows)
	assert.Equal(t, int64(2), tr.Missing)
	assert.Equal(t, int64(2), tr.Extra)
	assert.Equal(t, int64(12), tr.Changed)
	assert.Greater(t, tr.Chunks, 5)
	assert.Equal(t, diffSet(exact.Tables[0]), diffSet(tr))
	assert.NotContains(t, tr.Columns, "gen")
	assert.False(t, rep.Clean())

	var text, sqlText bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "changed (id) = (60): note: '' -> NULL (target -> source)")
	assert.Contains(t, text.String(), "changed (id) = (120): bin: X'414243' -> X'616263'")
	assert.Contains(t, text.String(), "changed (id) = (168): fl: 28.000099182128906 -> 28")
	assert.Contains(t, text.String(), "changed (id) = (170): dt: '2024-01-01 00:01:25.000086' -> '2024-01-01 00:01:25.000085'")
	require.NoError(t, rep.WriteRepairSQL(&sqlText))
	assert.Contains(t, sqlText.String(), "DELETE FROM `"+dstName+"`.`t` WHERE `id` IN (41, 9001);")

	// With a tolerance the float rounding is no longer a difference.
	vt, err := verify.New(src, dst, verify.WithFloatTolerance(1e-9))
	require.NoError(t, err)
	rt, err := vt.Verify(ctx, pair)
	require.NoError(t, err)
	assert.NotContains(t, diffSet(rt.Tables[0]), "changed 100 f")
	assert.Equal(t, tr.Differences()-1, rt.Tables[0].Differences())

	// Ignoring columns leaves their differences out.
	ignore := pair
	ignore.Ignore = []string{"d", "note", "ts", "js", "latin", "bin", "fl", "dt"}
	ri, err := v.Verify(ctx, ignore)
	require.NoError(t, err)
	assert.Equal(t, []string{"changed 100 f", "changed 140 name", "changed 80 name", "extra 41", "extra 9001", "missing 40", "missing 5000"}, diffSet(ri.Tables[0]))

	// A WHERE filter restricts both sides.
	filtered := pair
	filtered.Where = "id BETWEEN 30 AND 70"
	rf, err := v.Verify(ctx, filtered)
	require.NoError(t, err)
	assert.Equal(t, []string{"changed 60 note", "extra 41", "missing 40"}, diffSet(rf.Tables[0]))

	res, err := v.Repair(ctx, rep)
	require.NoError(t, err)
	assert.Equal(t, &verify.RepairResult{Deleted: 2, Written: 14, Batches: 2, Complete: true}, res)
	again, err := v.Verify(ctx, pair)
	require.NoError(t, err)
	assert.True(t, again.Clean(), "after repair: %v", diffSet(again.Tables[0]))
}

// TestCompositeCaseInsensitiveKey compares tables on one server under
// different names, keyed by (INT, VARCHAR utf8mb4_general_ci) and by
// (VARCHAR, INT), with keys whose collation order is not their byte order
// ('a\t' sorts before 'a' under PAD SPACE).
func TestCompositeCaseInsensitiveKey(t *testing.T) {
	for _, stringFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("string_first=%v", stringFirst), func(t *testing.T) {
			testCompositeKey(t, stringFirst)
		})
	}
}

func testCompositeKey(t *testing.T, stringFirst bool) {
	ctx := context.Background()
	name := sandboxtest.NewDatabase(t, servers[0], "ci")
	db := sandboxtest.Open(t, servers[0], name)
	pk := "g, k"
	if stringFirst {
		pk = "k, g"
	}
	for _, tb := range []string{"a", "b"} {
		sandboxtest.Exec(t, db,
			"CREATE TABLE "+tb+" (g INT NOT NULL, k VARCHAR(12) COLLATE utf8mb4_general_ci NOT NULL, v INT, PRIMARY KEY ("+pk+"))",
			"INSERT INTO "+tb+" SELECT seq % 3, CONCAT(ELT(1 + seq % 4, 'a', 'B', 'c', 'Ä'), seq), seq FROM seq_1_to_2000",
			"INSERT INTO "+tb+" VALUES (1, 'a', 1), (1, 'a\t', 2), (1, 'a!', 3), (1, 'b ', 4), (2, 'zz', 5)")
	}
	sandboxtest.Exec(t, db,
		"UPDATE b SET k = 'b5' WHERE g = 2 AND k = 'B5'",   // same key, other bytes
		"DELETE FROM b WHERE g = 1 AND k = 'a\t'",          // missing
		"INSERT INTO b VALUES (1, 'a\n', 9), (0, 'ä0', 9)", // extra
		"UPDATE b SET k = 'b' WHERE g = 1 AND k = 'b '",    // 'b ' = 'b' under PAD SPACE
		"UPDATE b SET v = 0 WHERE g = 2 AND k = 'zz'",
	)
	v, err := verify.New(db, db, verify.WithChunkTime(time.Second), verify.WithChunkRowRange(300, 100, 300), verify.WithLeafRows(20))
	require.NoError(t, err)
	pair := verify.TablePair{SourceDatabase: name, SourceTable: "a", TargetTable: "b"}
	rep, err := v.Verify(ctx, pair)
	require.NoError(t, err)
	want := []string{
		"changed 1,'b ' k",
		"changed 2,'B5' k",
		"changed 2,'zz' v",
		"extra 0,'ä0'",
		"extra 1,_utf8mb4 X'610A'",
		"missing 1,_utf8mb4 X'6109'",
	}
	if stringFirst {
		want = []string{
			"changed 'B5',2 k",
			"changed 'b ',1 k",
			"changed 'zz',2 v",
			"extra 'ä0',0",
			"extra _utf8mb4 X'610A',1",
			"missing _utf8mb4 X'6109',1",
		}
	}
	assert.Equal(t, want, diffSet(rep.Tables[0]))
	assert.GreaterOrEqual(t, rep.Tables[0].Chunks, 3)
	_, err = v.Repair(ctx, rep)
	require.NoError(t, err)
	again, err := v.Verify(ctx, pair)
	require.NoError(t, err)
	assert.True(t, again.Clean(), "after repair: %v", diffSet(again.Tables[0]))
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM b WHERE BINARY k = 'b '").Scan(&n))
	assert.Equal(t, 1, n, "the key's bytes are the source's again")
}

// TestUncomparablePairsAreListed: pairs that cannot be compared are
// listed with the reason, and the others are compared all the same.
func TestUncomparablePairsAreListed(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "errs",
		"CREATE TABLE nokey (a INT NULL, b INT, UNIQUE KEY (a))",
		"CREATE TABLE k (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE widened (id INT PRIMARY KEY, name VARCHAR(45) NOT NULL, n INT(11) NULL)",
		"INSERT INTO widened VALUES (1, 'a', 1), (2, 'b', 2)",
		"CREATE VIEW w AS SELECT * FROM k")
	sandboxtest.Exec(t, dst, "ALTER TABLE k ADD COLUMN extra INT",
		"ALTER TABLE widened MODIFY name VARCHAR(100) NOT NULL, MODIFY n INT(10) NULL",
		"UPDATE widened SET n = 3 WHERE id = 2")
	v, err := verify.New(src, dst)
	require.NoError(t, err)
	pair := func(table string) verify.TablePair {
		return verify.TablePair{SourceDatabase: srcName, SourceTable: table, TargetDatabase: dstName}
	}

	rep, err := v.Verify(ctx, pair("nokey"), pair("k"), pair("gone"), pair("w"), pair("widened"))
	require.NoError(t, err)
	require.Len(t, rep.Tables, 1, "the comparable table is compared")
	assert.Equal(t, []string{"changed 2 n"}, diffSet(rep.Tables[0]))
	assert.Equal(t, []verify.ColumnDiff{{Column: "name", Source: "varchar(45) COLLATE " + collation(t, src, srcName) + " NOT NULL",
		Target: "varchar(100) COLLATE " + collation(t, src, srcName) + " NOT NULL"}}, rep.Tables[0].ColumnDiffs,
		"the integer display width is not a difference")
	require.Len(t, rep.Unverified, 4)
	for i, want := range []struct {
		table  string
		side   verify.Side
		err    error
		reason string
	}{
		{"nokey", "source", verify.ErrNoKey, "no primary key or unique NOT NULL key"},
		{"k", "target", verify.ErrMismatch, "column extra is not on the source"},
		{"gone", "source", verify.ErrNotFound, "does not exist"},
		{"w", "source", verify.ErrUnsupported, "is a view, not a base table"},
	} {
		u := rep.Unverified[i]
		assert.Equal(t, want.table, u.SourceTable)
		assert.Equal(t, dstName, u.TargetDatabase)
		assert.Equal(t, want.side, u.Side, want.table)
		assert.ErrorIs(t, u.Err, want.err, want.table)
		assert.Contains(t, u.Reason, want.reason)
		var te *verify.TableError
		require.True(t, errors.As(u.Err, &te))
		assert.Equal(t, want.table, te.Table)
	}
	assert.False(t, rep.Complete())
	assert.False(t, rep.Clean())
	var text, js bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "1 tables, 2 rows, 1 differing rows, 1 columns defined differently, 4 tables not compared")
	assert.Contains(t, text.String(), "    column name is varchar(100) COLLATE")
	assert.Contains(t, text.String(), fmt.Sprintf("  %s.nokey -> %s.nokey: not compared: source table: no primary key", srcName, dstName))
	assert.Contains(t, text.String(), fmt.Sprintf("  %s.w -> %s.w: not compared: source table: is a view", srcName, dstName))
	require.NoError(t, rep.WriteJSON(&js))
	assert.Contains(t, js.String(), `"reason": "does not exist"`)
	assert.Contains(t, js.String(), `"column_diffs"`)

	rep, err = v.Verify(ctx, verify.TablePair{SourceDatabase: srcName, SourceTable: "k", TargetDatabase: dstName, Ignore: []string{"extra"}})
	require.NoError(t, err)
	assert.True(t, rep.Clean())

	// Nothing comparable: a report all the same, not clean.
	rep, err = v.Verify(ctx, pair("gone"))
	require.NoError(t, err)
	assert.Empty(t, rep.Tables)
	assert.False(t, rep.Clean())

	_, err = verify.New(src, dst, verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithRecheck(time.Second, 1))
	assert.Error(t, err)
	_, err = verify.New(src, dst, verify.WithParallelism(0))
	assert.Error(t, err)
	_, err = verify.New(src, dst, verify.WithChunkTime(0))
	assert.ErrorContains(t, err, "WithChunkTime")
	_, err = verify.New(src, dst, verify.WithChunkTime(time.Microsecond))
	assert.ErrorContains(t, err, "WithChunkTime: 1µs is below 1ms")
	_, err = verify.New(src, dst, verify.WithChunkRowRange(50, 100, 1000))
	assert.ErrorContains(t, err, "WithChunkRowRange")
	_, err = verify.New(nil, dst)
	assert.Error(t, err)
}

// TestSameTableRefused: a pair whose target is its source table, on one
// server reached through another spelling of its address, is refused
// before anything is read or written; another database on the same server
// is compared.
func TestSameTableRefused(t *testing.T) {
	ctx := context.Background()
	name := sandboxtest.NewDatabase(t, servers[0], "same")
	other := sandboxtest.NewDatabase(t, servers[0], "same_other")
	db := sandboxtest.Open(t, servers[0], "")
	sandboxtest.Exec(t, db, "CREATE TABLE `"+name+"`.t (id INT PRIMARY KEY, v INT)", "INSERT INTO `"+name+"`.t VALUES (1, 1), (2, 2)",
		"CREATE TABLE `"+other+"`.t (id INT PRIMARY KEY, v INT)", "INSERT INTO `"+other+"`.t VALUES (1, 1)")
	cfg := servers[0].Config("")
	host := "localhost"
	if servers[0].Host() == "localhost" {
		host = "127.0.0.1"
	}
	cfg.Addr = fmt.Sprintf("%s:%d", host, servers[0].Port())
	alias, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = alias.Close() })

	v, err := verify.New(db, alias)
	require.NoError(t, err)
	_, err = v.Verify(ctx, verify.TablePair{SourceDatabase: name, SourceTable: "t"})
	require.ErrorIs(t, err, verify.ErrSameTable)
	assert.Contains(t, err.Error(), "verify: target table "+name+".t: is the source table itself, on server ")
	_, err = v.Verify(ctx, verify.TablePair{SourceDatabase: name, SourceTable: "t", TargetDatabase: strings.ToUpper(name), TargetTable: "T"})
	require.ErrorIs(t, err, verify.ErrSameTable)

	rep, err := v.Verify(ctx, verify.TablePair{SourceDatabase: name, SourceTable: "t", TargetDatabase: other})
	require.NoError(t, err)
	assert.Equal(t, []string{"missing 2"}, diffSet(rep.Tables[0]))

	// A report that names one table on both sides is not repaired.
	rep.Tables[0].TargetDatabase = name
	_, err = v.Repair(ctx, rep)
	require.ErrorIs(t, err, verify.ErrSameTable)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM `"+other+"`.t").Scan(&n))
	assert.Equal(t, 1, n)
}

// collation is the default collation of database.
func collation(t *testing.T, db *sql.DB, database string) string {
	t.Helper()
	var c string
	require.NoError(t, db.QueryRow("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", database).Scan(&c))
	return c
}

// TestRepairRefusesTriggers: a target table whose triggers would fire on
// the repair is refused before anything changes, naming the triggers; a
// trigger on an event the repair does not cause does not stop it.
func TestRepairRefusesTriggers(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "trig",
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
		"INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_100",
		"CREATE TABLE d (id INT PRIMARY KEY, v INT)",
		"INSERT INTO d SELECT seq, seq FROM seq_1_to_10")
	sandboxtest.Exec(t, dst,
		"CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 'from trigger'",
		"CREATE TRIGGER t_bu BEFORE UPDATE ON t FOR EACH ROW SET NEW.v = UPPER(NEW.v)",
		"CREATE TRIGGER d_bd BEFORE DELETE ON d FOR EACH ROW SET @deleted = OLD.id",
		"DELETE FROM t WHERE id = 7",
		"DELETE FROM d WHERE id = 3")
	v, err := verify.New(src, dst)
	require.NoError(t, err)
	tp := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName}
	dp := verify.TablePair{SourceDatabase: srcName, SourceTable: "d", TargetDatabase: dstName}
	rep, err := v.Verify(ctx, tp, dp)
	require.NoError(t, err)
	assert.Equal(t, []string{"missing 7"}, diffSet(rep.Tables[0]))
	assert.Len(t, rep.Tables[0].TargetTriggers, 2)

	var sqlText bytes.Buffer
	require.NoError(t, rep.WriteRepairSQL(&sqlText))
	assert.Contains(t, sqlText.String(), "-- WARNING: "+dstName+".t: trigger `t_bi` (BEFORE INSERT), `t_bu` (BEFORE UPDATE) fires on these statements")
	assert.NotContains(t, sqlText.String(), "d_bd", "a DELETE trigger does not fire on an INSERT")

	_, err = v.Repair(ctx, rep)
	require.ErrorIs(t, err, verify.ErrTriggers)
	assert.Contains(t, err.Error(), "target table "+dstName+".t: repair refused, nothing changed: trigger `t_bi` (BEFORE INSERT), `t_bu` (BEFORE UPDATE) would fire")
	assert.NotContains(t, err.Error(), "d_bd")
	var n int
	require.NoError(t, dst.QueryRow("SELECT COUNT(*) FROM d WHERE id = 3").Scan(&n))
	assert.Equal(t, 0, n, "nothing repaired, not even the table without a firing trigger")

	// Without the table whose triggers fire, the repair is exact.
	rep, err = v.Verify(ctx, dp)
	require.NoError(t, err)
	_, err = v.Repair(ctx, rep)
	require.NoError(t, err)
	rep, err = v.Verify(ctx, tp, dp)
	require.NoError(t, err)
	assert.Equal(t, []string{"missing 7"}, diffSet(rep.Tables[0]))
	assert.Empty(t, rep.Tables[1].Diffs)
}

// TestRecheckSkipsInFlightWrites: a difference that goes away before the
// recheck (a write on its way to the target) is not reported; one that
// stays is. In a chunk that keeps changing, rows are looked at again too.
// The writes arrive during the recheck delays, in order: chunks are
// examined one at a time.
func TestRecheckSkipsInFlightWrites(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "recheck",
		"CREATE TABLE t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_1000")
	sandboxtest.Exec(t, dst, "UPDATE t SET v = 0 WHERE id IN (10, 860, 880)")
	waits := 0
	arrive := func(ctx context.Context, _ time.Duration) error {
		waits++
		switch waits {
		case 1: // the chunk of 10 is rechecked: the write has arrived
			_, err := dst.ExecContext(ctx, "UPDATE t SET v = 10 WHERE id = 10")
			return err
		case 3: // the chunk of 860 and 880 still differed; 880 arrives before its rows are read again
			_, err := dst.ExecContext(ctx, "UPDATE t SET v = 880 WHERE id = 880")
			return err
		}
		return nil
	}
	v, err := verify.New(src, dst, verify.WithRecheck(time.Millisecond, 1), verify.WithChunkTime(time.Second), verify.WithChunkRowRange(100, 100, 100),
		verify.WithExactChunks(), verify.WithParallelism(1), verify.WithWait(arrive))
	require.NoError(t, err)
	rep, err := v.Verify(ctx, verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName})
	require.NoError(t, err)
	assert.Equal(t, 3, waits)
	assert.Equal(t, []string{"changed 860 v"}, diffSet(rep.Tables[0]))
	assert.Equal(t, 1, rep.Tables[0].Rechecked)
	assert.Equal(t, 1, rep.Tables[0].DifferingChunks)
	assert.Equal(t, int64(1), rep.Tables[0].SettledRows)
	assert.Equal(t, int64(1), rep.Tables[0].Changed)
}

// TestSnapshotModes runs both consistent modes: the snapshot is taken when
// Verify starts, so a change made after that is not seen.
func TestSnapshotModes(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "snap",
		"CREATE TABLE t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
	sandboxtest.Exec(t, dst, "UPDATE t SET v = 0 WHERE id = 1500")
	for _, mode := range []verify.SnapshotMode{verify.SnapshotQuiesced, verify.SnapshotLocked} {
		t.Run(mode.String(), func(t *testing.T) {
			v, err := verify.New(src, dst, verify.WithSnapshot(mode), verify.WithParallelism(2))
			require.NoError(t, err)
			rep, err := v.Verify(ctx, verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName})
			require.NoError(t, err)
			assert.Equal(t, mode.String(), rep.Snapshot)
			assert.Equal(t, []string{"changed 1500 v"}, diffSet(rep.Tables[0]))
		})
	}
	// The pools' own connections are not left inside a snapshot or lock.
	sandboxtest.Exec(t, dst, "UPDATE t SET v = 1500 WHERE id = 1500")
	var n int
	require.NoError(t, src.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Equal(t, 2000, n)
}

// TestSampleLimit: huge differences keep exact counts but list only the
// sample, and repair converges in rounds.
func TestSampleLimit(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "sample",
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_5000")
	sandboxtest.Exec(t, dst, "DELETE FROM t WHERE id % 10 = 0", "UPDATE t SET v = 'x' WHERE id % 10 = 1")
	v, err := verify.New(src, dst, verify.WithSampleLimit(300), verify.WithRepairBatch(70))
	require.NoError(t, err)
	pair := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName}
	rounds := 0
	for ; rounds < 5; rounds++ {
		rep, err := v.Verify(ctx, pair)
		require.NoError(t, err)
		if rep.Clean() {
			break
		}
		if rounds == 0 {
			assert.Equal(t, int64(500), rep.Tables[0].Missing)
			assert.Equal(t, int64(500), rep.Tables[0].Changed)
			assert.Len(t, rep.Tables[0].Diffs, 300)
			assert.True(t, rep.Tables[0].Truncated)
		}
		res, err := v.Repair(ctx, rep)
		require.NoError(t, err)
		assert.Equal(t, !rep.Tables[0].Truncated, res.Complete)
	}
	assert.Equal(t, 4, rounds)
}

func TestDatabasePairs(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "dbpairs",
		"CREATE TABLE b (id INT PRIMARY KEY)", "CREATE TABLE a (id INT PRIMARY KEY)", "CREATE VIEW w AS SELECT * FROM a",
		"INSERT INTO a VALUES (1), (2)")
	pairs, err := verify.DatabasePairs(ctx, src, srcName, dstName)
	require.NoError(t, err)
	require.Len(t, pairs, 2)
	assert.Equal(t, "a", pairs[0].SourceTable)
	v, err := verify.New(src, dst)
	require.NoError(t, err)
	rep, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.True(t, rep.Clean())
	assert.Equal(t, int64(2), rep.Rows())
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	assert.Contains(t, js.String(), fmt.Sprintf(`"target_database": %q`, dstName))

	// Rows only the target has in a table empty on the source are found,
	// and a report read back from JSON repairs them.
	sandboxtest.Exec(t, dst, "INSERT INTO b VALUES (5), (6)")
	rep, err = v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.Equal(t, []string{"extra 5", "extra 6"}, diffSet(rep.Tables[1]))
	js.Reset()
	require.NoError(t, rep.WriteJSON(&js))
	var back verify.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	res, err := v.Repair(ctx, &back)
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Deleted)
	rep, err = v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.True(t, rep.Clean())
}

// TestServerHashMatchesGoMirror checks the documented row encoding and hash
// against the server's computation, row by row, for every column type,
// with each row hash function.
func TestServerHashMatchesGoMirror(t *testing.T) {
	ctx := context.Background()
	name := sandboxtest.NewDatabase(t, servers[0], "mirror")
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, typesTable, typesRows,
		"ALTER TABLE t ADD COLUMN b BIT(12) NULL, ADD COLUMN e ENUM('x','y#z') NOT NULL DEFAULT 'y#z', ADD COLUMN blob_col BLOB NULL",
		"UPDATE t SET b = id % 4096, blob_col = IF(id % 3 = 0, '', UNHEX('23002341')) WHERE id % 7 <> 0",
		"UPDATE t SET name = '#1#', note = '' WHERE id = 2")
	enc, values, fields, err := verify.RowEncodingSQL(ctx, db, verify.TablePair{SourceDatabase: name, SourceTable: "t"})
	require.NoError(t, err)
	for _, h := range []verify.HashFunc{verify.HashCRC32C, verify.HashCRC32} {
		t.Run(h.String(), func(t *testing.T) {
			rows, err := db.QueryContext(ctx, "SELECT "+h.String()+"("+enc+") * 4294967291, "+strings.Join(values, ", ")+" FROM t")
			require.NoError(t, err)
			defer rows.Close()
			n := 0
			var sum uint64
			for rows.Next() {
				var hash uint64
				vals := make([][]byte, len(values))
				ptrs := []any{&hash}
				for i := range vals {
					ptrs = append(ptrs, &vals[i])
				}
				require.NoError(t, rows.Scan(ptrs...))
				g := verify.RowHash(h, verify.EncodeRow(nil, fields, vals))
				require.Equal(t, hash, g, "row %s", vals[0])
				sum ^= g
				n++
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, 3000, n)

			// The chunk checksum is the XOR of the same row hashes.
			list, err := verify.ChecksumSQL(ctx, db, verify.TablePair{SourceDatabase: name, SourceTable: "t"}, h)
			require.NoError(t, err)
			assert.Contains(t, list, h.String()+"(")
			var count int
			var got uint64
			require.NoError(t, db.QueryRowContext(ctx, "SELECT "+list+" FROM t").Scan(&count, &got))
			assert.Equal(t, 3000, count)
			assert.Equal(t, sum, got)
		})
	}
}

// TestIntegerKeyRangesAtTheLimits chunks tables keyed by the extreme
// values of BIGINT and BIGINT UNSIGNED by ranges of the key and checks
// that every row is compared and the differences found.
func TestIntegerKeyRangesAtTheLimits(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "limits",
		"CREATE TABLE s (id BIGINT PRIMARY KEY, v INT)",
		"INSERT INTO s VALUES (-9223372036854775808, 1), (-5, 2), (0, 3), (7, 4), (9223372036854775806, 5), (9223372036854775807, 6)",
		"INSERT INTO s SELECT seq * 1000003, seq FROM seq_1_to_500",
		"CREATE TABLE u (id BIGINT UNSIGNED PRIMARY KEY, v INT)",
		"INSERT INTO u VALUES (0, 1), (1, 2), (18446744073709551000, 3), (18446744073709551615, 4)",
		"INSERT INTO u SELECT seq * 36028797018963968, seq FROM seq_1_to_500")
	sandboxtest.Exec(t, dst,
		"UPDATE s SET v = 0 WHERE id IN (-9223372036854775808, 9223372036854775807)",
		"UPDATE u SET v = 0 WHERE id IN (0, 18446744073709551615)",
		"DELETE FROM u WHERE id = 18446744073709551000")
	v, err := verify.New(src, dst, verify.WithChunkTime(time.Second), verify.WithChunkRowRange(100, 100, 100))
	require.NoError(t, err)
	rep, err := v.Verify(ctx,
		verify.TablePair{SourceDatabase: srcName, SourceTable: "s", TargetDatabase: dstName},
		verify.TablePair{SourceDatabase: srcName, SourceTable: "u", TargetDatabase: dstName})
	require.NoError(t, err)
	assert.Equal(t, []string{"changed -9223372036854775808 v", "changed 9223372036854775807 v"}, diffSet(rep.Tables[0]))
	assert.Equal(t, []string{"changed 0 v", "changed 18446744073709551615 v", "missing 18446744073709551000"}, diffSet(rep.Tables[1]))
	assert.Equal(t, int64(506), rep.Tables[0].Rows)
	assert.Equal(t, int64(504), rep.Tables[1].Rows)
	assert.Greater(t, rep.Tables[0].Chunks, 3)
	_, err = v.Repair(ctx, rep)
	require.NoError(t, err)
	again, err := v.Verify(ctx,
		verify.TablePair{SourceDatabase: srcName, SourceTable: "s", TargetDatabase: dstName},
		verify.TablePair{SourceDatabase: srcName, SourceTable: "u", TargetDatabase: dstName})
	require.NoError(t, err)
	assert.True(t, again.Clean())
}

// TestWholeTablesFirst checks the whole-table pass: an equal table small
// enough is settled by one checksum a side, a differing one is then cut
// into chunks and its rows found, and a table above the limit is chunked
// from the start.
func TestWholeTablesFirst(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "whole",
		"CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO a SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000",
		"CREATE TABLE b LIKE a",
		"INSERT INTO b SELECT * FROM a",
		"ANALYZE TABLE a, b")
	sandboxtest.Exec(t, dst, "UPDATE b SET v = 'x' WHERE id = 1500")
	pairs := []verify.TablePair{
		{SourceDatabase: srcName, SourceTable: "a", TargetDatabase: dstName},
		{SourceDatabase: srcName, SourceTable: "b", TargetDatabase: dstName},
	}
	small := verify.WithChunkRowRange(100, 100, 100)

	v, err := verify.New(src, dst, small)
	require.NoError(t, err)
	rep, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Tables[0].Chunks, "an equal table: one whole-table checksum")
	assert.Equal(t, int64(2000), rep.Tables[0].Rows)
	assert.Empty(t, diffSet(rep.Tables[0]))
	assert.Greater(t, rep.Tables[1].Chunks, 10, "a differing table is cut into chunks")
	assert.Equal(t, int64(2000), rep.Tables[1].Rows)
	assert.Equal(t, []string{"changed 1500 v"}, diffSet(rep.Tables[1]))

	for _, opt := range []verify.Option{verify.WithWholeTables(0), verify.WithWholeTables(1000)} {
		v, err := verify.New(src, dst, small, opt)
		require.NoError(t, err)
		rep, err := v.Verify(ctx, pairs...)
		require.NoError(t, err)
		assert.Greater(t, rep.Tables[0].Chunks, 10, "chunks from the start")
		assert.Equal(t, int64(2000), rep.Tables[0].Rows)
		assert.Equal(t, []string{"changed 1500 v"}, diffSet(rep.Tables[1]))
	}
	_, err = verify.New(src, dst, verify.WithWholeTables(-1))
	assert.ErrorContains(t, err, "WithWholeTables: -1 rows is negative")
}

// TestSnapshotOpened: the hook runs once the snapshots are open and before
// any row is read, so a write it makes is not seen; the hook is refused
// without SnapshotQuiesced.
func TestSnapshotOpened(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "opened",
		"CREATE TABLE t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_500")
	calls := 0
	v, err := verify.New(src, dst, verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithParallelism(2),
		verify.WithSnapshotOpened(func() {
			calls++
			sandboxtest.Exec(t, dst, "UPDATE t SET v = 0 WHERE id = 100")
		}))
	require.NoError(t, err)
	rep, err := v.Verify(ctx, verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName})
	require.NoError(t, err)
	assert.Equal(t, 1, calls)
	assert.True(t, rep.Clean())
	_, err = verify.New(src, dst, verify.WithSnapshotOpened(func() {}))
	require.Error(t, err)
}

// TestQuietPoint: the quiet point runs once, before the snapshots start
// (a write it makes is seen) and before WithSnapshotOpened's hook; its
// error ends Verify, wrapped; it is refused without SnapshotQuiesced.
func TestQuietPoint(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "quiet",
		"CREATE TABLE t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_500")
	var calls []string
	v, err := verify.New(src, dst, verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithParallelism(2),
		verify.WithQuietPoint(func(ctx context.Context) error {
			calls = append(calls, "quiet")
			_, err := dst.ExecContext(ctx, "UPDATE t SET v = 0 WHERE id = 100")
			return err
		}),
		verify.WithSnapshotOpened(func() { calls = append(calls, "opened") }))
	require.NoError(t, err)
	pair := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName}
	rep, err := v.Verify(ctx, pair)
	require.NoError(t, err)
	assert.Equal(t, []string{"quiet", "opened"}, calls)
	assert.Equal(t, int64(1), rep.Differences())

	stop := errors.New("no quiet point")
	v, err = verify.New(src, dst, verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithQuietPoint(func(context.Context) error { return stop }))
	require.NoError(t, err)
	_, err = v.Verify(ctx, pair)
	require.ErrorIs(t, err, stop)
	_, err = verify.New(src, dst, verify.WithQuietPoint(func(context.Context) error { return nil }))
	require.Error(t, err)
}

// TestWholeTableHashDetects: the whole-table checksum, the only thing that
// declares a table equal, sees each change that a plain CONCAT_WS + XOR of
// CRCs misses: values of equal length swapped between two rows (the CRCs'
// changes cancel in a XOR), values swapped inside a row, a column boundary
// shifted, NULL against the empty string and against 'NULL'.
func TestWholeTableHashDetects(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "hashdetects",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10) NULL, b VARCHAR(10) NULL)")
	rows := "INSERT INTO t VALUES (1, 'ab', 'cd'), (2, 'ef', 'gh'), (3, 'a', '0c'), (4, NULL, 'x'), (5, 'y', NULL), (6, 'p', 'q')"
	sandboxtest.Exec(t, src, rows)
	for _, h := range []verify.HashFunc{verify.HashCRC32C, verify.HashCRC32} {
		t.Run(h.String(), func(t *testing.T) {
			var opts []verify.Option
			if h == verify.HashCRC32 {
				opts = append(opts, verify.WithoutCRC32C(src, dst))
			}
			v, err := verify.New(src, dst, opts...)
			require.NoError(t, err)
			got, err := v.RowHashFunc(ctx)
			require.NoError(t, err)
			require.Equal(t, h, got)
			wholeTableHashDetects(t, v, dst, srcName, dstName, rows)
		})
	}
}

// wholeTableHashDetects is TestWholeTableHashDetects with v.
func wholeTableHashDetects(t *testing.T, v *verify.Verifier, dst *sql.DB, srcName, dstName, rows string) {
	ctx := context.Background()
	pair := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName}
	for _, c := range []struct {
		name   string
		change []string
		want   []string
	}{
		{"swapped between rows", []string{"UPDATE t SET b = 'gh' WHERE id = 1", "UPDATE t SET b = 'cd' WHERE id = 2"},
			[]string{"changed 1 b", "changed 2 b"}},
		{"swapped inside a row", []string{"UPDATE t SET a = 'cd', b = 'ab' WHERE id = 1"}, []string{"changed 1 a,b"}},
		{"boundary shifted", []string{"UPDATE t SET a = 'a0', b = 'c' WHERE id = 3"}, []string{"changed 3 a,b"}},
		{"NULL against ''", []string{"UPDATE t SET a = '' WHERE id = 4"}, []string{"changed 4 a"}},
		{"NULL against 'NULL'", []string{"UPDATE t SET b = 'NULL' WHERE id = 5"}, []string{"changed 5 b"}},
		{"NULL moved to the next column", []string{"UPDATE t SET a = NULL, b = 'p' WHERE id = 6"}, []string{"changed 6 a,b"}},
	} {
		sandboxtest.Exec(t, dst, "DROP TABLE IF EXISTS t", "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10) NULL, b VARCHAR(10) NULL)", rows)
		sandboxtest.Exec(t, dst, c.change...)
		rep, err := v.Verify(ctx, pair)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, diffSet(rep.Tables[0]), c.name)
	}
}

// TestRowHashFallsBackToCRC32: when one server lacks CRC32C() (as MySQL
// does; simulated on MariaDB), both sides hash with CRC32(): equal tables
// have equal checksums (no chunk differs), and the log says so.
func TestRowHashFallsBackToCRC32(t *testing.T) {
	ctx := context.Background()
	src, dst, srcName, dstName := pairOf(t, "hashfallback",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10) NULL)",
		"INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_100")
	pair := verify.TablePair{SourceDatabase: srcName, SourceTable: "t", TargetDatabase: dstName}
	for _, c := range []struct {
		name  string
		lacks []*sql.DB
		want  verify.HashFunc
	}{
		{"both have CRC32C", nil, verify.HashCRC32C},
		{"source lacks CRC32C", []*sql.DB{src}, verify.HashCRC32},
		{"target lacks CRC32C", []*sql.DB{dst}, verify.HashCRC32},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			v, err := verify.New(src, dst, verify.WithoutCRC32C(c.lacks...), verify.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			got, err := v.RowHashFunc(ctx)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			rep, err := v.Verify(ctx, pair)
			require.NoError(t, err)
			assert.True(t, rep.Clean())
			assert.Zero(t, rep.Tables[0].DifferingChunks, "both sides must hash alike")
			if c.want == verify.HashCRC32 {
				assert.Contains(t, logs.String(), "the row hash uses CRC32()")
			}
		})
	}
}
