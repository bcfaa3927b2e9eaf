package migrate_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// sourceBack waits until the sync waits for the source (o.src stopped,
// the writer paused by the caller), restarts the source, lets the writer
// go on, and checks that the move goes on and ends equal, every commit
// applied once.
func (o *outage) sourceBack(ctx context.Context) {
	t := o.t
	o.waitFor("the wait for the source", func() bool { return o.s.Phase() == migrate.PhaseWaitingForSource })
	err := o.src.Restart(ctx)
	o.w.mu.Unlock()
	require.NoError(t, err, "restarting the source")
	o.progressed("after the source's restart")
	_, seen := o.phases.Load(migrate.PhaseWaitingForSource)
	assert.True(t, seen, "phase %s reported", migrate.PhaseWaitingForSource)
	out := o.logs.String()
	for _, want := range []string{"sync: the source went away", "sync: the source is back"} {
		assert.Contains(t, out, want, "log")
	}
	o.finish(ctx)
}

// A source that goes away in the middle of the snapshot copy is waited
// for (PhaseWaitingForSource) and the copy resumes from its checkpoint,
// each remaining table from a new snapshot, the stream from the first
// snapshot's position: the move goes on and ends equal, and the counter
// every commit of the writer increments matches the commits (nothing
// lost, nothing applied twice).
func TestSyncSourceDownInCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	o := newOutage(ctx, t, src, dst)
	var chunks atomic.Int32
	var first int64
	stopped := make(chan struct{})
	// The copy reads its fifth chunk only once the source is down, and
	// the writer committed meanwhile: the tables copied before the outage
	// (acct, counter: the first snapshot) miss commits that the tables
	// copied after it (a new snapshot) hold, so the stream must start from
	// the first snapshot's position. The writer pauses between
	// transactions while the source is away: a commit cut off by the
	// shutdown would leave its outcome unknown to it, and the counter
	// check exact only by chance.
	throttle := migrate.ThrottlerFunc(func(ctx context.Context, table string) error {
		switch chunks.Add(1) {
		case 1:
			first = o.w.commits.Load()
		case 5:
			for o.w.commits.Load() < first+20 && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			o.w.mu.Lock()
			assert.NoError(t, src.Stop(), "stopping the source")
			close(stopped)
		}
		return nil
	})
	o.run(ctx, migrate.WithThreads(1), migrate.WithChunkRows(100), migrate.WithThrottler(throttle))
	select {
	case <-stopped:
	case err := <-o.errc:
		t.Fatalf("the sync ended before the source was stopped: %v", err)
	}
	o.sourceBack(ctx)
	assert.Contains(t, o.logs.String(), "copier resumes", "log")
}

// A source that is down when Run starts is waited for
// (PhaseWaitingForSource); once it is back, the move runs and ends equal.
func TestSyncSourceDownAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	o := newOutage(ctx, t, src, dst)
	o.w.mu.Lock()
	if err := src.Stop(); err != nil {
		o.w.mu.Unlock()
		t.Fatalf("stopping the source: %v", err)
	}
	o.run(ctx)
	o.sourceBack(ctx)
}

// A source that answers with a refusal fails Run at once, whatever the
// wait for a source that went away: an account without REPLICATION SLAVE,
// a wrong password.
func TestSyncSourceRefusalFailsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncsrcrefused")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	root := sandboxtest.Open(t, src, "")
	const user = "sync_norepl"
	sandboxtest.Exec(t, root, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'nr-pw'",
		"GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT, BINLOG MONITOR ON *.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	for _, tc := range []struct {
		password string
		want     error
	}{{"nr-pw", migrate.ErrPrivilege}, {"wrong-pw", migrate.ErrConnect}} {
		cfg := src.Config("")
		cfg.User, cfg.Passwd = user, tc.password
		s, err := migrate.NewSync(cfg.FormatDSN(), dst.DSN(""), name, migrate.WithTargetDatabase(name+"_t"))
		require.NoError(t, err)
		_, err = s.Run(ctx, nil)
		require.ErrorIs(t, err, tc.want, tc.password)
		require.NoError(t, ctx.Err(), "Run waited")
		assert.Equal(t, migrate.PhaseFailed, s.Phase())
		var ee *migrate.EndpointError
		if assert.ErrorAs(t, err, &ee) {
			assert.Equal(t, migrate.Source, ee.Side)
		}
	}
}

