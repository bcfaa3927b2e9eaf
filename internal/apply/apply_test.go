package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// moreKinds is a table of the types sampledata.KindsTable leaves out.
const moreKinds = `more (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, i TINYINT NULL, d DECIMAL(20,6) NULL, dbl DOUBLE NULL,
	dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL, da DATE NULL, ti TIME(3) NULL, ch CHAR(10) NULL, tx TEXT NULL,
	bl BLOB NULL, lat VARCHAR(20) CHARACTER SET latin1 NULL, gen BIGINT AS (i * 2) VIRTUAL, UNIQUE KEY (ch))`

// TestValuesReachTheTarget applies inserts, then updates and deletes, of
// values of every kind, read from a source table as a decoder types them,
// and checks that the target table ends equal to the source's.
func TestValuesReachTheTarget(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	src := sandboxtest.NewDatabase(t, servers[0], "src")
	srcDB := sandboxtest.Open(t, servers[0], src)
	for _, db := range []string{src, e.target} {
		use := sandboxtest.Open(t, servers[0], db)
		sandboxtest.Exec(t, use, sampledata.KindsTable[0], "CREATE TABLE "+moreKinds)
	}
	sandboxtest.Exec(t, srcDB, sampledata.KindsTable[1], `INSERT INTO more (id, i, d, dbl, dt, ts, da, ti, ch, tx, bl, lat) VALUES
		(18446744073709551615, -128, '-99999999999999.999999', 1.7976931348623157e308, '0000-00-00 00:00:00', '1970-01-01 00:00:01', '9999-12-31', '-838:59:59.000', 'pad  ', 'emoji 😀 ''q''', x'00ff', 'café'),
		(1, 127, '0.000001', -2.2250738585072014e-308, '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999999', '0000-00-00', '00:00:00.5', '', '', '', ''),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	a := e.applier(t)
	images := map[string]image{}
	var all []rowchange.Change
	for _, table := range []string{"kinds", "more"} {
		images[table] = readImage(t, src, table)
		all = append(all, changes(image{shape: images[table].shape}, images[table])...)
	}
	require.NoError(t, a.Apply(ctx, txn("1", all...)))
	assertSame(t, src, e.target, "kinds", "more")

	sandboxtest.Exec(t, srcDB,
		"UPDATE kinds k JOIN (SELECT * FROM kinds) o ON o.id = k.id % 5 + 1 SET k.txt = o.txt, k.bin = o.bin, k.fl = o.fl, k.y = o.y, k.b = o.b, k.i6 = o.i6, k.u = o.u, k.g = o.g, k.js = o.js, k.e = o.e, k.s = o.s",
		"DELETE FROM kinds WHERE id = 3",
		"INSERT INTO kinds (id, txt, bin) VALUES (6, 'tab\there', x'00')",
		"UPDATE more SET id = 3, tx = 'moved', ch = 'x' WHERE id = 2",
		"UPDATE more SET d = -d, dt = '2000-01-01', ts = '2000-01-01 00:00:00', ch = NULL WHERE id = 1",
		"DELETE FROM more WHERE id = 18446744073709551615")
	var next []rowchange.Change
	for _, table := range []string{"kinds", "more"} {
		img := readImage(t, src, table)
		next = append(next, changes(images[table], img)...)
	}
	require.NoError(t, a.Apply(ctx, txn("2", next...)))
	assertSame(t, src, e.target, "kinds", "more")
	st := a.Stats()
	assert.Equal(t, int64(2), st.Txns)
	assert.Equal(t, int64(len(all)+len(next)), st.Rows)
	assert.Equal(t, "2", st.Position)
}

// assertSame checks that the tables hold the same rows in both databases.
func assertSame(t *testing.T, want, got string, tables ...string) {
	t.Helper()
	db := sandboxtest.Open(t, servers[0], "")
	for _, table := range tables {
		wn, ws, err := schema.Checksum(context.Background(), db, want, table)
		require.NoError(t, err)
		gn, gs, err := schema.Checksum(context.Background(), db, got, table)
		require.NoError(t, err)
		if wn != gn || ws != gs {
			assert.Equal(t, dump(t, db, want, table), dump(t, db, got, table), "table %s", table)
			t.Fatalf("table %s: %d rows, checksum %d; want %d rows, checksum %d", table, gn, gs, wn, ws)
		}
	}
}

// shapeU is a source table with a secondary unique key: id primary, u unique.
var shapeU = &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "u"}, Columns: []string{"id", "u", "v"}, Key: []int{0}}

const tableU = "u (id INT NOT NULL PRIMARY KEY, u INT NULL, v VARCHAR(20) NOT NULL, UNIQUE KEY (u))"

func ins(s *rowchange.Shape, after ...any) rowchange.Change {
	return rowchange.Change{Shape: s, Op: rowchange.Insert, After: after}
}

func del(s *rowchange.Shape, before ...any) rowchange.Change {
	return rowchange.Change{Shape: s, Op: rowchange.Delete, Before: before}
}

func upd(s *rowchange.Shape, before, after []any) rowchange.Change {
	return rowchange.Change{Shape: s, Op: rowchange.Update, Before: before, After: after}
}

func row(v ...any) []any { return v }

// TestUniqueSwapAndKeyUpdates: a swap of unique values inside one
// transaction (through a third value, as the source must), primary key
// updates that shift keys onto each other, and a row changed many times.
func TestUniqueSwapAndKeyUpdates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t)
	require.NoError(t, a.Apply(ctx, txn("1",
		ins(shapeU, int64(1), int64(10), "a"), ins(shapeU, int64(2), int64(20), "b"), ins(shapeU, int64(3), int64(30), "c"))))
	require.NoError(t, a.Apply(ctx, txn("2",
		// swap u of rows 1 and 2
		upd(shapeU, row(int64(1), int64(10), "a"), row(int64(1), nil, "a")),
		upd(shapeU, row(int64(2), int64(20), "b"), row(int64(2), int64(10), "b")),
		upd(shapeU, row(int64(1), nil, "a"), row(int64(1), int64(20), "a")),
		// UPDATE u SET id = id + 1 ORDER BY id DESC
		upd(shapeU, row(int64(3), int64(30), "c"), row(int64(4), int64(30), "c")),
		upd(shapeU, row(int64(2), int64(10), "b"), row(int64(3), int64(10), "b")),
		upd(shapeU, row(int64(1), int64(20), "a"), row(int64(2), int64(20), "a")),
	)))
	assert.Equal(t, []string{"2|20|a", "3|10|b", "4|30|c"}, e.rows(t, "u"))

	// One row inserted, updated, deleted and inserted again, its unique
	// value taken by another row in between.
	var many []rowchange.Change
	prev := row(int64(9), int64(90), "v0")
	many = append(many, ins(shapeU, prev...))
	for i := 1; i <= 50; i++ {
		next := row(int64(9), int64(90+i), fmt.Sprintf("v%d", i))
		many = append(many, upd(shapeU, prev, next))
		prev = next
	}
	many = append(many, del(shapeU, prev...), ins(shapeU, int64(10), int64(140), "took"), ins(shapeU, int64(9), int64(7), "again"))
	many = append(many, upd(shapeU, row(int64(9), int64(7), "again"), row(int64(11), int64(7), "moved")))
	require.NoError(t, a.Apply(ctx, txn("3", many...)))
	assert.Equal(t, []string{"2|20|a", "3|10|b", "4|30|c", "10|140|took", "11|7|moved"}, e.rows(t, "u"))
}

// TestNoRowDeletedForAnotherKey: a row of the target that holds a unique
// value an incoming row needs is never deleted (REPLACE would): the
// transaction fails with the duplicate-key error and changes nothing. A
// row of the same primary key is replaced.
func TestNoRowDeletedForAnotherKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	sandboxtest.Exec(t, e.db, "INSERT INTO `"+e.target+"`.u VALUES (1, 5, 'same key'), (9, 7, 'other key')")
	a := e.applier(t)
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(6), "replaced"))))
	assert.Equal(t, []string{"1|6|replaced", "9|7|other key"}, e.rows(t, "u"))

	err := a.Apply(ctx, txn("2", ins(shapeU, int64(2), int64(8), "fine"), ins(shapeU, int64(3), int64(7), "collides")))
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, uint16(1062), me.Number)
	assert.Contains(t, err.Error(), "`"+e.target+"`.`u`")
	assert.Equal(t, []string{"1|6|replaced", "9|7|other key"}, e.rows(t, "u"))
	st, err := e.store.LoadStream(ctx, e.db, "s")
	require.NoError(t, err)
	assert.Equal(t, "1", st.Position)
}

// TestFailedReadCommitsNothing: a Batches that fails after a first batch
// large enough to be written leaves the target and the checkpoint as they
// were; the same transaction delivered again whole is applied.
func TestFailedReadCommitsNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t)
	var first []rowchange.Change
	for i := range 40_000 {
		first = append(first, ins(shapeU, int64(i), int64(i), strings.Repeat("x", 20)))
	}
	lost := errors.New("source connection lost")
	tx := txn("1", first...)
	tx.Changes.(*batchList).list = append(tx.Changes.(*batchList).list, []rowchange.Change{ins(shapeU, int64(-1), nil, "last")})
	tx.Changes.(*batchList).fail, tx.Changes.(*batchList).failAt = lost, 1
	err := a.Apply(ctx, tx)
	require.ErrorIs(t, err, lost)
	assert.Empty(t, e.rows(t, "u"))
	st, err := e.store.LoadStream(ctx, e.db, "s")
	require.NoError(t, err)
	assert.Nil(t, st)

	tx.Changes = &batchList{list: tx.Changes.(*batchList).list}
	require.NoError(t, a.Apply(ctx, tx))
	assert.Len(t, e.rows(t, "u"), 40_001)
}

// TestRedeliveryIsSkipped: a transaction delivered again after it was
// applied is skipped, by the same Applier and by a new one; WithCovered
// recognises older ones too. A second Applier of the same stream that
// missed a save fails instead of overwriting it.
func TestRedeliveryIsSkipped(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t)
	late := e.applier(t)
	_, err := late.Start(ctx)
	require.NoError(t, err)
	counter := func(from, to int64) rowchange.Change {
		return upd(shapeU, row(int64(1), nil, fmt.Sprint(from)), row(int64(1), nil, fmt.Sprint(to)))
	}
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), nil, "1"))))
	require.NoError(t, a.Apply(ctx, txn("2", counter(1, 2))))
	require.NoError(t, a.Apply(ctx, txn("2", counter(1, 2))))
	assert.Equal(t, int64(1), a.Stats().Skipped)

	again := e.applier(t, WithCovered(func(stored, pos string) (bool, error) { return pos <= stored, nil }))
	st, err := again.Start(ctx)
	require.NoError(t, err)
	assert.Equal(t, "2", st.Position)
	assert.Equal(t, int64(2), st.Version)
	for _, pos := range []string{"1", "2"} {
		require.NoError(t, again.Apply(ctx, txn(pos, counter(0, 1))))
	}
	assert.Equal(t, int64(2), again.Stats().Skipped)
	assert.Equal(t, []string{"1|∅|2"}, e.rows(t, "u"))

	err = late.Apply(ctx, txn("3", counter(2, 3)))
	require.ErrorIs(t, err, checkpoint.ErrStreamMoved)
	assert.Equal(t, []string{"1|∅|2"}, e.rows(t, "u"))
}

// TestLargeTransaction applies a transaction of 200,000 rows fed in
// batches of 1,000, built as they are asked for.
func TestLargeTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t)
	const rows, per = 200_000, 1_000
	gen := &generated{n: rows / per, batch: func(i int) []rowchange.Change {
		out := make([]rowchange.Change, per)
		for j := range out {
			id := int64(i*per + j)
			out[j] = ins(shapeU, id, id, fmt.Sprintf("row %d", id))
		}
		return out
	}}
	require.NoError(t, a.Apply(ctx, rowchange.Txn{ID: "big", Position: "1", Changes: gen}))
	var n, sum int64
	require.NoError(t, e.db.QueryRow("SELECT COUNT(*), SUM(u) FROM `"+e.target+"`.u").Scan(&n, &sum))
	assert.Equal(t, int64(rows), n)
	assert.Equal(t, int64(rows*(rows-1)/2), sum)
	assert.Equal(t, int64(rows), a.Stats().Rows)
}

// generated is a Batches whose batches are built when asked for.
type generated struct {
	n, i  int
	batch func(i int) []rowchange.Change
}

func (g *generated) Next(context.Context) ([]rowchange.Change, error) {
	if g.i >= g.n {
		return nil, io.EOF
	}
	g.i++
	return g.batch(g.i - 1), nil
}

// TestNameTranslation: a mapped table goes to its target; others keep
// their name in the target database.
func TestNameTranslation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	other := sandboxtest.NewDatabase(t, servers[0], "other")
	sandboxtest.Exec(t, e.db, "CREATE TABLE `"+other+"`.renamed (ID INT NOT NULL PRIMARY KEY, V VARCHAR(20) NOT NULL, U INT NULL)")
	a := e.applier(t, WithTables(map[rowchange.Table]rowchange.Table{{Schema: "src", Name: "m"}: {Schema: other, Name: "renamed"}}))
	shapeM := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "m"}, Columns: []string{"id", "u", "v"}}
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(2), "default"), ins(shapeM, int64(3), int64(4), "mapped"))))
	assert.Equal(t, []string{"1|2|default"}, e.rows(t, "u"))
	assert.Equal(t, []string{"3|mapped|4"}, dump(t, e.db, other, "renamed"))
}

// TestMissingTargetColumn: a source column the target table lacks is an
// error naming both, unless WithDroppedColumns.
func TestMissingTargetColumn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "u (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) NOT NULL)")
	a := e.applier(t)
	err := a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(2), "x")))
	require.ErrorIs(t, err, schema.ErrNotFound)
	for _, part := range []string{"`src`.`u`", "column `u`", "`" + e.target + "`.`u`"} {
		assert.Contains(t, err.Error(), part)
	}
	assert.Empty(t, e.rows(t, "u"))

	b := e.applier(t, WithDroppedColumns())
	require.NoError(t, b.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(2), "x"))))
	assert.Equal(t, []string{"1|x"}, e.rows(t, "u"))
}

// TestSchemaChange: a DDL runs in the target database when its table names
// need no rewriting, and the following changes use the new layout; one
// that names the source database is refused.
func TestSchemaChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t)
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(2), "x"))))
	ddl := func(pos, stmt string) rowchange.Txn {
		return rowchange.Txn{ID: pos, Position: pos, DDL: &rowchange.DDL{Schema: "src", Statement: stmt, Tables: []rowchange.Table{{Schema: "src", Name: "u"}}}}
	}
	require.NoError(t, a.Apply(ctx, ddl("2", "ALTER TABLE u ADD COLUMN w INT NULL")))
	wider := &rowchange.Shape{Table: shapeU.Table, Columns: []string{"id", "u", "v", "w"}}
	require.NoError(t, a.Apply(ctx, txn("3", upd(wider, row(int64(1), int64(2), "x", nil), row(int64(1), int64(2), "x", int64(5))))))
	assert.Equal(t, []string{"1|2|x|5"}, e.rows(t, "u"))

	err := a.Apply(ctx, ddl("4", "ALTER TABLE src.u DROP COLUMN w"))
	require.ErrorIs(t, err, ErrDDL)
	assert.Equal(t, []string{"1|2|x|5"}, e.rows(t, "u"))
	err = a.Apply(ctx, rowchange.Txn{Position: "4", DDL: &rowchange.DDL{Schema: "src", Statement: "ALTER TABLE u DROP COLUMN w",
		Tables: []rowchange.Table{{Schema: "src", Name: "u"}, {Schema: "elsewhere", Name: "t"}}}})
	require.ErrorIs(t, err, ErrDDL)
	st, err := e.store.LoadStream(ctx, e.db, "s")
	require.NoError(t, err)
	assert.Equal(t, "3", st.Position)
}

// TestPositionOnly: transactions without changes advance the checkpoint,
// at most once per interval, and Flush saves the last.
func TestPositionOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.applier(t, WithPositionInterval(time.Hour))
	at := time.Now().Add(-3 * time.Second).UTC().Truncate(time.Microsecond)
	for i := 1; i <= 3; i++ {
		require.NoError(t, a.Apply(ctx, rowchange.Txn{Position: fmt.Sprint(i), Time: at}))
	}
	st, err := e.store.LoadStream(ctx, e.db, "s")
	require.NoError(t, err)
	assert.Equal(t, "1", st.Position, "the first is saved, the next wait for the interval")
	s := a.Stats()
	assert.Equal(t, "3", s.Position)
	assert.GreaterOrEqual(t, s.Behind(time.Now()), 3*time.Second)
	require.NoError(t, a.Flush(ctx))
	st, err = e.store.LoadStream(ctx, e.db, "s")
	require.NoError(t, err)
	assert.Equal(t, "3", st.Position)
	assert.True(t, st.SourceTime.Equal(at))
	assert.Equal(t, int64(2), st.Version)
}

// TestConfig: bad arguments and options are refused at construction.
func TestConfig(t *testing.T) {
	e := env{db: sandboxtest.Open(t, servers[0], ""), store: checkpoint.New("cp")}
	for name, f := range map[string]func() (*Applier, error){
		"no stream":   func() (*Applier, error) { return New(e.db, e.store, "", "db") },
		"no database": func() (*Applier, error) { return New(e.db, e.store, "s", "") },
		"nil option":  func() (*Applier, error) { return New(e.db, e.store, "s", "db", nil) },
		"nil covered": func() (*Applier, error) { return New(e.db, e.store, "s", "db", WithCovered(nil)) },
		"bad table": func() (*Applier, error) {
			return New(e.db, e.store, "s", "db", WithTables(map[rowchange.Table]rowchange.Table{{Name: "t"}: {Schema: "a", Name: "b"}}))
		},
		"negative delay": func() (*Applier, error) { return New(e.db, e.store, "s", "db", WithPositionInterval(-1)) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestCompositeAndUniqueRowKeys: a table whose row key is a unique NOT
// NULL key of two columns (no primary key), with key updates, deletes
// and rows changed many times.
func TestCompositeAndUniqueRowKeys(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "c (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT NULL, UNIQUE KEY ab (a, b))")
	a := e.applier(t)
	shape := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "c"}, Columns: []string{"a", "b", "v"}}
	require.NoError(t, a.Apply(ctx, txn("1", ins(shape, int64(1), "x", int64(1)), ins(shape, int64(1), "y", int64(2)), ins(shape, int64(2), "x", nil))))
	require.NoError(t, a.Apply(ctx, txn("2",
		upd(shape, row(int64(1), "y", int64(2)), row(int64(1), "z", int64(2))),
		upd(shape, row(int64(1), "x", int64(1)), row(int64(1), "y", int64(1))),
		upd(shape, row(int64(1), "y", int64(1)), row(int64(1), "y", int64(5))),
		del(shape, int64(2), "x", nil),
		ins(shape, int64(2), "x", int64(9)),
		del(shape, int64(1), "z", int64(2)),
	)))
	assert.Equal(t, []string{"1|y|5", "2|x|9"}, e.rows(t, "c"))
}

// TestSession: the Applier's connection writes in UTC, strict, without
// foreign key checks, with unique checks, and to the binary log unless
// WithoutBinlog.
func TestSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "parent (id INT PRIMARY KEY)", tableU)
	sandboxtest.Exec(t, e.db, "CREATE TABLE `"+e.target+"`.child (id INT PRIMARY KEY, parent INT NOT NULL, FOREIGN KEY (parent) REFERENCES parent (id))")
	gtid := func() string {
		var pos string
		require.NoError(t, e.db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos))
		return pos
	}
	shapeChild := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "child"}, Columns: []string{"id", "parent"}}
	for _, logged := range []bool{true, false} {
		var opts []Option
		if !logged {
			opts = append(opts, WithoutBinlog())
		}
		a := e.applier(t, opts...)
		_, err := a.Start(ctx)
		require.NoError(t, err)
		var tz, mode string
		var fk, unique, logBin, autocommit int
		require.NoError(t, a.conn.QueryRowContext(ctx, "SELECT @@time_zone, @@sql_mode, @@foreign_key_checks, @@unique_checks, @@sql_log_bin, @@autocommit").
			Scan(&tz, &mode, &fk, &unique, &logBin, &autocommit))
		assert.Equal(t, []any{"+00:00", true, 0, 1, logged, 0}, []any{tz, strings.Contains(mode, "STRICT_ALL_TABLES"), fk, unique, logBin == 1, autocommit})
		_, err = a.conn.ExecContext(ctx, "ROLLBACK")
		require.NoError(t, err)

		before := gtid()
		pos := fmt.Sprint(logged)
		require.NoError(t, a.Apply(ctx, txn(pos, rowchange.Change{Shape: shapeChild, Op: rowchange.Insert, After: row(int64(len(pos)), int64(99))})))
		assert.Equal(t, logged, gtid() != before, "binary log written")
		err = a.Apply(ctx, txn(pos+"2", ins(shapeU, int64(1), nil, strings.Repeat("x", 21))))
		var me *mysql.MySQLError
		require.ErrorAs(t, err, &me, "a value too long for its column is an error")
		assert.Equal(t, uint16(1406), me.Number)
		require.NoError(t, a.Close())
	}
	assert.Equal(t, []string{"4|99", "5|99"}, e.rows(t, "child"))
}

// TestSourceMismatch: a stream saved from another source is refused.
func TestSourceMismatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t, WithSource("server A"))
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), nil, "x"))))
	b := e.applier(t, WithSource("server B"))
	_, err := b.Start(ctx)
	require.ErrorIs(t, err, ErrSourceMismatch)
	assert.Contains(t, err.Error(), "server A")
	st, err := e.applier(t).Start(ctx)
	require.NoError(t, err)
	assert.Equal(t, "server A", st.Source)
}

// TestDeleteAndInsertAgain: a row deleted and inserted again in one
// transaction gets the target's defaults in the columns the source lacks;
// where the source writes every column, no DELETE is needed.
func TestDeleteAndInsertAgain(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "w (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL, extra INT NOT NULL DEFAULT 7)",
		"p (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL, g INT AS (id * 2) VIRTUAL)")
	sandboxtest.Exec(t, e.db, "INSERT INTO `"+e.target+"`.w VALUES (1, 'old', 9)", "INSERT INTO `"+e.target+"`.p (id, v) VALUES (1, 'old')")
	a := e.applier(t)
	_, err := a.Start(ctx)
	require.NoError(t, err)
	deletes := func() (n int) {
		var name string
		require.NoError(t, a.conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_delete'").Scan(&name, &n))
		return n
	}
	before := deletes()
	var changes []rowchange.Change
	for _, table := range []string{"w", "p"} {
		s := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: table}, Columns: []string{"id", "v"}}
		changes = append(changes, del(s, int64(1), "old"), ins(s, int64(1), "new"))
	}
	require.NoError(t, a.Apply(ctx, txn("1", changes...)))
	assert.Equal(t, []string{"1|new|7"}, e.rows(t, "w"))
	assert.Equal(t, []string{"1|new|2"}, e.rows(t, "p"))
	assert.Equal(t, 1, deletes()-before, "DELETE statements")
}
