package migrate_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// outage is a move of its own servers' "shop" into "shop_moved" under a
// steady writer, run in the background, for the tests of server outages.
type outage struct {
	t        *testing.T
	src, dst *sandbox.Server
	w        *syncWorkload
	s        *migrate.Sync
	logs     *syncBuffer
	phases   sync.Map
	errc     chan error

	stopWriting, stopSync context.CancelFunc
	writers               sync.WaitGroup
}

const outageSource, outageTarget = "shop", "shop_moved"

// startOutage seeds src, starts the writer and runs a Sync from src to
// dst made with opts (besides the target database, a progress interval and
// a logger).
func startOutage(ctx context.Context, t *testing.T, src, dst *sandbox.Server, opts ...migrate.SyncOption) *outage {
	o := newOutage(ctx, t, src, dst)
	o.run(ctx, opts...)
	return o
}

// newOutage seeds src and starts the writer.
func newOutage(ctx context.Context, t *testing.T, src, dst *sandbox.Server) *outage {
	o := &outage{t: t, src: src, dst: dst, logs: &syncBuffer{}, errc: make(chan error, 1)}
	sandboxtest.Exec(t, sandboxtest.Open(t, o.src, ""), "CREATE DATABASE "+outageSource)
	srcDB := sandboxtest.Open(t, o.src, outageSource)
	seedSyncTables(t, srcDB)
	o.w = &syncWorkload{db: srcDB}
	var wctx context.Context
	wctx, o.stopWriting = context.WithCancel(ctx)
	t.Cleanup(o.stopWriting)
	o.writers.Go(func() { o.w.run(wctx) })
	return o
}

// run runs a Sync from o.src to o.dst made with opts (besides the target
// database, a progress interval and a logger) in the background.
func (o *outage) run(ctx context.Context, opts ...migrate.SyncOption) {
	t := o.t
	var err error
	o.s, err = migrate.NewSync(o.src.DSN(""), o.dst.DSN(""), outageSource, append([]migrate.SyncOption{migrate.WithTargetDatabase(outageTarget),
		migrate.WithProgressInterval(100 * time.Millisecond), migrate.WithLogger(slog.New(slog.NewTextHandler(o.logs, nil)))}, opts...)...)
	require.NoError(t, err)
	var rctx context.Context
	rctx, o.stopSync = context.WithCancel(ctx)
	t.Cleanup(o.stopSync)
	go func() {
		_, err := o.s.Run(rctx, func(p migrate.Progress) { o.phases.Store(p.Phase, true) })
		o.errc <- err
	}()
}

// waitFor waits until cond holds, failing the test if Run returns first.
func (o *outage) waitFor(what string, cond func() bool) {
	o.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		select {
		case err := <-o.errc:
			o.t.Fatalf("waiting for %s: the sync ended: %v", what, err)
		default:
		}
		require.True(o.t, time.Now().Before(deadline), "waiting for %s (phase %s)", what, o.s.Phase())
		time.Sleep(50 * time.Millisecond)
	}
}

// progressed waits until the target applied more commits than now.
func (o *outage) progressed(what string) {
	o.t.Helper()
	want := o.w.commits.Load() + 20
	dstDB := sandboxtest.Open(o.t, o.dst, "")
	o.waitFor(what, func() bool {
		var n int64
		p := o.s.Phase()
		return (p == migrate.PhaseCatchingUp || p == migrate.PhaseInSync) &&
			dstDB.QueryRow("SELECT n FROM `"+outageTarget+"`.counter WHERE id = 1").Scan(&n) == nil && n >= want
	})
}

// finish stops the writer, waits until the target holds every commit,
// stops the sync and checks that the tables are equal and the counter
// every commit increments equals the commits: nothing lost, nothing
// applied twice.
func (o *outage) finish(ctx context.Context) {
	t := o.t
	o.stopWriting()
	o.writers.Wait()
	dstDB := sandboxtest.Open(t, o.dst, "")
	waitSynced(t, o.s, dstDB, outageTarget, o.w.commits.Load(), o.errc)
	o.stopSync()
	require.ErrorIs(t, <-o.errc, context.Canceled)
	t.Logf("commits %d (failed attempts %d)", o.w.commits.Load(), o.w.failures.Load())
	assert.NotContains(t, o.logs.String(), o.src.Password(), "log")
	assert.NotContains(t, o.logs.String(), o.dst.Password(), "log")

	v, err := verify.New(sandboxtest.Open(t, o.src, ""), dstDB)
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, outageSource, outageTarget)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "differences after the outage: %d", vr.Differences())
	var n int64
	require.NoError(t, dstDB.QueryRow("SELECT n FROM `"+outageTarget+"`.counter WHERE id = 1").Scan(&n))
	assert.Equal(t, o.w.commits.Load(), n, "counter on the target")
}

