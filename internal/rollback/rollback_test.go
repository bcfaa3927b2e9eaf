package rollback_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/rollback"
	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 1, &servers)) }

var serverIDs atomic.Uint32

func init() { serverIDs.Store(910000) }

// run runs stmt in its own transaction on a session of db and returns the
// position before it and its GTID.
func run(t *testing.T, db *sql.DB, stmt string) (start, gtid string) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	// A session time zone other than the binary log's UTC.
	_, err = c.ExecContext(ctx, "SET time_zone = '+05:00'")
	require.NoError(t, err)
	defer c.ExecContext(ctx, "SET time_zone = DEFAULT") //nolint:errcheck // the pool's next user
	require.NoError(t, c.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&start))
	_, err = c.ExecContext(ctx, stmt)
	require.NoError(t, err, stmt)
	require.NoError(t, c.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid))
	return start, gtid
}

// generate writes the rollback of the transaction gtid.
func generate(t *testing.T, start, gtid string, budget int64, w io.Writer) (rollback.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return rollback.Generate(ctx, rollback.Config{DSN: servers[0].DSN(""), ServerID: serverIDs.Add(1),
		Start: start, GTID: gtid, Budget: budget}, w)
}

// apply runs a rollback script on one session of db and returns the rows
// its statements affected.
func apply(t *testing.T, db *sql.DB, database, script string) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.ExecContext(ctx, "USE "+schema.QuoteIdent(database))
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "SET time_zone = '-03:00'")
	require.NoError(t, err)
	defer c.ExecContext(ctx, "SET time_zone = DEFAULT") //nolint:errcheck // the pool's next user
	var n int64
	for stmt := range strings.SplitSeq(strings.TrimSuffix(script, ";\n"), ";\n") {
		res, err := c.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
		a, err := res.RowsAffected()
		require.NoError(t, err)
		n += a
	}
	return n
}

// state is the table's CHECKSUM TABLE and its rows as text.
func state(t *testing.T, db *sql.DB, qname string) string {
	t.Helper()
	var name string
	var sum sql.NullInt64
	require.NoError(t, db.QueryRow("CHECKSUM TABLE "+qname).Scan(&name, &sum))
	rows, err := db.Query("SELECT * FROM " + qname + " ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				b.WriteString("'" + string(v) + "'|")
			}
		}
		b.WriteByte('\n')
	}
	require.NoError(t, rows.Err())
	return fmt.Sprintf("%schecksum %v", b.String(), sum)
}

