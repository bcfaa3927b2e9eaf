package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/fence"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
)

// CutoverReport is what a successful cutover did.
type CutoverReport struct {
	// Method is how writes were stopped on the source (FenceMethod).
	Method string `json:"method"`
	// Stopped and Released bound the write pause on the source; Pause is
	// their difference, as measured.
	Stopped  time.Time     `json:"stopped"`
	Released time.Time     `json:"released"`
	Pause    time.Duration `json:"pause"`
	// CatchUp is how long the target took, writes stopped, to apply what
	// the source had logged; Verify how long the verification took.
	CatchUp time.Duration `json:"catch_up"`
	Verify  time.Duration `json:"verify"`
	// VerifyPause is an OnlineAlter's longest write pause for its
	// verification: LOCK TABLES ... READ on the table, from the lock's
	// request to its release, while the shadow caught up and verify's
	// snapshots opened (Pause is the swap's, from its LOCK TABLES ...
	// WRITE request to the RENAME's end). LongestPause is the longest
	// write pause any of its locks imposed, failed attempts included.
	VerifyPause  time.Duration `json:"verify_pause,omitempty"`
	LongestPause time.Duration `json:"longest_pause,omitempty"`
	// SourcePosition is the source's GTID position once writes stopped;
	// the target holds everything up to it.
	SourcePosition string `json:"source_position"`
	// VerifiedTables and VerifiedRows count what verification compared
	// (it found no difference, or the cutover would have failed).
	VerifiedTables int   `json:"verified_tables"`
	VerifiedRows   int64 `json:"verified_rows"`
	// KilledSessions counts the source sessions whose writes were queued
	// behind the lock at the switch (FenceFlushTables): they were killed,
	// so that their writes fail rather than run on the source afterwards.
	KilledSessions int `json:"killed_sessions,omitempty"`
	// DrainKilled counts the sessions of the fenced accounts that the
	// drain killed (WithDrainWait(d, true)) because they still ran a
	// statement or held a transaction when its wait ended: their
	// uncommitted writes were rolled back. DrainKilledAccounts are their
	// users, sorted, each once.
	DrainKilled         int      `json:"drain_killed,omitempty"`
	DrainKilledAccounts []string `json:"drain_killed_accounts,omitempty"`
	// ReversePosition is the target's GTID position at the switch, where
	// the reverse sync starts (WithReverseSync; the source stays fenced
	// until its CutBack or End).
	ReversePosition string `json:"reverse_position,omitempty"`
	// UnappliedChanges counts the row changes to the moved tables that
	// the source took after a crashed FenceFlushTables cutover lost its
	// lock, logged from SourcePosition to UnappliedUntil, when a Run
	// finished the cutover WithPendingSwitch(PendingSwitchFinish), or
	// found it recorded done by a process that died before releasing the
	// lock (this report's Pause is then unknown: 0): they are not on the
	// target.
	UnappliedChanges int64  `json:"unapplied_changes,omitempty"`
	UnappliedUntil   string `json:"unapplied_until,omitempty"`
}

// cutoverRequest is a Cutover call handed to Run.
type cutoverRequest struct {
	ctx   context.Context
	reply chan cutoverResult
}

type cutoverResult struct {
	report *CutoverReport
	err    error
}

