package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
)

// cutoverCatchUp bounds the catch-up under a lock; past it the lock is
// released and the cut-over tried again.
const cutoverCatchUp = 5 * time.Second

// verifyParallelism is the verification's connections per table: it takes
// 2n+1 of the run's pool, which also holds the lock's and the applier's.
const verifyParallelism = 2

// cutover verifies the shadow at a quiet point, then swaps it in (see
// OnlineAlter), retrying a swap whose lock or catch-up timed out.
func (r *alterRun) cutover(ctx context.Context) error {
	a := r.a
	rep := &CutoverReport{Method: "lock and rename (gh-ost's atomic cut-over)"}
	r.report.Cutover = rep
	// The locks are not taken while the throttler holds; from here on
	// the applier is not held (pacedSink).
	if err := a.cfg.throttle(ctx, a.table, a.name()); err != nil {
		return err
	}
	r.paceApply.Store(false)
	a.at("verifying")
	if err := r.verifyQuiet(ctx, rep); err != nil {
		return err
	}
	a.setPhase(PhaseCuttingOver)
	r.emit()
	var err error
	for attempt := 1; attempt <= a.cfg.attempts; attempt++ {
		if r.app == nil {
			if err = r.openStream(ctx); err != nil {
				return err
			}
		}
		if err = r.swap(ctx, rep); err == nil {
			r.swapped = true
			a.logger().Info("online alter: swapped", "table", a.name(), "swap_write_pause", rep.Pause, "catch_up", rep.CatchUp, "attempt", attempt,
				"verify_write_pause", rep.VerifyPause, "longest_write_pause", rep.LongestPause)
			a.at("swapped")
			return r.finish(ctx)
		}
		if !errors.Is(err, errRetrySwap) || ctx.Err() != nil {
			return err
		}
		a.logger().Warn("online alter: cut-over attempt failed, the table is untouched", "table", a.name(), "attempt", attempt, "err", err)
	}
	return a.tableErr(fmt.Errorf("cut-over: %d attempts failed, the table is untouched (run again to retry): %w", a.cfg.attempts, err))
}

// errRetrySwap marks a swap attempt that left the table untouched and may
// be tried again.
var errRetrySwap = errors.New("cut-over attempt failed")

// lockTables takes LOCK TABLES spec on a connection of its own, waiting at
// most the cut-over's lock wait, and returns when it requested the lock:
// the application's writes may queue behind the request, so the write
// pause starts there.
func (r *alterRun) lockTables(ctx context.Context, spec string) (*sql.Conn, time.Time, error) {
	c, err := r.db.Conn(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(r.a.cfg.lockWait.Seconds()))); err != nil {
		conn.Discard(c)
		return nil, time.Time{}, err
	}
	requested := time.Now()
	if _, err := c.ExecContext(ctx, "LOCK TABLES "+spec); err != nil {
		conn.Discard(c)
		return nil, time.Time{}, err
	}
	return c, requested, nil
}

// paused records a write pause of d in rep: the verification's
// (verifying) or the swap's.
func paused(rep *CutoverReport, d time.Duration, verifying bool) {
	if verifying {
		rep.VerifyPause = max(rep.VerifyPause, d)
	}
	rep.LongestPause = max(rep.LongestPause, d)
}

