package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// lockPastSwitch is a move fenced with FenceFlushTables whose process was
// killed with SIGKILL inside its switch: its lock ended with it.
type lockPastSwitch struct {
	spec  switchSpec
	srcDB *sql.DB // the source database
	dstDB *sql.DB // the target database
}

// killLockPastSwitch copies a database with a move run as a child process,
// fenced with FenceFlushTables, and kills it inside its switch.
func killLockPastSwitch(t *testing.T, prefix string) (context.Context, *lockPastSwitch) {
	t.Helper()
	ctx, spec, srcDB := newSwitchMove(t, prefix)
	spec.Lock = true
	p := &lockPastSwitch{spec: spec, srcDB: srcDB}
	killChildAtFile(t, ctx, switchChildEnv, p.spec, p.spec.Switched)
	p.dstDB = sandboxtest.Open(t, servers[1], spec.TargetDatabase)
	return ctx, p
}

// run runs a new move of p's spec, deciding pending, with switchHook until
// it returns or gets in sync (then it returns the Sync, still running, and
// its outcome's channel).
func (p *lockPastSwitch) run(t *testing.T, ctx context.Context, pending migrate.PendingSwitch, switchHook func(context.Context) error) (*migrate.Sync, *migrate.Report, <-chan struct{}, error) {
	t.Helper()
	spec := p.spec
	spec.Pending = pending
	s, err := migrate.NewSync(spec.Source, spec.Target, spec.Database, spec.options(switchHook)...)
	require.NoError(t, err)
	var rep *migrate.Report
	done := make(chan struct{})
	go func() { defer close(done); rep, err = s.Run(ctx, nil) }()
	for {
		select {
		case <-done:
			return s, rep, done, err
		case <-time.After(20 * time.Millisecond):
		}
		if s.Phase() == migrate.PhaseInSync {
			return s, nil, done, nil
		}
	}
}

// counter is the counter row of db's moved table.
func counter(t *testing.T, ctx context.Context, db *sql.DB) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n))
	return n
}

// TestSyncLockCutoverFinishedAfterSIGKILLWithoutSourceWrites: a move fenced
// with FenceFlushTables killed inside its switch, the source's moved
// tables untouched since (another table of the source written): the next
// Run takes the lock again, finds no change to them and finishes the
// cutover (the switch called again, the lock held during it); a later Run
// says ErrCutOver.
func TestSyncLockCutoverFinishedAfterSIGKILLWithoutSourceWrites(t *testing.T) {
	ctx, p := killLockPastSwitch(t, "lockkillquiet")
	sandboxtest.Exec(t, p.srcDB, "CREATE TABLE unmoved (id INT PRIMARY KEY)", "INSERT INTO unmoved VALUES (1)")

	var switched atomic.Int32
	_, rep, _, err := p.run(t, ctx, migrate.PendingSwitchRefuse, func(context.Context) error {
		// Called with the lock held: a write to a moved table waits.
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := p.srcDB.ExecContext(wctx, "UPDATE counter SET n = n WHERE id = 1"); err == nil {
			return errors.New("the source takes writes to the moved tables during the switch")
		}
		switched.Add(1)
		return nil
	})
	require.NoError(t, err, "the restarted move did not finish the cutover")
	require.NotNil(t, rep.Cutover)
	assert.Zero(t, rep.Cutover.UnappliedChanges)
	assert.Equal(t, int32(1), switched.Load(), "the switch is called again")
	sandboxtest.Exec(t, p.srcDB, "UPDATE counter SET n = n + 1 WHERE id = 1")

	_, _, _, err = p.run(t, ctx, migrate.PendingSwitchRefuse, func(context.Context) error { switched.Add(1); return nil })
	require.ErrorIs(t, err, migrate.ErrCutOver, "a Run after the finished cutover")
	assert.Equal(t, int32(1), switched.Load())
}

