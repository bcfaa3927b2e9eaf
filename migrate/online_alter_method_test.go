package migrate_test

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestOnlineAlterMethod: with WithNativeMethod, INSTANT and INPLACE run
// natively with ALGORITHM= and LOCK= spelled out, COPY natively only
// under the size given, online above it; Plan says which and why, and a
// native change leaves no helper table (and is not refused for a
// trigger, which only the online method cannot keep).
func TestOnlineAlterMethod(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscm")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20))",
		"INSERT INTO t SELECT seq, seq % 7, CONCAT('v', seq) FROM seq_1_to_2000",
		"CREATE TABLE log (n INT)", "CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.n)")
	for _, c := range []struct {
		name, clause string
		opts         []migrate.OnlineAlterOption
		method       string
		spelled      string // the native statement's ending
		why          string
	}{
		{"instant", "ADD COLUMN x INT NULL", []migrate.OnlineAlterOption{migrate.WithNativeMethod(0)}, "native", ", ALGORITHM=INSTANT, LOCK=NONE", "predicts INSTANT"},
		{"inplace", "ADD INDEX n_i (n)", []migrate.OnlineAlterOption{migrate.WithNativeMethod(0)}, "native", ", ALGORITHM=INPLACE, LOCK=NONE", "predicts INPLACE"},
		{"copy under the size", "MODIFY n BIGINT NOT NULL", []migrate.OnlineAlterOption{migrate.WithNativeMethod(1 << 40)}, "native", ", ALGORITHM=COPY, LOCK=SHARED", "under the"},
		{"copy above the size", "MODIFY v VARCHAR(10)", []migrate.OnlineAlterOption{migrate.WithNativeMethod(1)}, "online", "", "run online"},
		{"no option", "ADD COLUMN y INT NULL", nil, "online", "", "WithNativeMethod would"},
	} {
		a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", c.clause, c.opts...)
		require.NoError(t, err, c.name)
		plan, err := a.Plan(ctx)
		require.NotNil(t, plan, c.name)
		require.NotNil(t, plan.Alter, c.name)
		assert.Equal(t, c.method, plan.Alter.Method, c.name)
		assert.Contains(t, plan.Alter.Why, c.why, c.name)
		if plan.Alter.Algorithm == "COPY" {
			assert.Contains(t, plan.Alter.Reason, "will copy the table", c.name)
		}
		if c.method == "online" {
			require.ErrorIs(t, err, migrate.ErrTriggers, c.name)
			assert.Empty(t, plan.Alter.Native, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		assert.True(t, strings.HasSuffix(plan.Alter.Native, c.spelled), "%s: %s", c.name, plan.Alter.Native)
		assert.Equal(t, []string{"run " + plan.Alter.Native}, plan.Steps, c.name)
		rep, err := a.Run(ctx, nil)
		require.NoError(t, err, c.name)
		assert.True(t, rep.Tables[0].Done, c.name)
	}
	var create string
	require.NoError(t, db.QueryRow("SHOW CREATE TABLE t").Scan(new(string), &create))
	for _, want := range []string{"`x` int(11) DEFAULT NULL", "KEY `n_i` (`n`)", "`n` bigint(20) NOT NULL", "`v` varchar(20)"} {
		assert.Contains(t, create, want)
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\\_%'", dbName).Scan(&n))
	assert.Zero(t, n, "helper tables were created")
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Equal(t, 2000, n)
}

// TestOnlineAlterAbortCatchUp cancels a run while its stream catches up
// (writes to the table waiting in the binary log): the table is
// untouched, the shadow, the cut-over tables and the checkpoint are gone.
func TestOnlineAlterAbortCatchUp(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscabc")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_3000")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD COLUMN c INT", migrate.WithChunkRows(500))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	migrate.SetOnlineAlterHook(a, func(point string) {
		if point == "catching-up" {
			sandboxtest.Exec(t, db, "UPDATE t SET n = n + 1 WHERE id <= 100", "DELETE FROM t WHERE id > 2990")
			cancel()
		}
	})
	_, err = a.Run(ctx, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "aborted")
	var helpers []string
	require.NoError(t, scanColumn(db, &helpers, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 't'", dbName))
	assert.Empty(t, helpers)
	var cols []string
	require.NoError(t, scanColumn(db, &cols, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION", dbName))
	assert.Equal(t, []string{"id", "n"}, cols)
	assert.Equal(t, 2990, count(t, db, "t"))
	assert.Zero(t, alterRunsLeft(t, dbName), "the checkpoint of the change is left")
}

// TestOnlineAlterNewUniqueDuplicates: an ALTER that adds a unique key the
// rows break fails online as it fails natively (the copy does not resolve
// duplicates it cannot tell from the application's moves), the table
// untouched; Abort removes the shadow.
func TestOnlineAlterNewUniqueDuplicates(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscuq")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq % 500 FROM seq_1_to_1000")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD UNIQUE KEY n_u (n)", migrate.WithChunkRows(200))
	require.NoError(t, err)
	_, err = a.Run(ctx, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Duplicate entry")
	assert.Equal(t, 1000, count(t, db, "t"))
	require.NoError(t, a.Abort(ctx))
	var helpers []string
	require.NoError(t, scanColumn(db, &helpers, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 't'", dbName))
	assert.Empty(t, helpers)
}

// TestOnlineAlterProgress: the copy reports rows, the estimate, a rate
// and an ETA; the stream its position (and lag) after the copy.
func TestOnlineAlterProgress(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscpr")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_6000", "ANALYZE TABLE t")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "MODIFY n BIGINT", migrate.WithChunkRows(200), migrate.WithRateLimit(2000, 0), migrate.WithDropOld())
	require.NoError(t, err)
	var copying, streaming bool
	_, err = a.Run(context.Background(), func(p migrate.Progress) {
		switch {
		case p.Phase == migrate.PhaseCopying && p.Rows > 0 && p.Rows < p.RowsEstimate && p.RowsPerSecond > 0 && p.ETA > 0:
			copying = true
		case p.Phase != migrate.PhaseCopying && p.StreamPosition != "":
			streaming = true
		}
	})
	require.NoError(t, err)
	assert.True(t, copying, "no copy progress with rows, estimate, rate and ETA")
	assert.True(t, streaming, "no stream progress with its position")
}

// TestOnlineAlterKilledAtVerifyAndSwap kills the online alter (a child
// process) before its verification, then, in a second change, after its
// RENAME and before it forgot its checkpoint: the first leaves the table
// untouched and resumes from the stream, the second is recognised as
// swapped; a new run finishes each.
func TestOnlineAlterKilledAtVerifyAndSwap(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	ctx := context.Background()
	for _, c := range []struct{ hold, resume, clause string }{
		{"verifying", "stream", "ADD COLUMN c INT"},
		{"swapped", "swapped", "ADD COLUMN c INT"},
	} {
		t.Run(c.hold, func(t *testing.T) {
			dbName := sandboxtest.NewDatabase(t, servers[0], "osckv")
			db := sandboxtest.Open(t, servers[0], dbName)
			sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
			spec := alterSpec{DSN: servers[0].DSN(""), Database: dbName, Clause: c.clause, HoldAt: c.hold}
			cmd, out, exited := startAlterChild(t, ctx, spec)
			waitHeld(t, out, exited)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-exited
			a, err := migrate.NewOnlineAlter(spec.DSN, dbName, "t", c.clause, alterOptions()...)
			require.NoError(t, err)
			plan, err := a.Plan(ctx)
			require.NoError(t, err)
			assert.Equal(t, c.resume, plan.Alter.Resume)
			rep, err := a.Run(ctx, nil)
			require.NoError(t, err, "the run after the kill")
			assert.True(t, rep.Tables[0].Done)
			var cols []string
			require.NoError(t, scanColumn(db, &cols, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION", dbName))
			assert.Equal(t, []string{"id", "n", "c"}, cols)
			assert.Equal(t, 2000, count(t, db, "t"))
			assert.Zero(t, alterRunsLeft(t, dbName), "the checkpoint of the change is left")
			var helpers []string
			require.NoError(t, scanColumn(db, &helpers, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT IN ('t', '_t_old')", dbName))
			assert.Empty(t, helpers)
		})
	}
}