// Cutover moves the application to the target, the seed's manual steps in
// one call, made by the host (or a ticket's approval) while Run is in
// sync: it stops writes to the moved tables on the source (WithFence),
// waits until the target applied everything the source logged, verifies
// every moved table, calls the switch (WithSwitch) and restores the
// source's writes (WithReverseSync: saves the target's position for the
// reverse sync before the switch, and keeps the source's writes stopped
// after it, until the reverse sync's CutBack or End). Run then returns its
// report with this cutover's.
//
// It is refused with ErrNotInSync unless Run is in sync (lag under
// WithMaxLag). Any failure on the way (the drain, the catch-up timeout:
// ErrCatchUpTimeout,
// differences found by verification or tables it could not compare:
// ErrNotVerified, the switch's error, ctx done) restores the source's writes, returns the error and leaves Run
// syncing, so Cutover can be tried again; verification runs at every
// attempt. A crash during the cutover leaves the fence recorded on the
// target, and the next Run restores the source's writes first; but once
// verification passed, the cutover records on the target, the source
// still fenced, that it calls the switch (the application may write the
// target from then on), and a Run after a crash from there finishes the
// cutover instead: it calls the switch again (WithSwitch: it must be
// idempotent), records the cutover, then restores the source's writes,
// and never syncs into the target again (FenceFlushTables, whose lock
// ended with the crash: only if the source took no change to the moved
// tables since, else as WithPendingSwitch says). When the switch fails and that
// record cannot be removed, or the cutover cannot be recorded done after
// the switch, Cutover returns ErrSwitchPending: the source's writes stay
// stopped, Run returns and the next Run finishes the cutover.
func (s *Sync) Cutover(ctx context.Context) (*CutoverReport, error) {
	req := cutoverRequest{ctx: ctx, reply: make(chan cutoverResult, 1)}
	s.mu.Lock()
	phase, runDone := s.phase, s.runDone
	s.mu.Unlock()
	if !s.running.busy() || runDone == nil {
		return nil, fmt.Errorf("migrate: sync %s: cutover: %w: not running", s.database, ErrNotInSync)
	}
	if phase != PhaseInSync {
		return nil, fmt.Errorf("migrate: sync %s: cutover: %w: %s", s.database, ErrNotInSync, phase)
	}
	select {
	case s.requests <- req:
	case <-runDone:
		return nil, fmt.Errorf("migrate: sync %s: cutover: %w: Run returned", s.database, ErrNotInSync)
	case <-ctx.Done():
		return nil, fmt.Errorf("migrate: sync %s: cutover: %w", s.database, ctx.Err())
	}
	res := <-req.reply
	if res.err != nil {
		return nil, fmt.Errorf("migrate: sync %s: cutover: %w", s.database, res.err)
	}
	return res.report, nil
}