// verifyQuiet checksums the table and the shadow on their shared columns
// at a quiet point: writes wait under LOCK TABLES ... READ until the
// shadow caught up and verify's snapshots are open. To keep that pause
// short, the shadow first catches up without the lock (converge: only
// the last moments' writes are left for under it), and verify prepares
// its tables and opens its connections before the lock (WithQuietPoint):
// under it run only the position read, that catch-up and the snapshots'
// START TRANSACTION.
func (r *alterRun) verifyQuiet(ctx context.Context, rep *CutoverReport) error {
	a := r.a
	a.setPhase(PhaseVerifying)
	r.emit()
	pair := verify.TablePair{SourceDatabase: a.database, SourceTable: a.table, TargetDatabase: a.database, TargetTable: a.shadowName(), Columns: r.comparedColumns()}
	begin := time.Now()
	var lastErr error
	for attempt := 1; attempt <= a.cfg.attempts; attempt++ {
		if err := r.converge(ctx); err != nil {
			return err
		}
		var (
			lc        *sql.Conn
			requested time.Time
			quietErr  error // of the lock or the catch-up under it
			retry     bool  // the lock or the catch-up timed out
			once      sync.Once
		)
		unlock := func() {
			once.Do(func() {
				if lc == nil {
					return
				}
				a.at("verify-unlocking")
				_, _ = lc.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
				paused(rep, time.Since(requested), true)
				conn.Discard(lc)
			})
		}
		quiet := func(ctx context.Context) error {
			var err error
			if lc, requested, err = r.lockTables(ctx, a.name()+" READ"); err != nil {
				quietErr, retry = fmt.Errorf("lock: %w", err), true
				return quietErr
			}
			a.at("verify-locked")
			pos, err := binlog.CurrentPosition(ctx, r.db, r.facts.flavor)
			if err == nil {
				err = r.catchUp(ctx, pos, cutoverCatchUp)
			}
			quietErr, retry = err, errors.Is(err, errCatchUp)
			return err
		}
		v, err := verify.New(r.db, r.db, verify.WithLogger(a.logger()), verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithParallelism(verifyParallelism),
			verify.WithQuietPoint(quiet), verify.WithSnapshotOpened(unlock))
		if err != nil {
			return err
		}
		vr, err := v.Verify(ctx, pair)
		unlock()
		if retry {
			lastErr = quietErr
			a.logger().Warn("online alter: no quiet point for the verification", "table", a.name(), "attempt", attempt, "err", quietErr)
			continue
		}
		if quietErr != nil {
			return a.tableErr(quietErr)
		}
		rep.Verify = time.Since(begin)
		if err != nil {
			return a.tableErr(fmt.Errorf("verifying the shadow table: %w", err))
		}
		if len(vr.Unverified) > 0 {
			return a.tableErr(fmt.Errorf("%w: the shadow table cannot be verified: %s", ErrNotVerified, vr.Unverified[0].Reason))
		}
		if !vr.Clean() {
			return a.tableErr(fmt.Errorf("%w: %d difference(s) between the table and its shadow on columns %s; the table is untouched (Abort removes the shadow)",
				ErrNotVerified, vr.Differences(), strings.Join(pair.Columns, ", ")))
		}
		rep.VerifiedTables, rep.VerifiedRows = 1, vr.Rows()
		a.logger().Info("online alter: shadow verified", "table", a.name(), "verify_write_pause", rep.VerifyPause, "verify", rep.Verify, "rows", vr.Rows())
		return nil
	}
	return a.tableErr(fmt.Errorf("verification: no quiet point in %d attempts: %w", a.cfg.attempts, lastErr))
}

// comparedColumns are the columns verification compares: those both
// tables have, not generated, of the same type and collation. A column
// whose type the ALTER changed holds converted values, which the server's
// own conversion made.
func (r *alterRun) comparedColumns() []string {
	var out []string
	for _, c := range r.facts.def.Columns {
		d := r.shadowDef.Column(c.Name)
		if d == nil || c.Generated || d.Generated || !strings.EqualFold(c.ColumnType, d.ColumnType) || c.Collation != d.Collation {
			continue
		}
		out = append(out, c.Name)
	}
	return out
}