// TestSyncLockCutoverPendingAfterSIGKILL: a move fenced with
// FenceFlushTables killed inside its switch, the source's moved tables
// written once its lock was gone: the next Run refuses with
// ErrSwitchPending naming the changes, calls no switch and syncs nothing;
// WithPendingSwitch(PendingSwitchAbandon) resumes the sync, which applies
// them, and the next cutover goes through.
func TestSyncLockCutoverPendingAfterSIGKILL(t *testing.T) {
	ctx, p := killLockPastSwitch(t, "lockkillpend")
	sandboxtest.Exec(t, p.srcDB, "UPDATE counter SET n = 700 WHERE id = 1", "INSERT INTO items VALUES (9400001, 'after the crash', NULL, NOW(6), 1)")
	before := counter(t, ctx, p.dstDB)

	var switched atomic.Int32
	hook := func(context.Context) error { switched.Add(1); return nil }
	for range 2 {
		_, _, _, err := p.run(t, ctx, migrate.PendingSwitchRefuse, hook)
		require.Error(t, err)
		t.Logf("Run: %v", err)
		assert.ErrorIs(t, err, migrate.ErrSwitchPending)
		for _, part := range []string{"2 row change(s)", "not on the target", "PendingSwitchAbandon", "PendingSwitchFinish"} {
			assert.Contains(t, err.Error(), part)
		}
		assert.Zero(t, switched.Load(), "the switch is called")
		assert.Equal(t, before, counter(t, ctx, p.dstDB), "the target's counter")
		sandboxtest.Exec(t, p.srcDB, "UPDATE counter SET n = n WHERE id = 1") // the source takes writes
	}

	s, _, done, err := p.run(t, ctx, migrate.PendingSwitchAbandon, hook)
	require.NoError(t, err)
	require.Equal(t, migrate.PhaseInSync, s.Phase(), "the abandoning Run")
	require.Eventually(t, func() bool { return counter(t, ctx, p.dstDB) == 700 }, time.Minute, 50*time.Millisecond, "the source's change synced")
	rep, err := s.Cutover(ctx)
	require.NoError(t, err)
	<-done
	assert.Equal(t, int32(1), switched.Load())
	assert.Zero(t, rep.UnappliedChanges)
}

// TestSyncLockCutoverFinishedWithPendingSwitchFinish: as above, the host
// says the application was switched: WithPendingSwitch(PendingSwitchFinish)
// finishes the cutover without the source's changes and counts them.
func TestSyncLockCutoverFinishedWithPendingSwitchFinish(t *testing.T) {
	ctx, p := killLockPastSwitch(t, "lockkillfin")
	sandboxtest.Exec(t, p.srcDB, "UPDATE counter SET n = 700 WHERE id = 1")
	before := counter(t, ctx, p.dstDB)

	var switched atomic.Int32
	hook := func(context.Context) error { switched.Add(1); return nil }
	_, rep, _, err := p.run(t, ctx, migrate.PendingSwitchFinish, hook)
	require.NoError(t, err)
	require.NotNil(t, rep.Cutover)
	assert.Equal(t, int64(1), rep.Cutover.UnappliedChanges)
	assert.NotEmpty(t, rep.Cutover.UnappliedUntil)
	assert.Equal(t, int32(1), switched.Load())
	assert.Equal(t, before, counter(t, ctx, p.dstDB), "the target's counter")
	_, _, _, err = p.run(t, ctx, migrate.PendingSwitchRefuse, hook)
	require.ErrorIs(t, err, migrate.ErrCutOver)
}

