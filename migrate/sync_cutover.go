package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/fence"
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
	// ReversePosition is the target's GTID position at the switch, where
	// the reverse sync starts (WithReverseSync; the source stays fenced
	// until its CutBack or End).
	ReversePosition string `json:"reverse_position,omitempty"`
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
// WithMaxLag). Any failure on the way (the drain, the catch-up timeout,
// differences found by verification or tables it could not compare:
// ErrNotVerified, the switch's error, ctx done) restores the source's writes, returns the error and leaves Run
// syncing, so Cutover can be tried again; verification runs at every
// attempt. A crash during the cutover leaves the fence recorded on the
// target, and the next Run restores the source's writes first.
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
	if s.reverseOf != nil {
		// A crash from here on leaves a cut-back the next Run finishes.
		if err := r.recordCutBack(ctx, rep.SourcePosition); err != nil {
			return nil, err
		}
	}
	if s.cfg.switchHook != nil {
		if err := s.cfg.switchHook(ctx); err != nil {
			err = fmt.Errorf("switch: %w", err)
			if s.reverseOf != nil {
				err = errors.Join(err, r.forgetCutBack(context.WithoutCancel(ctx)))
			}
			return nil, err
		}
	}
	r.switched = true
	// The application writes the target from now on: the move must never
	// resume syncing into it.
	var recordErr error
	if err := s.copier.checkpoint.MarkCutOver(context.WithoutCancel(ctx), r.dst, s.copier.cfg.targetDatabase); err != nil {
		recordErr = s.targetErr("database "+s.copier.checkpoint.Database(), fmt.Errorf("recording the cutover (do not run this move again: it would sync into the tables the application now writes): %w", err))
	}
	// Writes queued behind a lock would run on the source once it goes:
	// they fail now, and the application retries them on the target.
	if killed, err := fe.KillBlocked(context.WithoutCancel(ctx)); err != nil {
		s.logger().Error("sync: killing sessions queued behind the cutover's lock", "err", err)
	} else if len(killed) > 0 {
		rep.KilledSessions = len(killed)
	}
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
	p := fe.Pause()
	rep.Released, rep.Pause = p.Released, p.Duration()
	s.logger().Info("sync: cut over", "database", s.database, "pause", rep.Pause, "catch_up", rep.CatchUp, "verify", rep.Verify, "position", rep.SourcePosition)
	return rep, nil
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
// cutover timeout.
func (r *syncRun) awaitPosition(ctx context.Context, position string) error {
	deadline := time.Now().Add(r.s.cfg.cutoverTimeout)
	for {
		ok, err := binlog.PositionContains(r.facts.flavor, r.app.Stats().Position, position)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the target did not apply the source's position %s within %s (it holds %s)", position, r.s.cfg.cutoverTimeout, r.app.Stats().Position)
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