// cutover runs one cutover attempt, on Run's goroutine while the stream
// goes on applying. It is bounded by both Run's and the caller's contexts.
func (r *syncRun) cutover(runCtx, callerCtx context.Context) (rep *CutoverReport, err error) {
	s := r.s
	if p := s.Phase(); p != PhaseInSync {
		return nil, fmt.Errorf("%w: %s, lag %s (at most %s)", ErrNotInSync, p, r.lag.lag.Round(time.Millisecond), s.cfg.maxLag)
	}
	ctx, cancel := context.WithCancel(runCtx)
	defer cancel()
	stopWatch := context.AfterFunc(callerCtx, cancel)
	defer stopWatch()

	s.setPhase(PhaseCuttingOver)
	defer func() {
		if err != nil {
			s.setPhase(PhaseInSync)
		}
	}()
	if s.cfg.reverse {
		if problems := s.checkReverse(ctx, r.src, r.dst, ""); len(problems) > 0 {
			return nil, errors.Join(problems...)
		}
	}
	fe, err := r.stopWrites(ctx)
	if err != nil {
		return nil, err
	}
	released := false
	defer func() {
		if released {
			return
		}
		if rerr := fe.Release(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("the source's writes could NOT be restored (fence %s, recorded on the target; the next Run restores them): %w", fe.Pause().ID, rerr))
			return
		}
		s.logger().Info("sync: cutover abandoned, the source's writes restored", "database", s.database, "pause", fe.Pause().Duration())
	}()
	rep = &CutoverReport{Method: s.cfg.fence.String(), Stopped: fe.Pause().Stopped}
	rep.noteDrainKilled(fe.Killed())

	// The target must hold everything the source logged once writes
	// stopped.
	begin := time.Now()
	if rep.SourcePosition, err = binlog.CurrentPosition(ctx, r.src, r.facts.flavor); err != nil {
		return nil, s.sourceErr(serverFault, err)
	}
	if err := r.awaitPosition(ctx, rep.SourcePosition); err != nil {
		return nil, err
	}
	rep.CatchUp = time.Since(begin)

	s.setPhase(PhaseVerifying)
	begin = time.Now()
	vr, err := r.verify(ctx)
	rep.Verify = time.Since(begin)
	if err != nil {
		return nil, err
	}
	rep.VerifiedTables, rep.VerifiedRows = len(vr.Tables), vr.Rows()

	if s.cfg.reverse {
		if rep.ReversePosition, err = r.startReverse(ctx); err != nil {
			return nil, err
		}
	}
	// A crash from here on leaves a cutover the next Run finishes.
	if err := r.recordSwitch(ctx, rep.SourcePosition); err != nil {
		return nil, err
	}
	if s.cfg.switchHook != nil {
		if err := s.cfg.switchHook(ctx); err != nil {
			err = fmt.Errorf("switch: %w", err)
			if ferr := r.forgetSwitch(context.WithoutCancel(ctx)); ferr != nil {
				// The record stays: the writes stay stopped, and Run
				// ends; the next one finishes the cutover.
				released, r.switched = true, true
				return nil, fmt.Errorf("%w: %w", ErrSwitchPending, errors.Join(err, ferr))
			}
			return nil, err
		}
	}
	r.switched = true
	// Writes queued behind a lock would run on the source once it goes:
	// they fail now, and the application retries them on the target.
	rep.KilledSessions = r.killQueued(context.WithoutCancel(ctx), fe)
	// The application writes the target from now on: the move must never
	// resume syncing into it.
	recordErr := r.markCutOver(context.WithoutCancel(ctx), r.unreleasedAt(rep.SourcePosition))
	s.at("cutover-recorded")
	rep.KilledSessions += r.killQueued(context.WithoutCancel(ctx), fe) // queued since
	if s.cfg.reverse {
		released = true // the reverse sync's CutBack or End releases it
		return r.keepSourceFenced(rep, fe), recordErr
	}
	if err := fe.Release(context.WithoutCancel(ctx)); err != nil {
		released = true // Release reported it; Recover restores it later
		return nil, fmt.Errorf("the application was switched, but the source's writes could NOT be restored (fence %s, recorded on the target; the next Run restores them): %w", fe.Pause().ID, err)
	}
	released = true
	if recordErr != nil {
		return nil, recordErr
	}
	r.forgetUnreleased(context.WithoutCancel(ctx))
	p := fe.Pause()
	rep.Released, rep.Pause = p.Released, p.Duration()
	s.logger().Info("sync: cut over", "database", s.database, "pause", rep.Pause, "catch_up", rep.CatchUp, "verify", rep.Verify, "position", rep.SourcePosition)
	return rep, nil
}

// noteDrainKilled counts in rep the sessions the drain killed.
func (rep *CutoverReport) noteDrainKilled(killed []fence.Session) {
	rep.DrainKilled = len(killed)
	for _, k := range killed {
		if !slices.Contains(rep.DrainKilledAccounts, k.User) {
			rep.DrainKilledAccounts = append(rep.DrainKilledAccounts, k.User)
		}
	}
	slices.Sort(rep.DrainKilledAccounts)
}

// at calls the test hook, if set (SetSyncHook), at the named point.
func (s *Sync) at(point string) {
	if s.hook != nil {
		s.hook(point)
	}
}

// stopWrites fences the moved tables on the source.
func (r *syncRun) stopWrites(ctx context.Context) (*fence.Fence, error) {
	s := r.s
	tables := make([]fence.Table, 0, len(r.facts.tables))
	for src := range r.facts.tables {
		tables = append(tables, fence.Table{Database: src.Schema, Name: src.Name})
	}
	opts := []fence.Option{
		fence.WithJournal(fence.Journal{Store: s.copier.checkpoint, DB: r.dst}),
		fence.WithDrainTimeout(s.cfg.drainWait), fence.WithLogger(s.logger()),
	}
	if len(s.cfg.accounts) > 0 {
		opts = append(opts, fence.WithAccounts(s.cfg.accounts...))
	}
	if s.cfg.kill {
		opts = append(opts, fence.WithKill())
	}
	f, err := fence.New(r.src, s.cfg.fence.fenceMethod(), tables, opts...)
	if err != nil {
		return nil, err
	}
	fe, err := f.Stop(ctx)
	if err != nil {
		return nil, s.sourceErr(serverFault, fmt.Errorf("stopping writes: %w", err))
	}
	return fe, nil
}