// swap runs one attempt of the cut-over (see OnlineAlter). An error
// wrapping errRetrySwap left the table untouched. What needs no lock runs
// before it: the shadow catches up (converge) and the RENAME's connection
// is set up.
func (r *alterRun) swap(ctx context.Context, rep *CutoverReport) error {
	a := r.a
	if err := r.converge(ctx); err != nil {
		return err
	}
	// The RENAME queues for the table behind the lock; the sentry keeps it
	// from running unless the lock's connection drops it.
	rc, err := r.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	defer conn.Discard(rc)
	var id int64
	if err := rc.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	if _, err := rc.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(renameLockWaits*a.cfg.lockWait.Seconds()))); err != nil {
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	table, sentry, helper := a.name(), schema.QualifiedName(a.database, a.sentryName()), schema.QualifiedName(a.database, a.helperName())
	for _, name := range []string{helper, sentry} {
		if _, err := r.db.ExecContext(ctx, "CREATE TABLE "+name+" (sentry INT) COMMENT '"+cutoverComment+"'"); err != nil {
			r.dropCutover(ctx)
			return a.err("table "+name, fmt.Errorf("create the cut-over's table: %w", err))
		}
	}
	lc, stopped, err := r.lockTables(ctx, table+" WRITE, "+sentry+" WRITE")
	if err != nil {
		r.dropCutover(ctx)
		return fmt.Errorf("%w: lock: %w", errRetrySwap, err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			_, _ = lc.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
			paused(rep, time.Since(stopped), false)
		}
	}
	defer conn.Discard(lc)
	defer unlock()
	// fail ends an attempt before the RENAME is issued: the table is
	// untouched.
	fail := func(err error) error {
		unlock()
		r.dropCutover(ctx)
		return err
	}

	// Everything written to the table before the lock reaches the shadow.
	pos, err := binlog.CurrentPosition(ctx, r.db, r.facts.flavor)
	if err != nil {
		return fail(a.err(serverFault, err))
	}
	if err := r.catchUp(ctx, pos, cutoverCatchUp); err != nil {
		if errors.Is(err, errCatchUp) {
			return fail(fmt.Errorf("%w: %w", errRetrySwap, err))
		}
		return fail(a.tableErr(err))
	}
	rep.CatchUp, rep.SourcePosition = time.Since(stopped), pos
	if err := r.closeStream(ctx); err != nil {
		return fail(a.err("checkpoint", err))
	}

	rename := &pendingRename{done: make(chan struct{})}
	go func() {
		defer close(rename.done)
		_, rename.err = rc.ExecContext(context.WithoutCancel(ctx), a.renameStatement())
	}()
	// From here on every way out waits for the RENAME to end.
	if err := r.awaitRenameWaiting(ctx, id, rename); err != nil {
		unlock() // the RENAME fails on the sentry
		return r.renameEnded(ctx, rep, stopped, rename, fmt.Errorf("%w: %w", errRetrySwap, err))
	}
	a.at("rename-waiting")
	if _, err := lc.ExecContext(context.WithoutCancel(ctx), "DROP TABLE "+sentry); err != nil {
		unlock()
		return r.renameEnded(ctx, rep, stopped, rename, fmt.Errorf("%w: dropping the sentry under the lock: %w", errRetrySwap, err))
	}
	unlock()
	return r.renameEnded(ctx, rep, stopped, rename, nil)
}

// pendingRename is the cut-over's RENAME, run on a connection of its own:
// err is its result once done is closed.
type pendingRename struct {
	done chan struct{}
	err  error
}

// renameEnded waits for the RENAME, the lock released, and ends the
// attempt: nil if it ran (the swap happened: the catch-up was complete
// and the RENAME was first in the table's queue), else failed (an error
// wrapping errRetrySwap; the table untouched), or failed's own error when
// the attempt failed before the sentry was dropped. The cut-over's tables
// are dropped either way.
func (r *alterRun) renameEnded(ctx context.Context, rep *CutoverReport, stopped time.Time, rename *pendingRename, failed error) error {
	<-rename.done
	rep.Stopped, rep.Released = stopped, time.Now()
	rep.Pause = rep.Released.Sub(stopped)
	paused(rep, rep.Pause, false)
	r.dropCutover(ctx)
	switch {
	case rename.err == nil:
		if failed != nil {
			r.a.logger().Warn("online alter: the RENAME ran after a failed step of the cut-over", "table", r.a.name(), "err", failed)
		}
		return nil
	case failed != nil:
		return failed
	}
	// The lock is gone and the table untouched: the application writes
	// again, and the next attempt follows the stream anew.
	return fmt.Errorf("%w: RENAME: %w", errRetrySwap, rename.err)
}

