package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// targetAppAccount creates the application's account user on the target
// too, with the grants it has on the source, and returns a pool of it on
// the target's database.
func targetAppAccount(t *testing.T, user, database string) *sql.DB {
	t.Helper()
	dst := servers[1]
	root := sandboxtest.Open(t, dst, "")
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	for _, table := range []string{"acct", "items", "counter"} {
		sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO '%s'@'%%'", database, table, user))
	}
	cfg := dst.Config(database)
	cfg.User, cfg.Passwd = user, "app-pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// verifyMoved compares the moved tables of the source database name and
// the target database target.
func verifyMoved(t *testing.T, ctx context.Context, name, target string) *verify.Report {
	t.Helper()
	v, err := verify.New(sandboxtest.Open(t, servers[0], ""), sandboxtest.Open(t, servers[1], ""))
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, name, target)
	require.NoError(t, err)
	return vr
}

// A move made WithReverseSync keeps the source fenced after the cutover,
// and the reverse sync carries the application's writes to the target
// back into the source (inserts, updates, deletes, a multi-row
// transaction, a primary key update); the cut-back switches the
// application back, and the source is the writable side again, equal to
// the target.
func TestSyncReverseCarriesTargetWritesBackAndCutsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncrev")
	target := sandboxtest.NewDatabase(t, dst, "syncrev")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	user, srcApp := appAccount(t, name)

	var switched, switchedBack atomic.Int32
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(5*time.Second, false),
		migrate.WithSwitch(func(context.Context) error { switched.Add(1); return nil }),
		migrate.WithReverseSync(func(context.Context) error { switchedBack.Add(1); return nil }))
	require.NoError(t, err)
	plan, err := s.Plan(ctx)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(plan.Locks, "\n"), "rollback window")
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	// The account exists on the target once the database does.
	dstApp := targetAppAccount(t, user, target)
	cut, err := s.Cutover(ctx)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Equal(t, int32(1), switched.Load())
	assert.NotEmpty(t, cut.ReversePosition)

	// The source stays fenced: the application cannot write it.
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the application wrote the source during the rollback window")
	// The forward move neither resumes nor releases the fence.
	_, err = s.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrCutOver)
	again, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target), migrate.WithReplace())
	require.NoError(t, err)
	_, err = again.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrCutOver)
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "Run released the reverse sync's fence")

	// Written after the switch, before the reverse runs: read from the
	// position saved at the switch.
	sandboxtest.Exec(t, dstApp, "INSERT INTO items VALUES (9000001, 'early', NULL, NOW(6), 1)")

	rv, err := s.Reverse()
	require.NoError(t, err)
	rerrc := make(chan error, 1)
	rdone := make(chan struct{})
	var rrep *migrate.Report
	go func() {
		defer close(rdone)
		var err error
		rrep, err = rv.Run(ctx, nil)
		rerrc <- err
	}()
	waitPhase(t, rv, migrate.PhaseInSync, rdone)

	sandboxtest.Exec(t, dstApp,
		"INSERT INTO items VALUES (9000002, 'late', 'x', NOW(6), 2.5)",
		"UPDATE acct SET bal = bal + 7 WHERE id <= 20",
		"DELETE FROM items WHERE id BETWEEN 100 AND 149",
		"UPDATE items SET id = 9000003 WHERE id = 1")
	tx, err := dstApp.BeginTx(ctx, nil)
	require.NoError(t, err)
	for _, q := range []string{
		"UPDATE acct SET u = NULL WHERE id IN (1, 2)", "UPDATE acct SET u = 2 WHERE id = 1", "UPDATE acct SET u = 1 WHERE id = 2",
		"INSERT INTO items VALUES (9000004, 'txn', NULL, NOW(6), 3), (9000005, 'txn', NULL, NOW(6), 4)",
		"DELETE FROM items WHERE id = 9000002", "UPDATE counter SET n = n + 1 WHERE id = 1",
	} {
		_, err := tx.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, tx.Commit())

	// The source receives them: equal once the reverse applied them.
	deadline := time.Now().Add(time.Minute)
	for !verifyMoved(t, ctx, name, target).Clean() {
		require.True(t, time.Now().Before(deadline), "the source did not receive the target's writes")
		time.Sleep(200 * time.Millisecond)
	}
	var n int64
	require.NoError(t, sandboxtest.Open(t, src, name).QueryRow("SELECT COUNT(*) FROM items WHERE id IN (9000001, 9000003, 9000004, 9000005)").Scan(&n))
	assert.Equal(t, int64(4), n)

	var back *migrate.CutoverReport
	for range 50 {
		waitPhase(t, rv, migrate.PhaseInSync, rdone)
		if back, err = rv.CutBack(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)
	require.NoError(t, <-rerrc)
	require.NotNil(t, rrep.Cutover)
	assert.Equal(t, int32(1), switchedBack.Load())
	assert.Equal(t, 3, back.VerifiedTables)
	assert.Positive(t, back.Pause)
	t.Logf("cutover pause %s; cut-back pause %s (catch-up %s, verify %s)", cut.Pause, back.Pause, back.CatchUp, back.Verify)

	// The source is the writable side again, and equal.
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the application cannot write the source after the cut-back")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n - 1 WHERE id = 1")
	require.NoError(t, err)
	assert.True(t, verifyMoved(t, ctx, name, target).Clean(), "source and target differ after the cut-back")
	// The target's grants are back, and the window is closed.
	_, err = dstApp.ExecContext(ctx, "SELECT n FROM counter")
	require.NoError(t, err)
	_, err = rv.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNoReverse)
}