// awaitPosition waits until the applier holds position, within the
// cutover timeout. Writes are stopped meanwhile: the stream hands over
// every position it reads (binlog.Stream.Hurry), not one a second.
func (r *syncRun) awaitPosition(ctx context.Context, position string) error {
	deadline := time.Now().Add(r.s.cfg.cutoverTimeout)
	defer r.stream.Hurry()()
	for {
		ok, err := binlog.PositionContains(r.facts.flavor, r.app.Stats().Position, position)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: it did not apply the source's position %s within %s (it holds %s)", ErrCatchUpTimeout, position, r.s.cfg.cutoverTimeout, r.app.Stats().Position)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.streamDone:
			return fmt.Errorf("%w: %w", errStreamStopped, r.streamErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// verify compares every moved table, both sides quiet: writes stopped on
// the source, the target caught up.
func (r *syncRun) verify(ctx context.Context) (*verify.Report, error) {
	s := r.s
	v, err := verify.New(r.src, r.dst, verify.WithLogger(s.logger()), verify.WithSnapshot(verify.SnapshotQuiesced))
	if err != nil {
		return nil, err
	}
	pairs := make([]verify.TablePair, 0, len(r.facts.tables))
	for src, dst := range r.facts.tables {
		pairs = append(pairs, verify.TablePair{SourceDatabase: src.Schema, SourceTable: src.Name, TargetDatabase: dst.Schema, TargetTable: dst.Name})
	}
	rep, err := v.Verify(ctx, pairs...)
	if err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	if !rep.Clean() {
		return rep, fmt.Errorf("%w: %d difference(s) in %d table(s) (and %d table(s) unverified)", ErrNotVerified, rep.Differences(), len(rep.Tables), len(rep.Unverified))
	}
	return rep, nil
}

// The switch record: a cutover (and a reverse sync's cut-back, the
// cutover with the roles swapped) records in the checkpoint on its target
// (r.dst), once verification passed and with the source still fenced,
// that it calls the switch. From then on the application may write the
// target, and a crash leaves a cutover that the next Run finishes
// (finishSwitch) instead of one that syncs the source into the target
// again and restores the source's writes as if nothing happened.

// switchName is the key of the switch record: a stream whose position is
// the source's at which verification passed.
func (s *Sync) switchName() string {
	if s.reverseOf != nil {
		return s.move().reverseStreamName() + ".cutback"
	}
	return s.streamName() + ".switch"
}

// recordSwitch records, before the switch, that the cutover verified the
// target equal at the source's position.
func (r *syncRun) recordSwitch(ctx context.Context, position string) error {
	s := r.s
	store, name := s.copier.checkpoint, s.switchName()
	if err := store.DeleteStream(ctx, r.dst, name); err != nil {
		return s.targetErr("stream "+name, err)
	}
	if err := store.SaveStream(ctx, r.dst, name, checkpoint.Stream{Source: r.source, Position: position, Version: 1}); err != nil {
		return s.targetErr("stream "+name, err)
	}
	return nil
}

// forgetSwitch removes the record of a cutover whose switch failed.
func (r *syncRun) forgetSwitch(ctx context.Context) error {
	s := r.s
	if err := s.copier.checkpoint.DeleteStream(ctx, r.dst, s.switchName()); err != nil {
		return s.targetErr("stream "+s.switchName(), fmt.Errorf("the switch failed, but it is still recorded: the writes stay stopped, and the next Run calls the switch again and finishes the cutover: %w", err))
	}
	return nil
}

// markCutOver records on the target that the application was switched to
// it: the move neither resumes nor syncs into it again (ErrCutOver). A
// cutover forgets its switch record in the same transaction; a cut-back
// keeps its own until the window is closed (forgetReverse). unreleased,
// when not "", is the position the target was verified equal at, recorded
// in the same transaction until the lock of a FenceFlushTables cutover is
// released (forgetUnreleased): a Run after a crash in between counts the
// source's changes since (finishUnreleased).
func (r *syncRun) markCutOver(ctx context.Context, unreleased string) error {
	s := r.s
	store := s.copier.checkpoint
	fail := func(err error) error {
		return s.targetErr("database "+schema.QuoteIdent(store.Database()), fmt.Errorf("%w: recording the cutover (the switch stays recorded: the next Run calls it again and records the cutover, it never syncs into the target again): %w", ErrSwitchPending, err))
	}
	tx, err := r.dst.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := store.MarkCutOver(ctx, tx, s.copier.cfg.targetDatabase); err != nil {
		return fail(err)
	}
	if s.reverseOf == nil {
		if err := store.DeleteStream(ctx, tx, s.switchName()); err != nil {
			return fail(err)
		}
	}
	if unreleased != "" {
		if err := store.SaveStream(ctx, tx, s.unreleasedName(), checkpoint.Stream{Source: r.source, Position: unreleased, Version: 1}); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// finishSwitch finishes, when its record is there, a cutover whose process
// stopped after it recorded the switch (recordSwitch): verification had
// passed and the source has been fenced since (a lock excepted: it ended
// with its session), so it applies nothing to the target. It calls the
// switch again (it may not have run, or not to its end), then a cutover
// records itself done (markCutOver) and restores the source's writes
// (WithReverseSync: they stay stopped for the reverse sync), and a
// cut-back restores the target's writes, then the source's, and closes
// the window (completeCutBack). Each step does nothing when done already,
// so a crash in the middle is finished by the next Run; when the switch
// fails, the record stays. It reports whether it found one.
func (r *syncRun) finishSwitch(ctx context.Context) (bool, error) {
	s := r.s
	store, name := s.copier.checkpoint, s.switchName()
	mark, err := store.LoadStream(ctx, r.dst, name)
	if err != nil {
		return false, s.targetErr("stream "+name, err)
	}
	if mark == nil {
		if s.reverseOf != nil {
			return false, nil
		}
		return r.finishUnreleased(ctx)
	}
	s.setPhase(PhaseCuttingOver)
	what, database := "cutover", s.database
	if s.reverseOf != nil {
		what, database = "cut-back", s.move().database
	}
	s.logger().Warn("sync: finishing a "+what+" that stopped at its switch", "database", database, "position", mark.Position, "recorded", mark.Updated)
	rep := &CutoverReport{Method: s.cfg.fence.String(), SourcePosition: mark.Position}
	if s.reverseOf == nil && s.cfg.reverse {
		// The reverse stream saved at the cutover has not moved: its Run
		// waits for the cutover to be recorded.
		if rep.ReversePosition, err = r.reverseStart(ctx); err != nil {
			return true, err
		}
	}
	if s.reverseOf == nil && s.cfg.fence == FenceFlushTables {
		return r.finishLockLost(ctx, mark.Position, rep)
	}
	if err := r.callSwitch(ctx, what, mark.Position); err != nil {
		return true, err
	}
	ctx = context.WithoutCancel(ctx)
	var pauses []fence.Pause
	if s.reverseOf != nil {
		pauses, err = r.completeCutBack(ctx)
	} else {
		pauses, err = r.completeCutover(ctx)
	}
	if err != nil {
		return true, err
	}
	rep.Released = time.Now()
	if len(pauses) > 0 && !pauses[0].Stopped.IsZero() {
		rep.Stopped = pauses[0].Stopped
		rep.Pause = rep.Released.Sub(rep.Stopped)
	}
	r.report.Cutover = rep
	s.logger().Info("sync: "+what+" finished", "database", database, "position", mark.Position)
	return true, nil
}

// callSwitch calls the host's switch to finish a recorded cutover (what:
// "cutover" or "cut-back") verified at position.
func (r *syncRun) callSwitch(ctx context.Context, what, position string) error {
	if hook := r.s.cfg.switchHook; hook != nil {
		if err := hook(ctx); err != nil {
			return fmt.Errorf("%w: finishing the %s: %w", ErrSwitchPending, what, r.switchStuck(position, err))
		}
	}
	return nil
}

// finishLockLost finishes a cutover recorded at its switch whose fence was
// a lock (FenceFlushTables), ended with the process that crashed: the
// source took writes since, those queued behind the lock first. It takes
// the lock again and reads the source's binary log from position (where
// the target was verified equal) to the source's position now. Without a
// change to the moved tables there, nothing is lost: it calls the switch,
// records the cutover, kills the sessions queued behind the lock and
// releases it. With some, they are not on the target and whether the
// switch ran is unknown: it does what WithPendingSwitch says, by default
// releases the lock and fails with ErrSwitchPending, the record kept. It
// reports whether Run has nothing more to do (false: the cutover was
// abandoned, the sync resumes).
func (r *syncRun) finishLockLost(ctx context.Context, position string, rep *CutoverReport) (finished bool, err error) {
	s := r.s
	if err := r.loadMovedTables(ctx); err != nil {
		return true, err
	}
	// The crashed process's lock went with its session: close its record.
	if _, err := fence.Recover(ctx, r.src, fence.Journal{Store: s.copier.checkpoint, DB: r.dst}, s.logger()); err != nil {
		return true, s.sourceErr(serverFault, fmt.Errorf("closing the lock of the crashed cutover: %w", err))
	}
	fe, err := r.stopWrites(ctx)
	if err != nil {
		return true, err
	}
	released := false
	defer func() {
		if !released {
			if rerr := fe.Release(context.WithoutCancel(ctx)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("the source's lock could NOT be released: %w", rerr))
			}
		}
	}()
	now, err := binlog.CurrentPosition(ctx, r.src, r.facts.flavor)
	if err != nil {
		return true, s.sourceErr(serverFault, err)
	}
	changes, err := r.changesSince(ctx, position, now)
	if err != nil {
		return true, err
	}
	if changes > 0 {
		lost := fmt.Sprintf("the source took %d row change(s) to the moved tables after the cutover's lock ended with the process that held it (logged from %s, where the target was verified equal, to %s): they are not on the target", changes, position, now)
		switch s.cfg.pendingSwitch {
		case PendingSwitchAbandon:
			if err := r.forgetSwitch(ctx); err != nil {
				return true, err
			}
			s.logger().Warn("sync: cutover abandoned (WithPendingSwitch): the sync resumes and applies the source's changes", "database", s.database, "changes", changes, "from", position, "to", now)
			return false, nil
		case PendingSwitchFinish:
			rep.UnappliedChanges, rep.UnappliedUntil = changes, now
			s.logger().Warn("sync: finishing the cutover without the source's changes (WithPendingSwitch): reconcile them by hand", "database", s.database, "changes", changes, "from", position, "to", now)
		default:
			return true, s.sourceErr(serverFault, fmt.Errorf("%w: %s; whether the switch ran before the crash is unknown, and the cutover stays recorded, so nothing is synced into the target: if the application never wrote the target, Run WithPendingSwitch(PendingSwitchAbandon) resumes the sync, which applies them; if it was switched, WithPendingSwitch(PendingSwitchFinish) finishes the cutover without them", ErrSwitchPending, lost))
		}
	}
	rep.Stopped = fe.Pause().Stopped
	if err := r.callSwitch(ctx, "cutover", position); err != nil {
		return true, err
	}
	ctx = context.WithoutCancel(ctx)
	rep.KilledSessions = r.killQueued(ctx, fe)
	if err := r.markCutOver(ctx, position); err != nil {
		return true, err
	}
	rep.KilledSessions += r.killQueued(ctx, fe)
	released = true
	if err := fe.Release(ctx); err != nil {
		return true, s.sourceErr(serverFault, fmt.Errorf("the cutover is finished and recorded: %w", err))
	}
	r.forgetUnreleased(ctx)
	p := fe.Pause()
	rep.Released, rep.Pause = p.Released, p.Duration()
	r.report.Cutover = rep
	s.logger().Info("sync: cutover finished", "database", s.database, "position", position, "pause", rep.Pause)
	return true, nil
}

// killQueued kills the sessions whose writes wait behind fe's lock
// (FenceFlushTables; none for the other fences) and returns how many.
func (r *syncRun) killQueued(ctx context.Context, fe *fence.Fence) int {
	killed, err := fe.KillBlocked(ctx)
	if err != nil {
		r.s.logger().Error("sync: killing sessions queued behind the cutover's lock", "database", r.s.database, "err", err)
		return 0
	}
	return len(killed)
}

// unreleasedName is the key of the record of a FenceFlushTables cutover
// recorded done whose lock is not released yet.
func (s *Sync) unreleasedName() string { return s.streamName() + ".unreleased" }

// unreleasedAt is what markCutOver records until the cutover's lock is
// released: position for a FenceFlushTables cutover, else nothing.
func (r *syncRun) unreleasedAt(position string) string {
	if r.s.cfg.fence != FenceFlushTables || r.s.reverseOf != nil {
		return ""
	}
	return position
}

// forgetUnreleased removes the record of a cutover recorded done once its
// lock is released. A record left behind is harmless: finishUnreleased
// finds the lock's fence released and removes it.
func (r *syncRun) forgetUnreleased(ctx context.Context) {
	s := r.s
	if s.cfg.fence != FenceFlushTables {
		return
	}
	if err := s.copier.checkpoint.DeleteStream(ctx, r.dst, s.unreleasedName()); err != nil {
		s.logger().Warn("sync: the cutover is finished, but its record could not be removed (the next Run removes it)", "database", s.database, "err", s.targetErr("stream "+s.unreleasedName(), err))
	}
}

// finishUnreleased handles, when its record is there, a FenceFlushTables
// cutover recorded done whose process died before it released its lock
// (markCutOver): the lock ended with the process, and writes queued
// behind it since the cutover last killed them ran on the source. It
// counts the source's changes to the moved tables from the position the
// target was verified equal at to the source's position now, closes the
// lock's record, reports the changes (CutoverReport.UnappliedChanges, a
// warning in the log: they are not on the target) and removes the
// record; Run then returns that report. A record whose lock was released
// (the process died just after) is removed, and Run goes on to say
// ErrCutOver. It reports whether it found such a cutover.
func (r *syncRun) finishUnreleased(ctx context.Context) (bool, error) {
	s := r.s
	store, name := s.copier.checkpoint, s.unreleasedName()
	mark, err := store.LoadStream(ctx, r.dst, name)
	if err != nil {
		return false, s.targetErr("stream "+name, err)
	}
	if mark == nil {
		return false, nil
	}
	// Counted before the lock's record is closed, so that a Run that
	// fails here leaves the next one the same question.
	if err := r.loadMovedTables(ctx); err != nil {
		return true, err
	}
	now, err := binlog.CurrentPosition(ctx, r.src, r.facts.flavor)
	if err != nil {
		return true, s.sourceErr(serverFault, err)
	}
	changes, err := r.changesSince(ctx, mark.Position, now)
	if err != nil {
		return true, err
	}
	pauses, err := fence.Recover(ctx, r.src, fence.Journal{Store: store, DB: r.dst}, s.logger())
	if err != nil {
		return true, s.sourceErr(serverFault, fmt.Errorf("closing the lock of the crashed cutover: %w", err))
	}
	if len(pauses) == 0 {
		// The lock was released before the crash: the changes counted
		// came after it, from the source's own users.
		r.forgetUnreleased(ctx)
		return false, nil
	}
	rep := &CutoverReport{Method: s.cfg.fence.String(), SourcePosition: mark.Position, Stopped: pauses[0].Stopped}
	if changes > 0 {
		rep.UnappliedChanges, rep.UnappliedUntil = changes, now
		s.logger().Warn("sync: the cutover was recorded done, but its process died holding the lock: the source took row changes to the moved tables once the lock ended, which are not on the target: reconcile them by hand",
			"database", s.database, "changes", changes, "from", mark.Position, "to", now)
	} else {
		s.logger().Info("sync: the cutover was recorded done and its process died holding the lock; the source took no change to the moved tables since", "database", s.database, "position", mark.Position)
	}
	r.forgetUnreleased(context.WithoutCancel(ctx))
	r.report.Cutover = rep
	return true, nil
}

// loadMovedTables fills r.facts, before the dry run, with the moved tables
// the copy recorded on the target and the source's flavor.
func (r *syncRun) loadMovedTables(ctx context.Context) error {
	s := r.s
	store := s.copier.checkpoint
	run, err := store.LoadRun(ctx, r.dst, s.copier.cfg.targetDatabase)
	if err != nil {
		return s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	if run == nil {
		return s.targetErr("database "+schema.QuoteIdent(store.Database()), fmt.Errorf("%w: a cutover is recorded, but not the copy of %s", ErrNotFound, s.database))
	}
	r.facts = &syncFacts{tables: map[rowchange.Table]rowchange.Table{}}
	for _, pair := range run.Tables {
		from, to, _ := strings.Cut(pair, "=")
		r.facts.tables[rowchange.Table{Schema: s.database, Name: from}] = rowchange.Table{Schema: s.copier.cfg.targetDatabase, Name: to}
	}
	if r.facts.flavor, err = serverFlavor(ctx, r.src); err != nil {
		return s.sourceErr(serverFault, err)
	}
	return nil
}

// changesSince counts the row changes to the moved tables that the
// source logged after position from, up to position to (a schema change
// of one counts as one), reading them within the cutover timeout.
func (r *syncRun) changesSince(ctx context.Context, from, to string) (int64, error) {
	if none, err := binlog.PositionContains(r.facts.flavor, from, to); err != nil || none {
		return 0, err
	}
	stream, err := r.newStream(from)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.cfg.cutoverTimeout)
	defer cancel()
	sink := &changeCounter{}
	if _, err := r.applyUntil(ctx, stream, sink, sink.position, to); err != nil {
		if errors.Is(err, binlog.ErrDDL) {
			return sink.count() + 1, nil
		}
		return 0, r.binlogErr("reading the source's changes since the cutover verified", err)
	}
	return sink.count(), nil
}

// changeCounter is a sink that counts row changes.
type changeCounter struct {
	mu      sync.Mutex
	changes int64
	at      string
}

func (c *changeCounter) Apply(ctx context.Context, tx rowchange.Txn) error {
	var n int64
	if err := rowchange.Each(ctx, tx.Changes, func(batch []rowchange.Change) error {
		n += int64(len(batch))
		return nil
	}); err != nil {
		return err
	}
	if tx.DDL != nil {
		n++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes += n
	c.at = tx.Position
	return nil
}

func (c *changeCounter) position() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *changeCounter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changes
}

// switchStuck is the error of a switch that failed when finishing a
// recorded cutover: what state both sides are in, what the operator does.
func (r *syncRun) switchStuck(position string, err error) error {
	s := r.s
	if s.reverseOf != nil {
		return fmt.Errorf("switch back: %w (the source holds every change of the target up to %s, verified equal; the source and the target stay fenced, the cut-back recorded: make the switch back work and Run again, which calls it again and finishes the cut-back)", err, position)
	}
	fenced := "the source's writes to the moved tables stay stopped"
	if s.cfg.fence == FenceFlushTables {
		fenced = "the source's lock is released: its writes to the moved tables from now on are not on the target, and the next Run, finding them, finishes only WithPendingSwitch"
	}
	return fmt.Errorf("switch: %w (the target holds every change of the source up to %s, verified equal, and the application may write it already; %s; the cutover stays recorded, so nothing is synced into the target any more: make the switch work and Run again, which calls it again, records the cutover and restores the source's writes)", err, position, fenced)
}

// completeCutover records a finished cutover done, then restores the
// source's writes, unless the reverse sync keeps them stopped.
func (r *syncRun) completeCutover(ctx context.Context) ([]fence.Pause, error) {
	s := r.s
	if err := r.markCutOver(ctx, ""); err != nil {
		return nil, err
	}
	if s.cfg.reverse {
		return nil, nil // the reverse sync's CutBack or End releases it
	}
	pauses, err := fence.Recover(ctx, r.src, fence.Journal{Store: s.copier.checkpoint, DB: r.dst}, s.logger())
	if err != nil {
		return nil, s.sourceErr(serverFault, fmt.Errorf("the cutover is finished and recorded, but the source's writes could NOT be restored (the next Run restores them): %w", err))
	}
	return pauses, nil
}
