package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/fence"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// syncRun is one Run of a Sync.
type syncRun struct {
	s        *Sync
	progress ProgressFunc
	report   *Report
	facts    *syncFacts
	src, dst *sql.DB
	app      *apply.Applier
	stream   *binlog.Stream
	// streamDone is closed when the stream's Run into sink returned
	// streamErr; stopStream ends it and waits (startStream).
	streamDone chan struct{}
	streamErr  error
	stopStream func()
	sink       *targetSink
	copied     int64  // rows of the copy
	source     string // the source server's identity, saved with the stream
	// switched is set once the host's switch returned (the application
	// writes the target), or once its record could not be removed after
	// it failed (the next Run finishes the cutover): Run must end.
	switched bool
	// finishedSwitch is set once start found a cutover recorded at its
	// switch and went to finish it: Run does nothing else.
	finishedSwitch bool
	lag            lagMeter
}

// Run copies the tables (or resumes the copy), then applies the source's
// binary log to the target until Cutover succeeds, ctx is done or the
// stream fails (a target away for longer than WithTargetWait, in any
// phase, fails it with ErrConnect naming the target; a source away for
// longer than WithSourceWait, at Run's start, during the copy or later,
// the same naming the source). It returns after a successful cutover
// with the report of it in Report.Cutover. A cutover whose process stopped after it verified and
// recorded its switch (see Cutover) is finished first, nothing applied:
// Run calls the switch again, records the cutover, restores the source's
// writes and returns with its Report.Cutover (a later Run returns
// ErrCutOver); when the switch fails again, Run returns its error, which
// wraps ErrSwitchPending, with the source's writes still stopped. On any other return the source's
// writes are not fenced and a later Run resumes. Progress carries the
// Phase and the lag.
func (s *Sync) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := s.running.enter(ctx, "sync "+s.database); err != nil {
		return nil, err
	}
	defer s.running.leave()
	runDone := make(chan struct{})
	s.mu.Lock()
	s.runDone = runDone
	s.mu.Unlock()
	defer close(runDone)
	r := &syncRun{s: s, progress: progress, report: &Report{Scope: s.scope(), Started: time.Now()}}
	err := r.run(ctx)
	r.report.Duration = time.Since(r.report.Started)
	if err != nil {
		s.setPhase(PhaseFailed)
		s.logger().Error("sync failed", "database", s.database, "err", err)
		return r.report, fmt.Errorf("migrate: sync %s: %w", s.database, err)
	}
	s.setPhase(PhaseDone)
	r.emit()
	return r.report, nil
}

func (s *Sync) setPhase(p Phase) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// Phase is the phase of the running (or last) Run.
func (s *Sync) Phase() Phase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase
}

func (r *syncRun) run(ctx context.Context) (err error) {
	s := r.s
	if s.reverseOf != nil {
		return r.runReverse(ctx)
	}
	defer func() {
		if r.src != nil {
			r.src.Close()
		}
		if r.dst != nil {
			r.dst.Close()
		}
	}()
	if err := r.onServers(ctx, "nothing is copied or applied by this Run yet, a new Run resumes from the checkpoint on the target", func() error { return r.start(ctx) }); err != nil || r.finishedSwitch {
		return err
	}
	facts := r.facts
	if !facts.copied {
		// A new move, or one whose copy did not finish: no stream of an
		// earlier move into this database may resume.
		if err := s.copier.checkpoint.DeleteStream(ctx, r.dst, s.streamName()); err != nil {
			return s.targetErr("stream "+s.streamName(), err)
		}
		if err := r.onServers(ctx, "the copy's checkpoint on the target holds what is copied, a new Run resumes the copy from it", func() error { return r.copy(ctx) }); err != nil {
			return err
		}
	}
	if facts.start == "" {
		return s.sourceErr(serverFault, fmt.Errorf("%w: the copy recorded no GTID position to start from", ErrBinlogSettings))
	}
	defer func() {
		if r.app != nil {
			r.app.Close()
		}
	}()
	if err := r.onServers(ctx, "the copy is done, a new Run catches up from its position", func() error { return r.openStream(ctx) }); err != nil {
		return err
	}
	return r.follow(ctx)
}

