package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/fence"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// ErrNoReverse: there is no reverse sync to run: the move has not cut
// over WithReverseSync, or its rollback window ended (CutBack or End).
var ErrNoReverse = errors.New("no reverse sync to run")

// ReverseSync is the way back of a move made WithReverseSync, for its
// rollback window: from the cutover on, the application writes the
// target, and Run applies the target's binary log to the source's tables,
// from the target's GTID position read at the switch (under the cutover's
// fence: nothing missed, nothing applied twice), each target transaction
// in one source transaction with its position (stream "reverse.<database>"
// in the source's checkpoint database). The source stays fenced meanwhile
// (the cutover's fence: the application's accounts keep no write
// privilege on the moved tables, or read_only holds), so that only the
// reverse writes it; the forward stream stopped at the cutover and never
// sees those writes.
//
// CutBack, called while Run is in sync, is the cutover in the other
// direction: it fences the target's tables (same method and accounts),
// waits until the source applied everything the target logged, verifies,
// calls the switch back (WithReverseSync), restores the target's writes,
// then the source's. End closes the window without switching back: it
// restores the source's writes and forgets the reverse stream.
//
// Run resumes after a crash from the position saved with the last
// transaction applied, and first restores the target's writes if a
// cut-back crashed with them stopped before its switch back. A cut-back
// records on the source, once it verified and before it calls the switch
// back, that it got there: a Run after a crash from then on finishes it
// (calls the switch back again, restores the target's writes, then the
// source's, closes the window) instead of following the target again.
type ReverseSync struct {
	move   *Sync
	mirror *Sync // the move with source and target swapped
}

// Reverse returns the reverse sync of s, which must have been made
// WithReverseSync; it connects to nothing. It may be built by another
// process than the one that cut over: NewSync with the move's arguments,
// then Reverse.
func (s *Sync) Reverse() (*ReverseSync, error) {
	if !s.cfg.reverse {
		return nil, fmt.Errorf("migrate: sync %s: reverse: %w", s.database, optionError("WithReverseSync", "the move was made without it"))
	}
	c := &Copier{source: s.target, target: s.source, database: s.copier.cfg.targetDatabase, cfg: s.copier.cfg, checkpoint: s.copier.checkpoint}
	c.cfg.targetDatabase = s.database
	cfg := s.cfg
	cfg.reverse, cfg.switchHook, cfg.switchBack = false, s.cfg.switchBack, nil
	// It registers as a replica of the target: an id of its own.
	h := fnv.New32a()
	h.Write([]byte("reverse/" + s.source.Addr + "/" + s.database))
	cfg.serverID = 1<<30 | h.Sum32()>>2
	m := &Sync{source: s.target, target: s.source, database: c.database, copier: c, cfg: cfg, requests: make(chan cutoverRequest), reverseOf: s}
	return &ReverseSync{move: s, mirror: m}, nil
}

// reverseStreamName is the key of the reverse stream's position in the
// source's checkpoint.
func (s *Sync) reverseStreamName() string { return "reverse." + s.database }

// side is the side a role of s is, as the user names it: a reverse sync
// reads the move's target.
func (s *Sync) side(role Side) Side {
	if s.reverseOf == nil {
		return role
	}
	if role == Source {
		return Target
	}
	return Source
}

// Run follows the target's binary log into the source until CutBack
// succeeds, ctx is done or the stream fails (it returns ErrNoReverse when
// there is nothing to follow). After a successful cut-back its Report
// carries the cut-back's report in Cutover; on any other return the
// source stays fenced and a later Run resumes. Progress carries the Phase
// (catching up, in sync, cutting over, verifying) and the lag.
func (rv *ReverseSync) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	return rv.mirror.Run(ctx, progress)
}

// CutBack switches the application back to the source, the cutover with
// the roles swapped (see Sync.Cutover, whose errors it returns): refused
// with ErrNotInSync unless Run is in sync; any failure before the switch
// back restores the target's writes and leaves Run following. After it,
// the application writes the source, the target's writes are restored and
// Run returns, having restored the source's writes and closed the window.
// Its report is the caller's copy; Run's Report.Cutover adds when the
// source took writes again (Released, Pause).
// A crash after the cut-back verified and before Run returned leaves both
// sides fenced and the cut-back recorded: the next Run finishes it, calling
// the switch back again (it must be idempotent), and End refuses.
func (rv *ReverseSync) CutBack(ctx context.Context) (*CutoverReport, error) {
	return rv.mirror.Cutover(ctx)
}