// TestSyncLockCutoverResumesAfterSIGKILLBeforeTheSwitch: a move fenced with
// FenceFlushTables killed in its cutover with the lock held, the target
// still catching up (a row of it locked): no switch was recorded, so the
// lock's end loses nothing. The source takes writes again at once, and
// the next Run restores nothing, syncs them and cuts over.
func TestSyncLockCutoverResumesAfterSIGKILLBeforeTheSwitch(t *testing.T) {
	ctx, spec, srcDB := newSwitchMove(t, "lockkillpre")
	spec.Lock, spec.Hold = true, filepath.Join(t.TempDir(), "hold")
	dst := sandboxtest.Open(t, servers[1], "")
	staged := make(chan error, 1)
	var held *sql.Tx
	go func() {
		staged <- func() error {
			if err := awaitFile(ctx, spec.Hold+".insync"); err != nil {
				return err
			}
			// The target's applier waits for this row: the cutover's
			// catch-up does not end.
			var err error
			if held, err = dst.BeginTx(ctx, nil); err != nil {
				return err
			}
			var n int64
			if err := held.QueryRowContext(ctx, "SELECT n FROM `"+spec.TargetDatabase+"`.counter WHERE id = 1 FOR UPDATE").Scan(&n); err != nil {
				return err
			}
			if _, err := srcDB.ExecContext(ctx, "UPDATE counter SET n = 41 WHERE id = 1"); err != nil {
				return err
			}
			if err := os.WriteFile(spec.Hold+".go", nil, 0o600); err != nil {
				return err
			}
			for {
				var open int
				if err := dst.QueryRowContext(ctx, "SELECT COUNT(*) FROM _shiftgate.fences WHERE released_at IS NULL AND stopped_at IS NOT NULL").Scan(&open); err == nil && open > 0 {
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // into the catch-up
			return os.WriteFile(spec.Hold+".kill", nil, 0o600)
		}()
	}()
	killChildAtFile(t, ctx, switchChildEnv, spec, spec.Hold+".kill")
	require.NoError(t, <-staged)
	require.NoError(t, held.Rollback())
	_, err := os.Stat(spec.Switched)
	require.ErrorIs(t, err, os.ErrNotExist, "the child was killed past its switch")
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 42 WHERE id = 1") // the lock is gone with the child

	var switched atomic.Int32
	p := &lockPastSwitch{spec: spec, srcDB: srcDB, dstDB: sandboxtest.Open(t, servers[1], spec.TargetDatabase)}
	s, _, done, err := p.run(t, ctx, migrate.PendingSwitchRefuse, func(context.Context) error { switched.Add(1); return nil })
	require.NoError(t, err)
	require.Equal(t, migrate.PhaseInSync, s.Phase(), "the restarted move")
	require.Eventually(t, func() bool { return counter(t, ctx, p.dstDB) == 42 }, time.Minute, 50*time.Millisecond, "the source's writes synced")
	rep, err := s.Cutover(ctx)
	require.NoError(t, err)
	<-done
	assert.Equal(t, int32(1), switched.Load())
	assert.Equal(t, int64(42), counter(t, ctx, p.dstDB))
	assert.Zero(t, rep.UnappliedChanges)
}

// TestSyncLockCutoverRecordedDoneThenSIGKILL: a move fenced with
// FenceFlushTables, a write of another session queued behind its lock
// during the switch, killed once the cutover is recorded done, before the
// lock's release: the queued write was killed before the record, so it
// never runs on the source; the source's write once the lock is gone is
// not on the target, and the next Run reports it (UnappliedChanges)
// without calling the switch again; a later Run says ErrCutOver.
func TestSyncLockCutoverRecordedDoneThenSIGKILL(t *testing.T) {
	ctx, spec, srcDB := newSwitchMove(t, "lockkilldone")
	spec.Lock, spec.Point = true, "cutover-recorded"
	root := sandboxtest.Open(t, servers[0], "")
	queued := make(chan error, 1)
	staged := make(chan error, 1)
	go func() {
		staged <- func() error {
			if err := awaitFile(ctx, spec.Switched+".in"); err != nil {
				return err
			}
			go func() {
				_, err := srcDB.ExecContext(ctx, "UPDATE counter SET n = 555 WHERE id = 1")
				queued <- err
			}()
			for {
				var n int
				if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE counter SET n = 555%' AND STATE LIKE 'Waiting for%'").Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			return os.WriteFile(spec.Switched+".go", nil, 0o600)
		}()
	}()
	killChildAtFile(t, ctx, switchChildEnv, spec, spec.Switched)
	require.NoError(t, <-staged)
	select {
	case err := <-queued:
		require.Error(t, err, "the write queued behind the lock ran on the source after the crash")
	case <-time.After(time.Minute):
		t.Fatal("the write queued behind the lock still waits")
	}
	sandboxtest.Exec(t, srcDB, "UPDATE counter SET n = 777 WHERE id = 1") // the lock is gone with the child

	p := &lockPastSwitch{spec: spec, srcDB: srcDB, dstDB: sandboxtest.Open(t, servers[1], spec.TargetDatabase)}
	before := counter(t, ctx, p.dstDB)
	var switched atomic.Int32
	hook := func(context.Context) error { switched.Add(1); return nil }
	_, rep, _, err := p.run(t, ctx, migrate.PendingSwitchRefuse, hook)
	require.NoError(t, err)
	require.NotNil(t, rep, "the restarted move got in sync")
	require.NotNil(t, rep.Cutover)
	assert.Equal(t, int64(1), rep.Cutover.UnappliedChanges, "the source's changes after the crash")
	assert.NotEmpty(t, rep.Cutover.UnappliedUntil)
	assert.Zero(t, switched.Load(), "the switch is called again")
	assert.Equal(t, before, counter(t, ctx, p.dstDB), "the target's counter")

	_, _, _, err = p.run(t, ctx, migrate.PendingSwitchRefuse, hook)
	require.ErrorIs(t, err, migrate.ErrCutOver, "a Run after the reported cutover")
	assert.Zero(t, switched.Load())
}