// targetAway starts an outage test whose sync follows the binary log,
// then stops the target and waits until the sync waits for it.
func targetAway(ctx context.Context, t *testing.T) *outage {
	src, dst := ownServers(t)
	o := startOutage(ctx, t, src, dst)
	o.waitFor("in sync", func() bool { return o.s.Phase() == migrate.PhaseInSync })
	o.progressed("before the outage")
	require.NoError(t, dst.Stop(), "stopping the target")
	o.waitFor("the wait for the target", func() bool { return o.s.Phase() == migrate.PhaseWaitingForTarget })
	return o
}

// A target that goes away in the middle of the snapshot copy is waited
// for (PhaseWaitingForTarget) and the copy resumes from its checkpoint:
// the move goes on and ends equal.
func TestSyncTargetDownInCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := ownServers(t)
	var chunks atomic.Int32
	var once sync.Once
	stopped := make(chan struct{})
	// The copy reads its fifth chunk only once the target is down.
	throttle := migrate.ThrottlerFunc(func(ctx context.Context, table string) error {
		if chunks.Add(1) == 5 {
			once.Do(func() {
				assert.NoError(t, dst.Stop(), "stopping the target")
				close(stopped)
			})
		}
		return nil
	})
	o := startOutage(ctx, t, src, dst, migrate.WithThreads(1), migrate.WithChunkRows(100), migrate.WithThrottler(throttle))
	select {
	case <-stopped:
	case err := <-o.errc:
		t.Fatalf("the sync ended before the target was stopped: %v", err)
	}
	o.waitFor("the wait for the target", func() bool { return o.s.Phase() == migrate.PhaseWaitingForTarget })
	require.NoError(t, o.dst.Restart(ctx), "restarting the target")
	o.progressed("after the target's restart")
	_, seen := o.phases.Load(migrate.PhaseWaitingForTarget)
	assert.True(t, seen, "phase %s reported", migrate.PhaseWaitingForTarget)
	out := o.logs.String()
	for _, want := range []string{"sync: the target went away", "sync: the target is back", "copy's checkpoint"} {
		assert.Contains(t, out, want, "log")
	}
	o.finish(ctx)
}

// A sync whose stream restarts (the target came back) while the source is
// down waits for the source instead of failing, and goes on once it is
// back.
func TestSyncSourceDownAtRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	o := targetAway(ctx, t)
	// The writer pauses between transactions while the source is away:
	// a commit cut off by the shutdown would leave its outcome unknown to
	// it, and the counter check exact only by chance.
	o.w.mu.Lock()
	err := o.src.Stop()
	if err == nil {
		err = o.dst.Restart(ctx)
	}
	if err == nil {
		// The stream restarts from the target's position and finds the
		// source down.
		o.waitFor("the stream's retries", func() bool {
			return strings.Count(o.logs.String(), "binlog: source unreachable, retrying") >= 2
		})
		err = o.src.Restart(ctx)
	}
	o.w.mu.Unlock()
	require.NoError(t, err, "the outage")
	o.progressed("after the source's restart")
	o.finish(ctx)
}

// A source that restarted and purged the binary log the sync needs while
// the sync could not read it (it waited for its target) fails Run once the
// stream starts again, with ErrPurged as ErrBinlogSettings naming the
// source: never a silent restart, never an endless wait.
func TestSyncPurgedInOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	o := targetAway(ctx, t)
	src, dst := o.src, o.dst
	o.w.mu.Lock()
	err := src.Restart(ctx)
	o.w.mu.Unlock()
	require.NoError(t, err, "restarting the source")
	o.stopWriting()
	o.writers.Wait()
	purgeBinlogs(t, o.w.db)
	require.NoError(t, dst.Restart(ctx), "restarting the target")

	select {
	case err = <-o.errc:
	case <-ctx.Done():
		t.Fatal("Run did not return after the purge")
	}
	require.Error(t, err)
	t.Logf("Run: %v", err)
	assert.ErrorIs(t, err, binlog.ErrPurged)
	assert.ErrorIs(t, err, migrate.ErrBinlogSettings)
	var ee *migrate.EndpointError
	if assert.ErrorAs(t, err, &ee) {
		assert.Equal(t, migrate.Source, ee.Side)
	}
	assert.Contains(t, err.Error(), src.Addr())
}