// start opens Run's pools (those still closed), finishes a cutover that
// stopped at its switch (setting r.finishedSwitch: Run has nothing more
// to do) or else restores the writes a crashed cutover stopped, and runs
// the dry run, into r.facts.
func (r *syncRun) start(ctx context.Context) (err error) {
	s := r.s
	t := s.copier.cfg.timeouts
	if r.src == nil {
		if r.src, err = openSide(ctx, Source, s.source, conn.Options{Timeouts: t, MaxConns: 8, Logger: s.logger()}); err != nil {
			return err
		}
	}
	if r.dst == nil {
		t.Read = -1 // verification's checksums run long
		if r.dst, err = openSide(ctx, Target, s.target, conn.Options{Timeouts: t, MaxConns: 8, Logger: s.logger()}); err != nil {
			return err
		}
	}

	// A cutover that crashed left its fence recorded: if it got as far as
	// its switch, finish it (the source's writes are restored only once
	// the cutover is recorded done); else restore the source's writes
	// before anything else.
	journal := fence.Journal{Store: s.copier.checkpoint, DB: r.dst}
	if err := s.copier.checkpoint.Prepare(ctx, r.dst); err != nil {
		return s.targetErr("database "+s.copier.checkpoint.Database(), err)
	}
	if r.finishedSwitch, err = r.finishSwitch(ctx); err != nil || r.finishedSwitch {
		return err
	}
	if err := r.guardReverse(ctx); err != nil {
		return err
	}
	pauses, err := fence.Recover(ctx, r.src, journal, s.logger())
	if err != nil {
		return s.sourceErr(serverFault, fmt.Errorf("restoring the writes a crashed cutover stopped: %w", err))
	}
	for _, p := range pauses {
		s.logger().Warn("sync: restored the source's writes after a crashed cutover", "fence", p.ID, "method", p.Method.String(), "stopped", p.Stopped)
	}
	_, r.facts, err = s.plan(ctx, false)
	return err
}

// copy runs the snapshot copy and takes its position and tables.
func (r *syncRun) copy(ctx context.Context) error {
	s := r.s
	s.setPhase(PhaseCopying)
	rep, err := s.copier.Run(ctx, func(p Progress) {
		p.Phase = PhaseCopying
		if r.progress != nil {
			r.progress(p)
		}
	})
	if rep != nil {
		r.report.Tables, r.report.Objects, r.report.Rows, r.report.Bytes = rep.Tables, rep.Objects, rep.Rows, rep.Bytes
		r.report.Position, r.report.Consistent, r.report.Resumed = rep.Position, rep.Consistent, rep.Resumed
		r.report.CommitsBlocked, r.report.WriteMethod = rep.CommitsBlocked, rep.WriteMethod
		r.copied = rep.Rows
	}
	if err != nil {
		return err
	}
	r.facts.start = rep.Position.GTID
	r.facts.tables = map[rowchange.Table]rowchange.Table{}
	for _, tr := range rep.Tables {
		r.facts.tables[rowchange.Table{Schema: s.database, Name: tr.Name}] = rowchange.Table{Schema: s.copier.cfg.targetDatabase, Name: tr.TargetName}
	}
	return nil
}

// openStream prepares the applier (saving the copy's position as the
// stream's first) and the stream from the saved position.
func (r *syncRun) openStream(ctx context.Context) error {
	s, facts := r.s, r.facts
	id, err := conn.Identify(ctx, r.src)
	if err != nil {
		return s.sourceErr(serverFault, err)
	}
	r.source = id.String()
	if r.app != nil {
		r.app.Close() // of an attempt the target's going away ended
	}
	if r.app, err = r.newApplier(s.streamName()); err != nil {
		return err
	}
	st, err := r.app.Start(ctx)
	if err != nil {
		return s.targetErr("stream "+s.streamName(), err)
	}
	if st == nil {
		if err := r.converge(ctx); err != nil {
			return err
		}
	} else {
		facts.start = st.Position
	}
	r.stream, err = r.newStream(facts.start)
	return err
}

// newApplier returns an applier of the stream called name into the
// target's moved tables.
func (r *syncRun) newApplier(name string, opts ...apply.Option) (*apply.Applier, error) {
	s, flavor := r.s, r.facts.flavor
	return apply.New(r.dst, s.copier.checkpoint, name, s.copier.cfg.targetDatabase, append([]apply.Option{
		apply.WithTables(r.facts.tables), apply.WithSource(r.source), apply.WithLogger(s.logger()),
		apply.WithCovered(func(stored, position string) (bool, error) { return binlog.PositionContains(flavor, stored, position) }),
	}, opts...)...)
}

// newStream returns a stream of the moved tables from position start.
func (r *syncRun) newStream(start string) (*binlog.Stream, error) {
	s := r.s
	tables := make([]rowchange.Table, 0, len(r.facts.tables))
	for t := range r.facts.tables {
		tables = append(tables, t)
	}
	return binlog.New(binlog.Config{
		DSN: s.source.FormatDSN(), ServerID: s.cfg.serverID, Tables: tables, Start: start,
		DDL: s.cfg.ddl.binlogPolicy(), Heartbeat: syncHeartbeat, Budget: syncBudget, Logger: s.logger(),
	})
}