// TestRevertsEachStatement runs statements of every kind on tables of many
// kinds of values, each followed by its rollback, and checks the table is
// back to its state before the statement.
func TestRevertsEachStatement(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "kinds"))
	for _, stmt := range sampledata.KindsTable {
		sandboxtest.Exec(t, db, stmt)
	}
	sandboxtest.Exec(t, db, `CREATE TABLE mixed (
		a INT NOT NULL, b VARCHAR(20) CHARACTER SET utf8mb4 NOT NULL,
		d DECIMAL(30,10) NULL, ts TIMESTAMP(6) NULL, dt DATETIME(3) NULL, tm TIME(2) NULL,
		bl BLOB NULL, tx TEXT NULL, bn BINARY(4) NULL, db DOUBLE NULL,
		g INT AS (a * 2) VIRTUAL, gs VARCHAR(30) AS (CONCAT(b, '!')) PERSISTENT,
		PRIMARY KEY (a, b), UNIQUE KEY (gs))`)
	sandboxtest.Exec(t, db, `INSERT INTO mixed (a, b, d, ts, dt, tm, bl, tx, bn, db) VALUES
		(1, 'é😀', -12345678901234567890.0123456789, '2024-03-31 01:30:00.123456', '1000-01-01 00:00:00.000', '-838:59:59.00', x'00ff5c27', 'multi\nline ''q'' \\', x'00', 1e308),
		(2, 'b', 0, '1970-01-01 00:00:01', '9999-12-31 23:59:59.999', '00:00:00.01', '', '', x'01020304', -0.0),
		(3, 'c', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	// A table with only a unique NOT NULL key.
	sandboxtest.Exec(t, db, "CREATE TABLE uk (u VARCHAR(10) NOT NULL, v INT NULL, UNIQUE KEY (u))")
	sandboxtest.Exec(t, db, "INSERT INTO uk VALUES ('x', 1), ('y', NULL)")

	for _, tc := range []struct{ table, stmt string }{
		{"kinds", "UPDATE kinds SET txt = CONCAT(txt, '\\\\x'), bin = x'00', fl = 1.5, y = 1999, b = 7, i6 = '::2', u = '00000000-0000-0000-0000-000000000002', g = ST_GeomFromText('POINT(3 4)'), js = '{\"z\": 1}', e = 'a', s = 'x'"},
		{"kinds", "UPDATE kinds SET txt = NULL, bin = NULL, fl = NULL, y = NULL, b = NULL, i6 = NULL, u = NULL, g = NULL, js = NULL, e = NULL, s = NULL WHERE id IN (1, 2, 5)"},
		{"kinds", "DELETE FROM kinds WHERE id <> 4"},
		{"kinds", "INSERT INTO kinds SELECT id + 100, txt, bin, fl, y, b, i6, u, g, js, e, s FROM kinds"},
		{"kinds", "UPDATE kinds SET id = id + 1 ORDER BY id DESC"},
		{"mixed", "UPDATE mixed SET d = d + 1, ts = '2030-01-01 00:00:00', dt = NULL, tm = '12:00:00', bl = x'ff', tx = 'ü', bn = x'ffffffff', db = 2.5"},
		{"mixed", "UPDATE mixed SET b = CONCAT(b, 'z'), a = a + 10 WHERE a < 3"},
		{"mixed", "DELETE FROM mixed"},
		{"mixed", "INSERT INTO mixed (a, b, tx) VALUES (7, 'new', 'x'), (8, 'new2', NULL)"},
		{"uk", "UPDATE uk SET u = CONCAT(u, '2'), v = 3"},
		{"uk", "DELETE FROM uk WHERE v IS NULL"},
	} {
		before := state(t, db, tc.table)
		start, gtid := run(t, db, tc.stmt)
		require.NotEqual(t, before, state(t, db, tc.table), "statement changed nothing: %s", tc.stmt)
		var script bytes.Buffer
		res, err := generate(t, start, gtid, 0, &script)
		require.NoError(t, err, tc.stmt)
		assert.Equal(t, int64(script.Len()), res.Bytes)
		apply(t, db, db2name(t, db), script.String())
		require.Equal(t, before, state(t, db, tc.table), "after the rollback of %s:\n%s", tc.stmt, script.String())
	}
}

func db2name(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name string
	require.NoError(t, db.QueryRow("SELECT DATABASE()").Scan(&name))
	return name
}

// TestGuardDetectsLaterChange: a row updated again after the statement is
// not restored, and the rollback's affected rows tell.
func TestGuardDetectsLaterChange(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "guard"))
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT, w VARCHAR(10))")
	sandboxtest.Exec(t, db, "INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')")
	start, gtid := run(t, db, "UPDATE t SET v = v + 10")
	sandboxtest.Exec(t, db, "UPDATE t SET v = 99 WHERE id = 2")
	var script bytes.Buffer
	res, err := generate(t, start, gtid, 0, &script)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Rows)
	assert.Equal(t, int64(2), apply(t, db, db2name(t, db), script.String()), script.String())
	var sum int
	require.NoError(t, db.QueryRow("SELECT SUM(v) FROM t").Scan(&sum))
	assert.Equal(t, 1+99+3, sum)
}

// TestRefusesTableWithoutKey names the table.
func TestRefusesTableWithoutKey(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "nokey"))
	sandboxtest.Exec(t, db, "CREATE TABLE heap (v INT NULL, UNIQUE KEY (v))")
	sandboxtest.Exec(t, db, "INSERT INTO heap VALUES (1)")
	start, gtid := run(t, db, "DELETE FROM heap")
	_, err := generate(t, start, gtid, 0, io.Discard)
	require.ErrorIs(t, err, schema.ErrNoKey)
	assert.Contains(t, err.Error(), "`heap`")
}

// TestNoRowChange: a DDL logs no row change.
func TestNoRowChange(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "ddl"))
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	start, gtid := run(t, db, "ALTER TABLE t ADD COLUMN v INT")
	_, err := generate(t, start, gtid, 0, io.Discard)
	require.ErrorIs(t, err, rollback.ErrNotLogged)
}

// countWriter counts what is written and keeps the first statements.
type countWriter struct {
	n    int64
	head bytes.Buffer
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.head.Len() < 4096 {
		w.head.Write(p[:min(len(p), 4096)])
	}
	return len(p), nil
}

// TestBigStatementBoundedMemory: the rollback of a 100k-row UPDATE of
// wide rows (a script far larger than the budget) is generated with the
// heap far below the script's size.
func TestBigStatementBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows")
	}
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "big"))
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(1000) NOT NULL)")
	sandboxtest.Exec(t, db, `INSERT INTO t SELECT seq, REPEAT(CHAR(65 + seq % 26), 600) FROM seq_1_to_100000`)
	start, gtid := run(t, db, "UPDATE t SET pad = REPEAT('z', 600)")

	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	var w countWriter
	res, err := generate(t, start, gtid, 4<<20, &w)
	close(done)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(100000), res.Rows)
	assert.Equal(t, res.Bytes, w.n)
	assert.Greater(t, w.n, int64(100<<20), "the script is larger than 100 MiB")
	assert.Less(t, peak.Load(), uint64(48<<20), "heap in use peaked at %d bytes", peak.Load())
	assert.True(t, strings.HasPrefix(w.head.String(), "UPDATE `big"), w.head.String()[:80])
	assert.Contains(t, w.head.String(), "`id` = 100000 AND `pad` <=> 'zzz")
}

