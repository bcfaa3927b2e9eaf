package apply

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// shapeL is a log table: each test transaction inserts one row of its
// own, never changed after.
var shapeL = &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "l"}, Columns: []string{"id"}, Key: []int{0}}

// logged adds to e.target the log table l and a table tally whose one
// row counts the rows inserted into l by statements that committed (a
// BEFORE INSERT trigger: an insert that meets its row and updates it
// counts too). A transaction committed twice (in two target
// transactions) shows as too many inserts.
func (e env) logged(t testing.TB) func() int64 {
	db := sandboxtest.Open(t, servers[0], e.target)
	sandboxtest.Exec(t, db, "CREATE TABLE l (id INT NOT NULL PRIMARY KEY)", "CREATE TABLE tally (n BIGINT NOT NULL)", "INSERT INTO tally VALUES (0)",
		"CREATE TRIGGER count_inserts BEFORE INSERT ON l FOR EACH ROW UPDATE tally SET n = n + 1")
	return func() int64 {
		var n int64
		require.NoError(t, db.QueryRow("SELECT n FROM tally").Scan(&n))
		return n
	}
}

// stored returns the checkpoint of stream "s": position and version;
// "" and 0 when none.
func (e env) stored(t testing.TB) (string, int64) {
	st, err := e.store.LoadStream(context.Background(), e.db, "s")
	require.NoError(t, err)
	if st == nil {
		return "", 0
	}
	return st.Position, st.Version
}

// status returns the session status counter name of a's connection
// (Com_commit: the COMMIT statements it ran).
func status(t testing.TB, a *Applier, name string) int64 {
	var n int64
	require.NoError(t, a.conn.QueryRowContext(context.Background(), "SHOW SESSION STATUS LIKE '"+name+"'").Scan(&name, &n))
	return n
}

// TestGroupCommit: transactions applied in a group are invisible and
// uncounted until the group commits, once, with the last position: at
// Flush, when the group is full, and when it is old enough.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t, WithGroupCommit(5, time.Hour))
	_, err := a.Start(ctx)
	require.NoError(t, err)
	before := status(t, a, "Com_commit")
	for i := int64(1); i <= 3; i++ {
		require.NoError(t, a.Apply(ctx, txn(fmt.Sprint(i), ins(shapeU, i, i, "x"))))
	}
	assert.Empty(t, e.rows(t, "u"), "a group is not visible before it commits")
	pos, version := e.stored(t)
	assert.Equal(t, []any{"", int64(0)}, []any{pos, version})
	st := a.Stats()
	assert.Equal(t, []any{int64(0), int64(0), ""}, []any{st.Txns, st.Rows, st.Position}, "stats count what is committed")

	require.NoError(t, a.Flush(ctx))
	assert.Len(t, e.rows(t, "u"), 3)
	pos, version = e.stored(t)
	assert.Equal(t, []any{"3", int64(1), int64(1)}, []any{pos, version, status(t, a, "Com_commit") - before}, "position, version, commits")
	st = a.Stats()
	assert.Equal(t, []any{int64(3), int64(3), "3"}, []any{st.Txns, st.Rows, st.Position})

	// Full at 5 transactions.
	for i := int64(4); i <= 9; i++ {
		require.NoError(t, a.Apply(ctx, txn(fmt.Sprint(i), ins(shapeU, i, i, "x"))))
	}
	pos, version = e.stored(t)
	assert.Equal(t, []any{"8", int64(2), int64(2)}, []any{pos, version, status(t, a, "Com_commit") - before})
	assert.Len(t, e.rows(t, "u"), 8)
	assert.Equal(t, "8", a.Stats().Position)

	// A position-only transaction joins the open group.
	require.NoError(t, a.Apply(ctx, rowchange.Txn{Position: "10"}))
	assert.Equal(t, "8", a.Stats().Position)
	require.NoError(t, a.Flush(ctx))
	pos, version = e.stored(t)
	assert.Equal(t, []any{"10", int64(3)}, []any{pos, version})
	assert.Equal(t, []any{int64(9), "10"}, []any{a.Stats().Txns, a.Stats().Position})

	// Old enough: the delay has passed when the second transaction ends.
	b := e.applier(t, WithGroupCommit(100, time.Hour))
	require.NoError(t, b.Apply(ctx, txn("11", ins(shapeU, int64(11), int64(11), "x"))))
	b.cfg.groupDelay = 10 * time.Millisecond
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Apply(ctx, txn("12", ins(shapeU, int64(12), int64(12), "x"))))
	pos, version = e.stored(t)
	assert.Equal(t, []any{"12", int64(4)}, []any{pos, version})

	// Large: the byte bound commits it.
	b.cfg.groupBytes = 1
	require.NoError(t, b.Apply(ctx, txn("13", ins(shapeU, int64(13), int64(13), "x"))))
	pos, _ = e.stored(t)
	assert.Equal(t, "13", pos)
}

