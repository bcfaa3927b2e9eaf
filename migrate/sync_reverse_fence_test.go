package migrate_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// readOnly is the global read_only of db's server.
func readOnly(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var v bool
	require.NoError(t, db.QueryRow("SELECT @@GLOBAL.read_only").Scan(&v))
	return v
}

// A move made WithReverseSync and FenceReadOnly keeps read_only on the
// source for the rollback window: the application cannot write it, and the
// reverse sync, whose account has READ_ONLY ADMIN, writes the target's
// changes into it; the cut-back sets read_only on the target while it
// verifies, then gives both servers their writes back.
func TestSyncReverseWithReadOnlyFence(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	srcRoot, dstRoot := sandboxtest.Open(t, src, ""), sandboxtest.Open(t, dst, "")
	t.Cleanup(func() {
		_, _ = srcRoot.Exec("SET GLOBAL read_only = 0")
		_, _ = dstRoot.Exec("SET GLOBAL read_only = 0")
	})
	name := sandboxtest.NewDatabase(t, src, "syncrevro")
	target := sandboxtest.NewDatabase(t, dst, "syncrevro")
	sandboxtest.Exec(t, dstRoot, "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	user, srcApp := appAccount(t, name)

	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithFence(migrate.FenceReadOnly, user+"@%"), migrate.WithReverseSync(nil))
	require.NoError(t, err)
	_, err = s.Plan(ctx)
	require.NoError(t, err)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	dstApp := targetAppAccount(t, user, target)
	var cut *migrate.CutoverReport
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, done)
		if cut, err = s.Cutover(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Equal(t, "read-only", cut.Method)
	assert.True(t, readOnly(t, srcRoot), "read_only is not kept on the source for the rollback window")
	assert.False(t, readOnly(t, dstRoot))
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the application wrote the read-only source")

	rv, err := s.Reverse()
	require.NoError(t, err)
	rerrc := make(chan error, 1)
	rdone := make(chan struct{})
	go func() { defer close(rdone); _, err := rv.Run(ctx, nil); rerrc <- err }()
	waitPhase(t, rv, migrate.PhaseInSync, rdone)
	sandboxtest.Exec(t, dstApp,
		"INSERT INTO items VALUES (9000001, 'ro', NULL, NOW(6), 1)",
		"UPDATE acct SET bal = bal + 3 WHERE id <= 10",
		"DELETE FROM items WHERE id BETWEEN 10 AND 19",
		"UPDATE counter SET n = n + 1 WHERE id = 1")
	deadline := time.Now().Add(time.Minute)
	for !verifyMoved(t, ctx, name, target).Clean() {
		require.True(t, time.Now().Before(deadline), "the read-only source did not receive the target's writes")
		time.Sleep(200 * time.Millisecond)
	}
	assert.True(t, readOnly(t, srcRoot), "the reverse sync lifted read_only")

	var back *migrate.CutoverReport
	for range 50 {
		waitPhase(t, rv, migrate.PhaseInSync, rdone)
		if back, err = rv.CutBack(ctx); err == nil {
			break
		}
		t.Logf("cut-back: %v", err)
	}
	require.NoError(t, err)
	require.NoError(t, <-rerrc)
	assert.Equal(t, "read-only", back.Method)
	assert.False(t, readOnly(t, srcRoot), "read_only left on the source after the cut-back")
	assert.False(t, readOnly(t, dstRoot), "read_only left on the target after the cut-back")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the application cannot write the source after the cut-back")
	_, err = dstApp.ExecContext(ctx, "SELECT n FROM counter")
	require.NoError(t, err)
}

// With FenceReadOnly, a reverse sync whose source account cannot write
// through read_only (SUPER no longer bypasses it on MariaDB 10.11: READ_ONLY
// ADMIN does) is refused by Plan, naming the account and the privilege,
// rather than by its first write at the cutover.
func TestSyncReverseReadOnlyNeedsTheBypassPrivilege(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncrevpriv")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	root := sandboxtest.Open(t, src, "")
	const user = "revsync_super"
	sandboxtest.Exec(t, root, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'rs-pw'",
		"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, RELOAD, PROCESS, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT, REPLICATION SLAVE, BINLOG MONITOR, SUPER ON *.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	cfg := src.Config("")
	cfg.User, cfg.Passwd = user, "rs-pw"

	s, err := migrate.NewSync(cfg.FormatDSN(), dst.DSN(""), name, migrate.WithTargetDatabase(name+"_t"),
		migrate.WithFence(migrate.FenceReadOnly), migrate.WithReverseSync(nil))
	require.NoError(t, err)
	_, err = s.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrPrivilege)
	assert.Contains(t, err.Error(), "READ_ONLY ADMIN")
	assert.Contains(t, err.Error(), user)
	assert.Contains(t, err.Error(), "source "+src.Addr())
	sandboxtest.Exec(t, root, "GRANT READ_ONLY ADMIN ON *.* TO '"+user+"'@'%'")
	_, err = s.Plan(ctx)
	require.NoError(t, err)
}

// With FenceReadOnly, a reverse sync into another database of the source's
// server is refused by Plan: read_only, kept for the rollback window, would
// stop the application's writes to the target too.
func TestSyncReverseReadOnlyRefusesTheSourceServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src := servers[0]
	name := sandboxtest.NewDatabase(t, src, "syncrevsame")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	s, err := migrate.NewSync(src.DSN(""), src.DSN(""), name, migrate.WithTargetDatabase(name+"_t"),
		migrate.WithFence(migrate.FenceReadOnly), migrate.WithReverseSync(nil))
	require.NoError(t, err)
	_, err = s.Plan(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "would stop the application's writes to the target")
	var schemas int
	require.NoError(t, sandboxtest.Open(t, src, "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name+"_t").Scan(&schemas))
	assert.Zero(t, schemas)
}
