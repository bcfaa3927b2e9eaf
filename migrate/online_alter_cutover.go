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
			a.logger().Info("online alter: swapped", "table", a.name(), "stall", rep.Pause, "catch_up", rep.CatchUp, "attempt", attempt)
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
// most the cut-over's lock wait.
func (r *alterRun) lockTables(ctx context.Context, spec string) (*sql.Conn, error) {
	c, err := r.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	secs := int(r.a.cfg.lockWait.Seconds())
	for _, stmt := range []string{fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs), "LOCK TABLES " + spec} {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			conn.Discard(c)
			return nil, err
		}
	}
	return c, nil
}

// verifyQuiet checksums the table and the shadow on their shared columns
// at a quiet point: writes wait under LOCK TABLES ... READ until the
// shadow caught up and verify's snapshots are open.
func (r *alterRun) verifyQuiet(ctx context.Context, rep *CutoverReport) error {
	a := r.a
	a.setPhase(PhaseVerifying)
	r.emit()
	pair := verify.TablePair{SourceDatabase: a.database, SourceTable: a.table, TargetDatabase: a.database, TargetTable: a.shadowName(), Columns: r.comparedColumns()}
	begin := time.Now()
	var lastErr error
	for attempt := 1; attempt <= a.cfg.attempts; attempt++ {
		lc, err := r.lockTables(ctx, a.name()+" READ")
		if err != nil {
			lastErr = err
			a.logger().Warn("online alter: lock for verification", "attempt", attempt, "err", err)
			continue
		}
		var once sync.Once
		unlock := func() {
			once.Do(func() {
				_, _ = lc.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
				conn.Discard(lc)
			})
		}
		pos, err := binlog.CurrentPosition(ctx, r.db, r.facts.flavor)
		if err == nil {
			err = r.catchUp(ctx, pos, cutoverCatchUp)
		}
		if err != nil {
			unlock()
			if errors.Is(err, errCatchUp) {
				lastErr = err
				continue
			}
			return a.tableErr(err)
		}
		v, err := verify.New(r.db, r.db, verify.WithLogger(a.logger()), verify.WithSnapshot(verify.SnapshotQuiesced), verify.WithParallelism(verifyParallelism), verify.WithSnapshotOpened(unlock))
		if err != nil {
			unlock()
			return err
		}
		vr, err := v.Verify(ctx, pair)
		unlock()
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

// swap runs one attempt of the atomic cut-over. An error wrapping
// errRetrySwap left the table untouched.
func (r *alterRun) swap(ctx context.Context, rep *CutoverReport) (err error) {
	a := r.a
	table, old := a.name(), schema.QualifiedName(a.database, a.oldName())
	if _, err := r.db.ExecContext(ctx, "CREATE TABLE "+old+" (sentry INT) COMMENT '"+sentryComment+"'"); err != nil {
		return a.err("table "+old, fmt.Errorf("create the cut-over's sentry: %w", err))
	}
	dropSentry := func() {
		if _, err := r.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+old); err != nil {
			a.logger().Error("online alter: dropping the cut-over's sentry", "table", old, "err", err)
		}
	}
	lc, err := r.lockTables(ctx, table+" WRITE, "+old+" WRITE")
	if err != nil {
		dropSentry()
		return fmt.Errorf("%w: lock: %w", errRetrySwap, err)
	}
	stopped := time.Now()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			_, _ = lc.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
		}
	}
	defer conn.Discard(lc)
	defer unlock()

	// Everything written to the table before the lock reaches the shadow.
	pos, err := binlog.CurrentPosition(ctx, r.db, r.facts.flavor)
	if err != nil {
		unlock()
		dropSentry()
		return a.err(serverFault, err)
	}
	if err := r.catchUp(ctx, pos, cutoverCatchUp); err != nil {
		unlock()
		dropSentry()
		if errors.Is(err, errCatchUp) {
			return fmt.Errorf("%w: %w", errRetrySwap, err)
		}
		return a.tableErr(err)
	}
	rep.CatchUp, rep.SourcePosition = time.Since(stopped), pos
	if err := r.closeStream(ctx); err != nil {
		unlock()
		dropSentry()
		return a.err("checkpoint", err)
	}

	// The RENAME waits for the lock; the sentry keeps it from running
	// unless this connection drops it.
	rc, err := r.db.Conn(ctx)
	if err != nil {
		unlock()
		dropSentry()
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	defer conn.Discard(rc)
	var id int64
	if err := rc.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		unlock()
		dropSentry()
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	if _, err := rc.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(renameLockWaits*a.cfg.lockWait.Seconds()))); err != nil {
		unlock()
		dropSentry()
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	renamed := make(chan error, 1)
	go func() {
		_, err := rc.ExecContext(context.WithoutCancel(ctx), a.renameStatement())
		renamed <- err
	}()
	if err := r.awaitRenameWaiting(ctx, id, renamed); err != nil {
		unlock()
		dropSentry()
		return fmt.Errorf("%w: %w", errRetrySwap, err)
	}
	a.at("rename-waiting")
	if _, err := lc.ExecContext(context.WithoutCancel(ctx), "DROP TABLE "+old); err != nil {
		unlock() // the RENAME fails on the sentry
		<-renamed
		dropSentry()
		return fmt.Errorf("%w: dropping the sentry under the lock: %w", errRetrySwap, err)
	}
	unlock()
	err = <-renamed
	rep.Stopped, rep.Released = stopped, time.Now()
	rep.Pause = rep.Released.Sub(stopped)
	if err != nil {
		// The lock is gone and the table untouched: the application writes
		// again, and the next attempt follows the stream anew.
		return fmt.Errorf("%w: RENAME: %w", errRetrySwap, err)
	}
	return nil
}

// awaitRenameWaiting waits until the connection id waits for a metadata
// lock (its RENAME queued behind the cut-over's lock), at most the lock
// wait.
func (r *alterRun) awaitRenameWaiting(ctx context.Context, id int64, renamed <-chan error) error {
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
		case err := <-renamed:
			if err == nil {
				err = errors.New("ran before the lock was released")
			}
			return fmt.Errorf("RENAME: %w", err)
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

// renameStatement is the cut-over's RENAME.
func (a *OnlineAlter) renameStatement() string {
	return "RENAME TABLE " + a.name() + " TO " + schema.QualifiedName(a.database, a.oldName()) + ", " +
		schema.QualifiedName(a.database, a.shadowName()) + " TO " + a.name()
}

// dropSentry drops the sentry a killed cut-over left. Its RENAME may
// still wait in the server for the dead run's lock: the sentry is dropped
// only once no such RENAME is left (it ends on its own within its lock
// wait), as a RENAME run after the drop would swap in a shadow that
// misses the last writes.
func (a *OnlineAlter) dropSentry(ctx context.Context, db *sql.DB) error {
	old := schema.QualifiedName(a.database, a.oldName())
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
			return a.err("table "+old, fmt.Errorf("the RENAME of an interrupted cut-over still waits after %s; the sentry is kept", renameLockWaits*a.cfg.lockWait+5*time.Second))
		}
		a.logger().Info("online alter: waiting for the RENAME of an interrupted cut-over to end", "table", a.name())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+old); err != nil {
		return a.err("table "+old, fmt.Errorf("drop the sentry of an interrupted cut-over: %w", err))
	}
	return nil
}