// converge applies the source's binary log from the copy's position to the
// source's position now, writing rows with REPLACE, and then saves that
// position as the stream's first. A copy that was resumed, or read without
// a snapshot, holds rows newer than its position: replaying onto them, a
// secondary unique value may sit on a row that a later change of the same
// replay moves away, and REPLACE removes such a row only for a later
// change to put it back; once the target holds the position read after
// the copy ended, every row is the source's and the stream goes on with
// the strict method. A crash during it converges again from the copy's
// position.
func (r *syncRun) converge(ctx context.Context) error {
	s, facts := r.s, r.facts
	name := s.streamName() + ".converge"
	store := s.copier.checkpoint
	if err := store.DeleteStream(ctx, r.dst, name); err != nil {
		return s.targetErr("stream "+name, err)
	}
	end, err := binlog.CurrentPosition(ctx, r.src, facts.flavor)
	if err != nil {
		return s.sourceErr(serverFault, err)
	}
	position := facts.start
	if done, err := binlog.PositionContains(facts.flavor, position, end); err != nil {
		return err
	} else if !done {
		conv, err := r.newApplier(name, apply.WithReplaceRows())
		if err != nil {
			return err
		}
		defer conv.Close()
		stream, err := r.newStream(position)
		if err != nil {
			return err
		}
		if position, err = r.applyUntil(ctx, stream, conv, func() string { return conv.Stats().Position }, end); err != nil {
			return r.binlogErr("catching up to the end of the copy", err)
		}
		if err := store.DeleteStream(ctx, r.dst, name); err != nil {
			return s.targetErr("stream "+name, err)
		}
	}
	// The first position of the stream: saved now, so that a crash from
	// here on resumes the stream, not the copy.
	if err := r.app.Apply(ctx, rowchange.Txn{Position: position}); err != nil {
		return s.targetErr("stream "+s.streamName(), err)
	}
	if err := r.app.Flush(ctx); err != nil {
		return s.targetErr("stream "+s.streamName(), err)
	}
	facts.start = position
	return nil
}