// A reverse sync asked of a target whose binary log cannot serve it is
// refused by Plan, and by Cutover before anything is switched, naming the
// target and the setting; the sync goes on, the source's writes restored.
func TestSyncReverseRefusedWithoutTargetBinlog(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	root := sandboxtest.Open(t, dst, "")
	minimal := func() {
		sandboxtest.Exec(t, root, "SET GLOBAL binlog_row_metadata = 'MINIMAL'")
	}
	full := func() { _, _ = root.Exec("SET GLOBAL binlog_row_metadata = 'FULL'") }
	t.Cleanup(full)

	name := sandboxtest.NewDatabase(t, src, "syncrevno")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	user, srcApp := appAccount(t, name)
	opts := []migrate.SyncOption{migrate.WithTargetDatabase(name + "_t"), migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithReverseSync(nil)}
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, opts...)
	require.NoError(t, err)
	minimal()
	_, err = s.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	assert.Contains(t, err.Error(), "binlog_row_metadata")
	assert.Contains(t, err.Error(), "target "+dst.Addr())
	_, err = s.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	var schemas int
	require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name+"_t").Scan(&schemas))
	assert.Zero(t, schemas, "Run changed the target before refusing")
	full()

	// Met at Plan time, not at the cutover.
	var switched atomic.Bool
	s, err = migrate.NewSync(src.DSN(""), dst.DSN(""), name, append(opts, migrate.WithSwitch(func(context.Context) error { switched.Store(true); return nil }))...)
	require.NoError(t, err)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	minimal()
	_, err = s.Cutover(ctx)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	assert.Contains(t, err.Error(), "binlog_row_metadata")
	assert.Contains(t, err.Error(), "target "+dst.Addr())
	assert.False(t, switched.Load(), "switched with a reverse sync that cannot run")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the refused cutover")
	full()
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, done)
		if _, err = s.Cutover(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.True(t, switched.Load())

	// Ending the rollback window without a cut-back restores the source's
	// writes; the reverse has nothing to run from then on.
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source is writable during the rollback window")
	rv, err := s.Reverse()
	require.NoError(t, err)
	require.NoError(t, rv.End(ctx))
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after End")
	_, err = rv.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNoReverse)
}

func TestSyncReverseRefusesAFlushTablesFence(t *testing.T) {
	_, err := migrate.NewSync("u@tcp(h:1)/", "u@tcp(h:2)/", "x", migrate.WithReverseSync(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithReverseSync")
	_, err = migrate.NewSync("u@tcp(h:1)/", "u@tcp(h:2)/", "x", migrate.WithReverseSync(nil), migrate.WithFence(migrate.FenceReadOnly))
	require.NoError(t, err)
	s, err := migrate.NewSync("u@tcp(h:1)/", "u@tcp(h:2)/", "x", migrate.WithFence(migrate.FenceReadOnly))
	require.NoError(t, err)
	_, err = s.Reverse()
	require.Error(t, err)
}
