package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// ownServers starts a source and a target of the test's own, which it may
// stop, restart or purge without disturbing the tests that share the
// package's servers; they are closed when the test ends.
func ownServers(t *testing.T) (src, dst *sandbox.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	list, err := sandbox.StartN(ctx, 2, sandbox.Options{BaseDir: t.TempDir(), BufferPool: "64M"})
	if errors.Is(err, sandbox.ErrNoServerBinary) && servers[0].Dir() == "" {
		t.Skipf("the servers come from %s and this machine cannot start servers to restart: %v", sandboxtest.EnvDSN, err)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, s := range list {
			assert.NoError(t, s.Close())
		}
	})
	return list[0], list[1]
}

// runSync runs s in the background; the channel receives Run's error.
func runSync(ctx context.Context, s *migrate.Sync) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, nil)
		errc <- err
	}()
	return errc
}

// waitSynced waits until s follows the binary log and the counter of the
// target database equals want (the target applied every commit of the
// writer).
func waitSynced(t *testing.T, s *migrate.Sync, dst *sql.DB, database string, want int64, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		p := s.Phase()
		if p == migrate.PhaseCatchingUp || p == migrate.PhaseInSync {
			if err := dst.QueryRow("SELECT n FROM `" + database + "`.counter WHERE id = 1").Scan(&n); err == nil && n == want {
				return
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("sync ended while the target caught up: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "target counter not at %d", want)
		time.Sleep(50 * time.Millisecond)
	}
}

// purgeBinlogs rotates db's server's binary log and purges every file
// before the new one.
func purgeBinlogs(t *testing.T, db *sql.DB) {
	t.Helper()
	sandboxtest.Exec(t, db, "FLUSH BINARY LOGS")
	var file string
	var pos, doDB, ignoreDB any
	require.NoError(t, db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB))
	// The server keeps a binary log until its binlog checkpoint has
	// passed it, whatever PURGE asks: retry until the file is gone.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		sandboxtest.Exec(t, db, "PURGE BINARY LOGS TO '"+file+"'")
		var first string
		require.NoError(t, db.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any)))
		if first == file {
			return
		}
		require.True(t, time.Now().Before(deadline), "binary logs before %s not purged", file)
	}
}

// A sync whose saved position's binary log was purged refuses to resume,
// at Plan and at Run, with ErrPurged naming the source; it writes nothing.
func TestSyncRefusesAPurgedPosition(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	const name, target = "shop", "shop_moved"
	sandboxtest.Exec(t, sandboxtest.Open(t, src, ""), "CREATE DATABASE "+name)
	srcDB := sandboxtest.Open(t, src, name)
	seedSyncTables(t, srcDB)
	newSync := func() *migrate.Sync {
		s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target))
		require.NoError(t, err)
		return s
	}

	// A first run copies and follows; it stops with its position saved.
	s := newSync()
	rctx, stop := context.WithCancel(ctx)
	errc := runSync(rctx, s)
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 1 WHERE id = 1")
	waitSynced(t, s, sandboxtest.Open(t, dst, ""), target, 1, errc)
	stop()
	require.ErrorIs(t, <-errc, context.Canceled)
	dstDB := sandboxtest.Open(t, dst, target)

	// The source goes on without it, and purges what the sync needs.
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 2 WHERE id = 1", "INSERT INTO acct VALUES (1000, 1000, 1)")
	purgeBinlogs(t, srcDB)
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 3 WHERE id = 1")

	checkErr := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		t.Logf("%s: %v", what, err)
		assert.ErrorIs(t, err, binlog.ErrPurged, what)
		assert.ErrorIs(t, err, migrate.ErrBinlogSettings, what)
		var ee *migrate.EndpointError
		if assert.ErrorAs(t, err, &ee, what) {
			assert.Equal(t, migrate.Source, ee.Side, what)
		}
		assert.Contains(t, err.Error(), src.Addr(), what)
	}
	_, err := newSync().Plan(ctx)
	checkErr("Plan", err)
	_, err = newSync().Run(ctx, nil)
	checkErr("Run", err)

	// Nothing was written: the target holds what the first run left.
	var n int64
	require.NoError(t, dstDB.QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
	assert.EqualValues(t, 1, n, "target counter")
	var rows int
	require.NoError(t, dstDB.QueryRow("SELECT COUNT(*) FROM acct WHERE id = 1000").Scan(&rows))
	assert.Zero(t, rows, "row written on the source after the purge")
}