// TestCap refuses more rows than MaxRows.
func TestCap(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "cap"))
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	start, gtid := run(t, db, "INSERT INTO t VALUES (1), (2), (3)")
	ctx := context.Background()
	_, err := rollback.Generate(ctx, rollback.Config{DSN: servers[0].DSN(""), ServerID: serverIDs.Add(1),
		Start: start, GTID: gtid, MaxRows: 2}, io.Discard)
	require.ErrorIs(t, err, rollback.ErrTooManyRows)
}

// BenchmarkGenerate100kUpdate measures the rollback generation rate of a
// 100k-row UPDATE (rows/s; the transaction is read again each time).
func BenchmarkGenerate100kUpdate(b *testing.B) {
	db := sandboxtest.Open(b, servers[0], sandboxtest.NewDatabase(b, servers[0], "bench"))
	sandboxtest.Exec(b, db, "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
	sandboxtest.Exec(b, db, "INSERT INTO t SELECT seq, seq % 1000, REPEAT('c', 120), REPEAT('p', 60) FROM seq_1_to_100000")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	require.NoError(b, err)
	var start, gtid string
	require.NoError(b, c.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&start))
	_, err = c.ExecContext(ctx, "UPDATE t SET k = k + 1")
	require.NoError(b, err)
	require.NoError(b, c.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid))
	require.NoError(b, c.Close())
	var rows int64
	for b.Loop() {
		res, err := rollback.Generate(ctx, rollback.Config{DSN: servers[0].DSN(""), ServerID: serverIDs.Add(1),
			Start: start, GTID: gtid}, io.Discard)
		require.NoError(b, err)
		rows += res.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