// dropCutover drops the cut-over's tables, logging a failure: a table
// left is dropped by the next attempt or Run.
func (r *alterRun) dropCutover(ctx context.Context) {
	if err := r.a.dropCutoverTables(context.WithoutCancel(ctx), r.db); err != nil {
		r.a.logger().Error("online alter: dropping the cut-over's tables", "table", r.a.name(), "err", err)
	}
}

// awaitRenameWaiting waits until the connection id waits for a metadata
// lock (its RENAME queued behind the cut-over's lock), at most the lock
// wait.
func (r *alterRun) awaitRenameWaiting(ctx context.Context, id int64, rename *pendingRename) error {
	deadline := time.Now().Add(r.a.cfg.lockWait)
	for {
		var state sql.NullString
		err := r.db.QueryRowContext(ctx, "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if strings.Contains(strings.ToLower(state.String), "metadata lock") {
			return nil
		}
		select {
		case <-rename.done:
			if rename.err == nil {
				return errors.New("RENAME: ran before the lock was released")
			}
			return fmt.Errorf("RENAME: %w", rename.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the RENAME was not seen waiting for the lock within %s", r.a.cfg.lockWait)
		}
	}
}

// renameLockWaits is the RENAME's lock wait, in cut-over lock waits.
const renameLockWaits = 3

// renameStatement is the cut-over's RENAME: it fails while the sentry
// exists.
func (a *OnlineAlter) renameStatement() string {
	q := func(name string) string { return schema.QualifiedName(a.database, name) }
	return "RENAME TABLE " + a.name() + " TO " + q(a.oldName()) + ", " + q(a.shadowName()) + " TO " + a.name() + ", " +
		q(a.helperName()) + " TO " + q(a.sentryName())
}

// dropCutoverTables drops the cut-over's tables an interrupted or failed
// cut-over left. Its RENAME may still wait in the server for a dead run's
// lock: the tables are dropped only once no such RENAME is left (it ends
// on its own within its lock wait), as a RENAME run after the sentry's
// drop would swap in a shadow that misses the last writes.
func (a *OnlineAlter) dropCutoverTables(ctx context.Context, db *sql.DB) error {
	sentry := schema.QualifiedName(a.database, a.sentryName())
	deadline := time.Now().Add(renameLockWaits*a.cfg.lockWait + 5*time.Second)
	for {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO = ?", a.renameStatement()).Scan(&n)
		if err != nil {
			return a.err(serverFault, err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return a.err("table "+sentry, fmt.Errorf("the RENAME of an interrupted cut-over still waits after %s; the sentry is kept", renameLockWaits*a.cfg.lockWait+5*time.Second))
		}
		a.logger().Info("online alter: waiting for the RENAME of an interrupted cut-over to end", "table", a.name())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Only tables marked as the cut-over's: a table of someone else's
	// under one of the names is never dropped.
	var ours []string
	if err := scanStrings(ctx, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?) AND TABLE_COMMENT = ?",
		[]any{a.database, a.sentryName(), a.helperName(), cutoverComment}, &ours); err != nil {
		return a.err(serverFault, err)
	}
	for _, name := range ours {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+schema.QualifiedName(a.database, name)); err != nil {
			return a.err("table "+schema.QualifiedName(a.database, name), fmt.Errorf("drop the cut-over's table: %w", err))
		}
	}
	return nil
}