// Phase is the phase of the running (or last) Run.
func (rv *ReverseSync) Phase() Phase { return rv.mirror.Phase() }

// End closes the rollback window without switching back, while Run is not
// running: it restores the target's writes if a cut-back crashed before its
// switch back, restores the source's writes the cutover stopped, and
// forgets the reverse stream (Run refuses from then on; a crash before
// that leaves the window open, and End again closes it). The target stays
// the application's database. It refuses with ErrSwitchPending while a
// cut-back that reached its switch back is recorded: Run finishes that
// one.
func (rv *ReverseSync) End(ctx context.Context) error {
	m := rv.mirror
	if err := m.running.enter(ctx, "reverse sync "+rv.move.database); err != nil {
		return err
	}
	defer m.running.leave()
	t := m.copier.cfg.timeouts
	opts := conn.Options{Timeouts: t, MaxConns: 2, Logger: m.logger()}
	dst, err := openSide(ctx, Target, rv.move.target, opts)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := openSide(ctx, Source, rv.move.source, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	if open, err := rv.move.reverseOpen(ctx, src, dst); err != nil {
		return fmt.Errorf("migrate: reverse sync %s: %w", rv.move.database, err)
	} else if !open {
		return fmt.Errorf("migrate: reverse sync %s: %w: no rollback window is open", rv.move.database, ErrNoReverse)
	}
	store := m.copier.checkpoint
	if mark, err := store.LoadStream(ctx, src, m.switchName()); err != nil {
		return m.targetErr("stream "+m.switchName(), err)
	} else if mark != nil {
		return fmt.Errorf("migrate: reverse sync %s: %w", rv.move.database, errCutBackUnderWay)
	}
	// A cut-back that crashed before its switch back left the target
	// fenced, its journal on the source.
	if _, err := fence.Recover(ctx, dst, fence.Journal{Store: store, DB: src}, m.logger()); err != nil {
		return m.sourceErr(serverFault, fmt.Errorf("restoring the writes a crashed cut-back stopped: %w", err))
	}
	// Released before forgotten: a crash in between leaves the window
	// open, and End again closes it.
	if err := m.releaseSource(ctx, src, dst); err != nil {
		return err
	}
	return m.forgetReverse(ctx, src)
}

// errCutBackUnderWay: End was called while a cut-back that reached the
// switch back is recorded.
var errCutBackUnderWay = fmt.Errorf("%w: a cut-back reached the switch back before its process stopped: Run finishes it (the application may write the source already)", ErrSwitchPending)

// forgetReverse closes the rollback window on the move's source (src):
// the reverse stream and the record of a cut-back go, in one transaction.
func (s *Sync) forgetReverse(ctx context.Context, src *sql.DB) error {
	name := s.move().reverseStreamName()
	tx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return s.targetErr("stream "+name, err)
	}
	defer func() { _ = tx.Rollback() }()
	store := s.copier.checkpoint
	for _, n := range []string{name, s.switchName()} {
		if err := store.DeleteStream(ctx, tx, n); err != nil {
			return s.targetErr("stream "+n, fmt.Errorf("the source's writes are restored, but the rollback window is still recorded (End closes it): %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.targetErr("stream "+name, fmt.Errorf("the source's writes are restored, but the rollback window is still recorded (End closes it): %w", err))
	}
	return nil
}

// completeCutBack ends a cut-back that switched back (finishSwitch):
// it restores the target's writes, then the source's, and closes the
// window.
func (r *syncRun) completeCutBack(ctx context.Context) ([]fence.Pause, error) {
	s := r.s
	pauses, err := fence.Recover(ctx, r.src, fence.Journal{Store: s.copier.checkpoint, DB: r.dst}, s.logger())
	if err != nil {
		return nil, s.sourceErr(serverFault, fmt.Errorf("finishing the cut-back: restoring the target's writes: %w", err))
	}
	if err := s.releaseSource(ctx, r.dst, r.src); err != nil {
		return nil, err
	}
	if err := s.forgetReverse(ctx, r.dst); err != nil {
		return nil, err
	}
	return pauses, nil
}

// move is the move a reverse sync follows back.
func (s *Sync) move() *Sync { return s.reverseOf }

// releaseSource restores the writes to the source that the move's cutover
// left fenced (its journal is on the target).
func (s *Sync) releaseSource(ctx context.Context, src, dst *sql.DB) error {
	pauses, err := fence.Recover(ctx, src, fence.Journal{Store: s.copier.checkpoint, DB: dst}, s.logger())
	if err != nil {
		return s.targetErr(serverFault, fmt.Errorf("the source's writes could NOT be restored (End restores them): %w", err))
	}
	for _, p := range pauses {
		s.logger().Info("reverse sync: the source's writes restored", "database", s.move().database, "fence", p.ID, "stopped", p.Stopped)
	}
	return nil
}

// runReverse is Run of a reverse sync's mirror: r.src is the move's target,
// r.dst its source.
func (r *syncRun) runReverse(ctx context.Context) (err error) {
	s, move := r.s, r.s.move()
	r.report.Executor = "reverse sync"
	// The move's stream stops once its Run returns after the cutover; until
	// then it could read this sync's writes to the source.
	move.mu.Lock()
	moveDone := move.runDone
	move.mu.Unlock()
	if moveDone != nil {
		select {
		case <-moveDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := s.copier.cfg.timeouts
	if r.src, err = openSide(ctx, Target, s.source, conn.Options{Timeouts: t, MaxConns: 8, Logger: s.logger()}); err != nil {
		return err
	}
	defer r.src.Close()
	t.Read = -1 // verification's checksums run long
	if r.dst, err = openSide(ctx, Source, s.target, conn.Options{Timeouts: t, MaxConns: 8, Logger: s.logger()}); err != nil {
		return err
	}
	defer r.dst.Close()

	// A cut-back that crashed left the target fenced, its journal on the
	// source: restore the target's writes first, or, if it got as far as
	// the switch back, finish it.
	store := s.copier.checkpoint
	if err := store.Prepare(ctx, r.dst); err != nil {
		return s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	if finished, err := r.finishSwitch(ctx); err != nil || finished {
		return err
	}
	pauses, err := fence.Recover(ctx, r.src, fence.Journal{Store: store, DB: r.dst}, s.logger())
	if err != nil {
		return s.sourceErr(serverFault, fmt.Errorf("restoring the writes a crashed cut-back stopped: %w", err))
	}
	for _, p := range pauses {
		s.logger().Warn("reverse sync: restored the target's writes after a crashed cut-back", "fence", p.ID, "stopped", p.Stopped)
	}

	name := move.reverseStreamName()
	st, err := store.LoadStream(ctx, r.dst, name)
	if err != nil {
		return s.targetErr("stream "+name, err)
	}
	if st == nil {
		return s.targetErr("stream "+name, fmt.Errorf("%w: the move has not cut over WithReverseSync, or its rollback window ended", ErrNoReverse))
	}
	run, err := store.LoadRun(ctx, r.src, s.database)
	if err != nil {
		return s.sourceErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	if run == nil || run.State != checkpoint.CutOver || run.Source != conn.Endpoint(move.source) || run.SourceDB != move.database {
		return s.sourceErr("database "+schema.QuoteIdent(s.database), fmt.Errorf("%w: the target holds no cut-over move of %s", ErrNoReverse, move.database))
	}
	r.facts = &syncFacts{tables: map[rowchange.Table]rowchange.Table{}, start: st.Position}
	for _, pair := range run.Tables {
		from, to, _ := strings.Cut(pair, "=")
		r.facts.tables[rowchange.Table{Schema: s.database, Name: to}] = rowchange.Table{Schema: move.database, Name: from}
	}
	if r.facts.flavor, err = serverFlavor(ctx, r.src); err != nil {
		return s.sourceErr(serverFault, err)
	}
	if problems := move.checkReverse(ctx, r.dst, r.src, st.Position); len(problems) > 0 {
		return errors.Join(problems...)
	}
	id, err := conn.Identify(ctx, r.src)
	if err != nil {
		return s.sourceErr(serverFault, err)
	}
	r.source = id.String()
	if r.app, err = r.newApplier(name); err != nil {
		return err
	}
	defer r.app.Close()
	if _, err := r.app.Start(ctx); err != nil {
		return s.targetErr("stream "+name, err)
	}
	if r.stream, err = r.newStream(st.Position); err != nil {
		return err
	}
	if err := r.follow(ctx); err != nil || !r.switched {
		return err
	}
	// Switched back: the application writes the source again.
	if err := s.releaseSource(context.WithoutCancel(ctx), r.dst, r.src); err != nil {
		return err
	}
	if err := s.forgetReverse(context.WithoutCancel(ctx), r.dst); err != nil {
		return err
	}
	if c := r.report.Cutover; c != nil {
		// The application's pause lasts until the source takes writes.
		c.Released = time.Now()
		c.Pause = c.Released.Sub(c.Stopped)
	}
	return nil
}

// checkReverse checks, changing nothing, that the move's target can serve
// the reverse sync from start ("": from now on) on src and dst (the move's
// source and target) and that the fence leaves the source writable by the
// reverse: one error per problem, each naming the server and the setting.
func (s *Sync) checkReverse(ctx context.Context, src, dst *sql.DB, start string) []error {
	flavor := ""
	if start == "" {
		var err error
		if flavor, err = serverFlavor(ctx, dst); err != nil {
			return []error{s.targetErr(serverFault, err)}
		}
	}
	_, problems := checkBinlogServer(ctx, dst, s.target, Target, s.copier.cfg.targetDatabase, flavor, start)
	for i, p := range problems {
		problems[i] = fmt.Errorf("reverse sync (WithReverseSync): %w", p)
	}
	if s.cfg.fence == FenceReadOnly {
		problems = append(problems, s.checkReadOnlyReverse(ctx, src, dst)...)
	}
	return problems
}

// errReverseFence: the fence chosen cannot serve a reverse sync.
var errReverseFence = errors.New("FenceReadOnly with WithReverseSync")

// checkReadOnlyReverse checks what a reverse sync needs with
// FenceReadOnly: the target on another server than the source; the source's account writes the source while read_only
// fences it, with a privilege that bypasses read_only on that server (on
// MariaDB 10.11 SUPER no longer does); the target's account sets read_only
// there at the cut-back.
func (s *Sync) checkReadOnlyReverse(ctx context.Context, src, dst *sql.DB) []error {
	var problems []error
	sid, err := conn.Identify(ctx, src)
	if err != nil {
		return []error{s.sourceErr(serverFault, err)}
	}
	if did, err := conn.Identify(ctx, dst); err != nil {
		return []error{s.targetErr(serverFault, err)}
	} else if did == sid {
		problems = append(problems, s.targetErr(serverFault, fmt.Errorf("%w: the target is the source's server (%s): read_only, kept on it for the rollback window, would stop the application's writes to the target too; use WithFence(FenceAccounts, ...)",
			errReverseFence, sid)))
	}
	bypass, err := fence.ReadOnlyBypass(ctx, src)
	if err != nil {
		return []error{s.sourceErr(serverFault, err)}
	}
	privs, err := schema.LoadPrivileges(ctx, src, s.database)
	if err != nil {
		return []error{s.sourceErr(serverFault, err)}
	}
	if !privs.HasAny(bypass...) {
		problems = append(problems, s.sourceErr(serverFault, fmt.Errorf("%w: user %s lacks %s, needed by the reverse sync (WithReverseSync) to write the source while read_only fences it",
			ErrPrivilege, privs.User, strings.Join(bypass, " or "))))
	}
	if privs, err = schema.LoadPrivileges(ctx, dst, s.copier.cfg.targetDatabase); err != nil {
		return append(problems, s.targetErr(serverFault, err))
	}
	if !privs.HasAny("READ_ONLY ADMIN", "SUPER") {
		problems = append(problems, s.targetErr(serverFault, fmt.Errorf("%w: user %s lacks READ_ONLY ADMIN and SUPER, needed by the reverse sync's cut-back (WithReverseSync) to set read_only on the target",
			ErrPrivilege, privs.User)))
	}
	return problems
}

// startReverse saves, under the cutover's fence with the target caught
// up and verified, the target's position as the first of the reverse
// stream on the source, and returns it: every change of the moved tables
// the target logs after it is the application's, after the switch.
func (r *syncRun) startReverse(ctx context.Context) (string, error) {
	s := r.s
	back, err := s.Reverse()
	if err != nil {
		return "", err
	}
	rr := &syncRun{s: back.mirror, src: r.dst, dst: r.src, facts: &syncFacts{tables: map[rowchange.Table]rowchange.Table{}}}
	for from, to := range r.facts.tables {
		rr.facts.tables[to] = from
	}
	if rr.facts.flavor, err = serverFlavor(ctx, r.dst); err != nil {
		return "", s.targetErr(serverFault, err)
	}
	position, err := binlog.CurrentPosition(ctx, r.dst, rr.facts.flavor)
	if err != nil {
		return "", s.targetErr(serverFault, err)
	}
	id, err := conn.Identify(ctx, r.dst)
	if err != nil {
		return "", s.targetErr(serverFault, err)
	}
	rr.source = id.String()
	name := s.reverseStreamName()
	if err := s.copier.checkpoint.Prepare(ctx, r.src); err != nil {
		return "", s.sourceErr("database "+schema.QuoteIdent(s.copier.checkpoint.Database()), err)
	}
	// A new window: no stream or cut-back of an earlier one goes on.
	for _, n := range []string{name, back.mirror.switchName()} {
		if err := s.copier.checkpoint.DeleteStream(ctx, r.src, n); err != nil {
			return "", s.sourceErr("stream "+n, err)
		}
	}
	app, err := rr.newApplier(name)
	if err != nil {
		return "", err
	}
	defer app.Close()
	if err := app.Apply(ctx, rowchange.Txn{Position: position}); err != nil {
		return "", s.sourceErr("stream "+name, err)
	}
	if err := app.Flush(ctx); err != nil {
		return "", s.sourceErr("stream "+name, err)
	}
	return position, nil
}

// reverseStart returns the first position of the reverse stream, which
// the cutover saved on the source (startReverse) before its switch.
func (r *syncRun) reverseStart(ctx context.Context) (string, error) {
	s := r.s
	name := s.reverseStreamName()
	st, err := s.copier.checkpoint.LoadStream(ctx, r.src, name)
	if err != nil {
		return "", s.sourceErr("stream "+name, err)
	}
	if st == nil {
		return "", s.sourceErr("stream "+name, fmt.Errorf("%w: the cutover recorded its switch, but the reverse stream it saved before is not there", ErrNoReverse))
	}
	return st.Position, nil
}

// guardReverse refuses, before it restores fences, a Run of a move whose
// rollback window is open (it cut over WithReverseSync, and neither
// CutBack nor End closed the window): the source's fence belongs to the
// reverse sync, with or without WithReplace.
func (r *syncRun) guardReverse(ctx context.Context) error {
	s := r.s
	open, err := s.reverseOpen(ctx, r.src, r.dst)
	if err != nil || !open {
		return err
	}
	return s.targetErr("database "+schema.QuoteIdent(s.copier.cfg.targetDatabase),
		fmt.Errorf("%w: the application was switched to it and the source stays fenced for the reverse sync: use Reverse (Run, CutBack or End)", ErrCutOver))
}

// reverseOpen says whether the move cut over (recorded on the target dst)
// and its reverse stream is recorded on the source src.
func (s *Sync) reverseOpen(ctx context.Context, src, dst *sql.DB) (bool, error) {
	store := s.copier.checkpoint
	run, err := store.LoadRun(ctx, dst, s.copier.cfg.targetDatabase)
	if err != nil {
		return false, s.targetErr("database "+schema.QuoteIdent(store.Database()), err)
	}
	if run == nil || run.State != checkpoint.CutOver || run.Source != conn.Endpoint(s.source) || run.SourceDB != s.database {
		return false, nil
	}
	st, err := store.LoadStream(ctx, src, s.reverseStreamName())
	if err != nil {
		return false, s.sourceErr("stream "+s.reverseStreamName(), err)
	}
	return st != nil, nil
}

// keepSourceFenced ends a cutover made WithReverseSync: the source's fence
// stays (recorded on the target) until the reverse sync's CutBack or End;
// the application's pause ended with the switch.
func (r *syncRun) keepSourceFenced(rep *CutoverReport, fe *fence.Fence) *CutoverReport {
	rep.Released = time.Now()
	rep.Pause = rep.Released.Sub(rep.Stopped)
	r.s.logger().Info("sync: cut over, the source stays fenced for the reverse sync", "database", r.s.database, "fence", fe.Pause().ID,
		"pause", rep.Pause, "position", rep.SourcePosition, "reverse_position", rep.ReversePosition)
	return rep
}
