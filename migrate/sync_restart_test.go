package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
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
		assert.ErrorIs(t, err, migrate.ErrBinlogPurged, what)
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

// A sync under a steady writer goes on through a restart of the target
// (it waits for it and resumes from the position the target holds) and a
// restart of the source (the binary log stream reconnects); at the end the
// tables are equal and the counter every commit increments equals the
// commits: nothing lost, nothing applied twice.
func TestSyncSurvivesServerRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	const name, target = "shop", "shop_moved"
	sandboxtest.Exec(t, sandboxtest.Open(t, src, ""), "CREATE DATABASE "+name)
	srcDB := sandboxtest.Open(t, src, name)
	seedSyncTables(t, srcDB)

	w := &syncWorkload{db: srcDB}
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	writers.Go(func() { w.run(wctx) })

	var logs syncBuffer
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithProgressInterval(100*time.Millisecond), migrate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	var phases sync.Map
	rctx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Run(rctx, func(p migrate.Progress) { phases.Store(p.Phase, true) })
		errc <- err
	}()
	dstDB := sandboxtest.Open(t, dst, "")
	// progressed waits until the target applied more commits than now.
	progressed := func(what string) {
		t.Helper()
		want := w.commits.Load() + 20
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var n int64
			p := s.Phase()
			if p == migrate.PhaseCatchingUp || p == migrate.PhaseInSync {
				if err := dstDB.QueryRow("SELECT n FROM `" + target + "`.counter WHERE id = 1").Scan(&n); err == nil && n >= want {
					return
				}
			}
			select {
			case err := <-errc:
				t.Fatalf("%s: the sync ended: %v", what, err)
			default:
			}
			require.True(t, time.Now().Before(deadline), "%s: target counter not at %d (phase %s)", what, want, p)
			time.Sleep(50 * time.Millisecond)
		}
	}
	progressed("before the restarts")

	require.NoError(t, dst.Restart(ctx), "restarting the target")
	progressed("after the target's restart")
	_, seen := phases.Load(migrate.PhaseWaitingForTarget)
	assert.True(t, seen, "phase %s reported", migrate.PhaseWaitingForTarget)

	// The writer pauses between transactions while the source restarts:
	// a commit cut off by the shutdown would leave its outcome unknown to
	// it, and the counter check exact only by chance.
	w.mu.Lock()
	err = src.Restart(ctx)
	w.mu.Unlock()
	require.NoError(t, err, "restarting the source")
	progressed("after the source's restart")

	stopWriting()
	writers.Wait()
	waitSynced(t, s, dstDB, target, w.commits.Load(), errc)
	stopSync()
	require.ErrorIs(t, <-errc, context.Canceled)
	t.Logf("commits %d (failed attempts %d)", w.commits.Load(), w.failures.Load())
	out := logs.String()
	for _, want := range []string{"sync: the target went away", "sync: the target is back", "binlog: replication connection lost, reconnecting"} {
		assert.Contains(t, out, want, "log")
	}
	assert.NotContains(t, out, src.Password(), "log")

	v, err := verify.New(sandboxtest.Open(t, src, ""), dstDB)
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, name, target)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "differences after the restarts: %d", vr.Differences())
	var n int64
	require.NoError(t, dstDB.QueryRow("SELECT n FROM `"+target+"`.counter WHERE id = 1").Scan(&n))
	assert.Equal(t, w.commits.Load(), n, "counter on the target")
}

// A target that stays away longer than WithTargetWait fails Run with
// ErrConnect naming it; a later Run resumes once it is back.
func TestSyncGivesUpOnAnAbsentTarget(t *testing.T) {
	ctx, a := newAbsentMove(t, migrate.WithTargetWait(2*time.Second))
	dst, srcDB, newSync, target := a.dst, a.srcDB, a.newSync, absentTarget
	s := newSync()
	errc := runSync(ctx, s)
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 1 WHERE id = 1")
	waitSynced(t, s, sandboxtest.Open(t, dst, ""), target, 1, errc)

	require.NoError(t, dst.Stop())
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 2 WHERE id = 1")
	err := <-errc
	require.Error(t, err)
	t.Logf("Run: %v", err)
	assert.ErrorIs(t, err, migrate.ErrConnect)
	var ee *migrate.EndpointError
	if assert.ErrorAs(t, err, &ee) {
		assert.Equal(t, migrate.Target, ee.Side)
	}
	assert.Contains(t, err.Error(), dst.Addr())
	assert.Contains(t, err.Error(), "WithTargetWait")

	require.NoError(t, dst.Restart(ctx))
	s = newSync()
	errc = runSync(ctx, s)
	waitSynced(t, s, sandboxtest.Open(t, dst, ""), target, 2, errc)
}