// failing is a Batches that returns its batches, then err, running hook
// (if set) before it fails.
type failing struct {
	list [][]rowchange.Change
	i    int
	err  error
	hook func()
}

func (f *failing) Next(context.Context) ([]rowchange.Change, error) {
	if f.i < len(f.list) {
		f.i++
		return f.list[f.i-1], nil
	}
	if f.hook != nil {
		f.hook()
	}
	return nil, f.err
}

// TestGroupReadFailure: when the changes of the third transaction of a
// group cannot be read whole, that transaction alone is undone and Apply
// returns the read error; the first two commit with the group later, and
// the third, delivered again, is applied once. A small transaction is
// read whole before it is written, so there is nothing to undo; a large
// one (forced here by tiny bounds) is written as it is read, its
// statements run, and it is rolled back to its savepoint.
func TestGroupReadFailure(t *testing.T) {
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprint("streamed=", streamed), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, tableU)
			inserts := e.logged(t)
			a := e.applier(t, WithGroupCommit(100, time.Hour))
			require.NoError(t, a.Apply(ctx, txn("1", ins(shapeL, int64(1)), ins(shapeU, int64(1), int64(1), "one"))))
			require.NoError(t, a.Apply(ctx, txn("2", ins(shapeL, int64(2)), ins(shapeU, int64(2), int64(2), "two"), upd(shapeU, row(int64(1), int64(1), "one"), row(int64(1), int64(10), "one")))))
			if streamed {
				// The first two wait in the writer's batches; the third is
				// written as it is read, each change a statement.
				a.cfg.wholeBytes, a.cfg.flushBytes = 1, 1
			}
			third := [][]rowchange.Change{
				{ins(shapeL, int64(3)), ins(shapeU, int64(3), int64(3), "three"), ins(shapeU, int64(4), int64(4), "four"), upd(shapeU, row(int64(2), int64(2), "two"), row(int64(2), int64(20), "two"))},
				{ins(shapeU, int64(6), int64(6), "six")},
			}
			lost := errors.New("source connection lost")
			err := a.Apply(ctx, rowchange.Txn{ID: "3", Position: "3", Changes: &failing{list: third[:1], err: lost}})
			require.ErrorIs(t, err, lost)
			assert.Equal(t, streamed, status(t, a, "Com_rollback_to_savepoint") == 1, "rolled back to the savepoint")
			assert.Empty(t, e.rows(t, "u"))

			require.NoError(t, a.Apply(ctx, rowchange.Txn{ID: "3", Position: "3", Changes: &batchList{list: third}}))
			require.NoError(t, a.Apply(ctx, txn("4", ins(shapeL, int64(4)), ins(shapeU, int64(5), int64(5), "five"))))
			require.NoError(t, a.Flush(ctx))
			assert.Equal(t, []string{"1|10|one", "2|20|two", "3|3|three", "4|4|four", "5|5|five", "6|6|six"}, e.rows(t, "u"))
			assert.Len(t, e.rows(t, "l"), 4)
			pos, version := e.stored(t)
			assert.Equal(t, []any{"4", int64(1)}, []any{pos, version})
			assert.Equal(t, int64(4), inserts(), "log rows inserted by committed statements")
			assert.Equal(t, []any{int64(4), int64(12)}, []any{a.Stats().Txns, a.Stats().Rows})
		})
	}
}