// applyUntil runs stream into sink until sink holds position end (held
// says what it holds), and returns the position it holds.
func (r *syncRun) applyUntil(ctx context.Context, stream *binlog.Stream, sink rowchange.Sink, held func() string, end string) (string, error) {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- stream.Run(sctx, sink) }()
	for {
		held := held()
		if ok, err := binlog.PositionContains(r.facts.flavor, held, end); err != nil || ok {
			stop()
			<-done
			return held, err
		}
		select {
		case err := <-done:
			return "", err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// follow runs the stream and watches it: lag, phase, progress, cutover
// requests.
func (r *syncRun) follow(ctx context.Context) error {
	s := r.s
	s.setPhase(PhaseCatchingUp)
	r.startStream(ctx)
	defer func() { r.stopStream() }()
	interval := s.copier.cfg.progressInterval
	tick := time.NewTicker(min(interval, 250*time.Millisecond))
	defer tick.Stop()
	lastEmit := time.Now()
	var sourceLost time.Time // when the wait for the source began
	r.emit()
	for {
		select {
		case <-r.streamDone:
			if !r.sink.stoppedByTarget(r.streamErr) {
				return r.binlogErr("following the binary log", r.streamErr)
			}
			if err := r.awaitTarget(ctx, r.streamErr); err != nil {
				return err
			}
			r.startStream(ctx)
			lastEmit = time.Now()
			r.emit()
		case <-ctx.Done():
			r.stopStream()
			return fmt.Errorf("%w (stopped %s; the target holds the changes up to %s, a new Run resumes there)", ctx.Err(), s.Phase(), r.app.Stats().Position)
		case req := <-s.requests:
			rep, err := r.cutover(ctx, req.ctx)
			var reply *CutoverReport
			if rep != nil {
				// The caller's own copy: a cut-back's Run goes on filling
				// Released and Pause of the report it returns.
				reply = new(*rep)
			}
			req.reply <- cutoverResult{reply, err}
			if err == nil || r.switched {
				// The application writes the target now: never sync
				// into it again, whatever went wrong after the switch.
				r.stopStream()
				r.report.Cutover = rep
				r.finishReport()
				r.lag.lag, r.lag.txns = 0, 0
				return errors.Join(err, r.app.Flush(context.WithoutCancel(ctx)))
			}
		case now := <-tick.C:
			lag, err := r.measure(ctx, now)
			if err != nil {
				if p := s.Phase(); conn.Lost(err) && (p == PhaseCatchingUp || p == PhaseInSync) {
					// The stream reconnects itself; the phase tells the
					// host, and refuses Cutover, meanwhile.
					s.setPhase(PhaseWaitingForSource)
					sourceLost = now
					wait, _ := s.outageWait(Source)
					s.logger().Warn("sync: the source went away, waiting for it", "source", conn.Endpoint(s.source),
						"resume", "the target holds the changes up to "+r.app.Stats().Position, "wait", wait, "err", err)
					lastEmit = now
					r.emit()
				} else if p == PhaseWaitingForSource {
					if err := r.sourceAway(sourceLost, err); err != nil {
						return err
					}
				} else {
					s.logger().Warn("sync: reading the source's position", "err", err)
				}
				continue
			}
			changed := true
			switch p := s.Phase(); {
			case p == PhaseWaitingForSource:
				s.setPhase(PhaseCatchingUp)
				s.logger().Info("sync: the source is back, resuming", "source", conn.Endpoint(s.source), "lag", lag)
			case p == PhaseCatchingUp && lag <= s.cfg.maxLag:
				s.setPhase(PhaseInSync)
				s.logger().Info("sync: in sync", "database", s.database, "lag", lag)
			case p == PhaseInSync && lag > s.cfg.maxLag:
				s.setPhase(PhaseCatchingUp)
				s.logger().Info("sync: catching up", "database", s.database, "lag", lag)
			default:
				changed = false
			}
			if changed || now.Sub(lastEmit) >= interval {
				lastEmit = now
				r.emit()
			}
		}
	}
}

// lagMeter measures how far the target is behind the source: samples of
// the source's position over time, dropped once the target holds them.
type lagMeter struct {
	samples []lagSample
	lag     time.Duration
	txns    int64 // source transactions the target's position lacks
}

type lagSample struct {
	at       time.Time
	position string
}

// measure samples the source's position and returns the lag: how long ago
// the oldest sample the target does not hold yet was taken (0 when it
// holds them all), and at least how long ago the source committed the
// oldest transaction the stream read and has not applied.
func (r *syncRun) measure(ctx context.Context, now time.Time) (time.Duration, error) {
	pos, err := binlog.CurrentPosition(ctx, r.src, r.facts.flavor)
	if err != nil {
		return r.lag.lag, err
	}
	m := &r.lag
	if n := len(m.samples); n == 0 || m.samples[n-1].position != pos {
		m.samples = append(m.samples, lagSample{now, pos})
	}
	applied := r.app.Stats().Position
	if m.txns, err = binlog.TxnsBehind(r.facts.flavor, applied, pos); err != nil {
		return m.lag, err
	}
	for len(m.samples) > 0 {
		ok, err := binlog.PositionContains(r.facts.flavor, applied, m.samples[0].position)
		if err != nil {
			return m.lag, err
		}
		if !ok {
			break
		}
		m.samples = m.samples[1:]
	}
	m.lag = 0
	if len(m.samples) > 0 {
		m.lag = now.Sub(m.samples[0].at)
	}
	m.lag = max(m.lag, r.stream.Stats().Behind)
	return m.lag, nil
}

// emit reports progress.
func (r *syncRun) emit() {
	if r.progress == nil {
		return
	}
	p := Progress{Phase: r.s.Phase(), Elapsed: time.Since(r.report.Started), Rows: r.copied, Bytes: r.report.Bytes}
	// The tables this Run copied stay in the progress, done, so a host
	// showing one line per table does not see them go back to pending.
	for _, t := range r.report.Tables {
		p.Tables = append(p.Tables, TableProgress{Name: t.Name, Rows: t.Rows, RowsEstimate: t.Rows, Bytes: t.Bytes, Done: t.Done})
		if t.Done {
			p.TablesDone++
		}
	}
	p.TablesTotal = len(r.report.Tables)
	if r.app != nil { // nil before the stream (waiting for the target) and in a Run that finishes a cut-back
		st := r.app.Stats()
		p.Lag, p.LagTxns, p.AppliedRows, p.AppliedTxns, p.ApplyRowsPerSecond, p.StreamPosition = r.lag.lag, r.lag.txns, st.Rows, st.Txns, st.RowsPerSecond, st.Position
	}
	r.progress(p)
}

// finishReport fills the stream's figures into the report.
func (r *syncRun) finishReport() {
	st := r.app.Stats()
	r.report.AppliedRows, r.report.AppliedTxns, r.report.StreamPosition = st.Rows, st.Txns, st.Position
}

// binlogErr wraps an error of the stream's (what says where in Run): the
// source refusing to serve the stream, when it started or reconnected (a
// purged or unknown position, a binary log setting), is ErrBinlogSettings
// naming the source, as Plan reports it.
func (r *syncRun) binlogErr(what string, err error) error {
	for _, refusal := range []error{binlog.ErrPurged, binlog.ErrPositionAhead, binlog.ErrBinlogOff, binlog.ErrBinlogFormat,
		binlog.ErrRowImage, binlog.ErrRowMetadata, binlog.ErrNoGTID} {
		if errors.Is(err, refusal) {
			return r.s.sourceErr(serverFault, fmt.Errorf("%s: %w: %w", what, ErrBinlogSettings, err))
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errStreamStopped is the cutover's error when the stream stops under it.
var errStreamStopped = errors.New("the binary log stream stopped")