// A source that goes away while the sync follows its binary log shows as
// PhaseWaitingForSource (Cutover refused) until it is back; the stream
// goes on from the last transaction applied.
func TestSyncSourceDownInSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	o := startOutage(ctx, t, src, dst)
	o.waitFor("in sync", func() bool { return o.s.Phase() == migrate.PhaseInSync })
	o.progressed("before the outage")
	o.w.mu.Lock()
	if err := src.Stop(); err != nil {
		o.w.mu.Unlock()
		t.Fatalf("stopping the source: %v", err)
	}
	o.waitFor("the wait for the source", func() bool { return o.s.Phase() == migrate.PhaseWaitingForSource })
	_, err := o.s.Cutover(ctx)
	assert.ErrorIs(t, err, migrate.ErrNotInSync, "cutover while the source is away")
	o.sourceBack(ctx)
}

// A source that stays away longer than WithSourceWait fails Run with
// ErrConnect naming it, the option and how long the sync waited, while it
// follows the binary log and when Run starts; a later Run resumes once it
// is back.
func TestSyncGivesUpOnAnAbsentSource(t *testing.T) {
	ctx, a := newAbsentMove(t, migrate.WithSourceWait(2*time.Second))
	src, dst, srcDB, newSync, target := a.src, a.dst, a.srcDB, a.newSync, absentTarget
	gaveUp := func(errc <-chan error, when string) {
		t.Helper()
		var err error
		select {
		case err = <-errc:
		case <-time.After(time.Minute):
			t.Fatalf("%s: Run still waits for the source a minute after it stopped (WithSourceWait 2s)", when)
		}
		require.Error(t, err, when)
		t.Logf("Run (%s): %v", when, err)
		assert.ErrorIs(t, err, migrate.ErrConnect, when)
		var ee *migrate.EndpointError
		if assert.ErrorAs(t, err, &ee, when) {
			assert.Equal(t, migrate.Source, ee.Side, when)
		}
		for _, part := range []string{src.Addr(), "WithSourceWait", "within 2s", "waited "} {
			assert.Contains(t, err.Error(), part, when)
		}
	}
	s := newSync()
	errc := runSync(ctx, s)
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 1 WHERE id = 1")
	waitSynced(t, s, sandboxtest.Open(t, dst, ""), target, 1, errc)

	require.NoError(t, src.Stop())
	gaveUp(errc, "in sync")
	gaveUp(runSync(ctx, newSync()), "at start")

	require.NoError(t, src.Restart(ctx))
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 2 WHERE id = 1")
	s = newSync()
	errc = runSync(ctx, s)
	waitSynced(t, s, sandboxtest.Open(t, dst, ""), target, 2, errc)
}

// absentMove is a move of its own servers' "shop" into "shop_moved", for
// the tests of a server that stays away.
type absentMove struct {
	src, dst *sandbox.Server
	srcDB    *sql.DB
	// newSync makes a Sync of the move with the options given.
	newSync func() *migrate.Sync
}

const absentTarget = "shop_moved"

// newAbsentMove starts two servers, seeds the source's "shop" and returns
// the test's context and the move, made with opt.
func newAbsentMove(t *testing.T, opt migrate.SyncOption) (context.Context, *absentMove) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	a := &absentMove{}
	a.src, a.dst = ownServers(t)
	sandboxtest.Exec(t, sandboxtest.Open(t, a.src, ""), "CREATE DATABASE shop")
	a.srcDB = sandboxtest.Open(t, a.src, "shop")
	seedSyncTables(t, a.srcDB)
	a.newSync = func() *migrate.Sync {
		s, err := migrate.NewSync(a.src.DSN(""), a.dst.DSN(""), "shop", migrate.WithTargetDatabase(absentTarget), opt)
		require.NoError(t, err)
		return s
	}
	return ctx, a
}