// TestGroupDiscarded: an error of the target discards the open group
// whole (the statements of a group run at its commit: the error comes
// from Flush here), and the Applier starts again from the checkpoint; so
// does a read failure whose rollback to the savepoint fails (the
// connection died), and its error then does not wrap the read error,
// which would have the stream resume after the discarded transactions.
func TestGroupDiscarded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t, WithGroupCommit(100, time.Hour))
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(1), "one"))))
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, a.Apply(ctx, txn("2", ins(shapeU, int64(2), int64(2), "two"))))
	require.NoError(t, a.Apply(ctx, txn("3", ins(shapeU, int64(3), int64(1), "collides"))))
	err := a.Flush(ctx)
	assert.Contains(t, err.Error(), "`"+e.target+"`.`u`")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, uint16(1062), me.Number)
	st, err := a.Start(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1", st.Position)
	assert.Equal(t, []string{"1|1|one"}, e.rows(t, "u"))

	require.NoError(t, a.Apply(ctx, txn("2", ins(shapeU, int64(2), int64(2), "two"))))
	var id int64
	require.NoError(t, a.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))
	a.cfg.flushBytes, a.cfg.wholeBytes = 1, 1
	lost := errors.New("source connection lost")
	kill := func() { sandboxtest.Exec(t, e.db, fmt.Sprint("KILL ", id)) }
	err = a.Apply(ctx, rowchange.Txn{ID: "3", Position: "3", Changes: &failing{list: [][]rowchange.Change{{ins(shapeU, int64(3), int64(3), "three")}}, err: lost, hook: kill}})
	require.Error(t, err)
	assert.NotErrorIs(t, err, lost)
	assert.Contains(t, err.Error(), "discarded")
	st, err = a.Start(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1", st.Position)
	assert.Equal(t, []string{"1|1|one"}, e.rows(t, "u"))
}

// TestGroupBeforeDDL: a DDL commits the open group first, with its
// position, then runs; Start commits an open group too.
func TestGroupBeforeDDL(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t, WithGroupCommit(100, time.Hour))
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), int64(1), "one"))))
	require.NoError(t, a.Apply(ctx, rowchange.Txn{ID: "2", Position: "2", DDL: &rowchange.DDL{Schema: "src", Statement: "ALTER TABLE u ADD COLUMN w INT NULL",
		Tables: []rowchange.Table{{Schema: "src", Name: "u"}}}}))
	pos, version := e.stored(t)
	assert.Equal(t, []any{"2", int64(2)}, []any{pos, version}, "the group's save, then the DDL's")
	assert.Equal(t, []string{"1|1|one|∅"}, e.rows(t, "u"))

	wider := &rowchange.Shape{Table: shapeU.Table, Columns: []string{"id", "u", "v", "w"}}
	require.NoError(t, a.Apply(ctx, txn("3", ins(wider, int64(3), int64(3), "three", int64(3)))))
	st, err := a.Start(ctx)
	require.NoError(t, err)
	assert.Equal(t, []any{"3", int64(3)}, []any{st.Position, st.Version})
	assert.Len(t, e.rows(t, "u"), 2)
}

// TestGroupRedelivery: a transaction of the open group delivered again is
// skipped; a second Applier of the stream still fails at its save.
func TestGroupRedelivery(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	a := e.applier(t, WithGroupCommit(100, time.Hour))
	late := e.applier(t, WithGroupCommit(100, time.Hour))
	_, err := late.Start(ctx)
	require.NoError(t, err)
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), nil, "1"))))
	require.NoError(t, a.Apply(ctx, txn("1", ins(shapeU, int64(1), nil, "1"))))
	assert.Equal(t, int64(1), a.Stats().Skipped)
	require.NoError(t, a.Flush(ctx))

	require.NoError(t, late.Apply(ctx, txn("2", ins(shapeU, int64(2), nil, "2"))))
	require.ErrorIs(t, late.Flush(ctx), checkpoint.ErrStreamMoved)
	assert.Equal(t, []string{"1|∅|1"}, e.rows(t, "u"))
}
