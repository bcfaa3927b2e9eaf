package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// The bounds of the wait between attempts to reach a server (the target,
// or the source before the stream runs) that went away, doubling after
// each failed one.
const (
	outageBackoffMin = 250 * time.Millisecond
	outageBackoffMax = 5 * time.Second
)

// targetSink is the applier as the stream's sink. It keeps the last error
// of Apply or Flush that says the target went away, so that follow can
// tell a stream stopped by it from one stopped by anything else.
type targetSink struct {
	app  *apply.Applier
	lost error
}

var (
	_ rowchange.Sink    = (*targetSink)(nil)
	_ rowchange.Flusher = (*targetSink)(nil)
)

func (t *targetSink) Apply(ctx context.Context, tx rowchange.Txn) error {
	return t.note(t.app.Apply(ctx, tx))
}

func (t *targetSink) Flush(ctx context.Context) error { return t.note(t.app.Flush(ctx)) }

func (t *targetSink) note(err error) error {
	if targetGone(err) {
		t.lost = err
	}
	return err
}

// stoppedByTarget reports that the stream's error err is the sink's, and
// that the target went away.
func (t *targetSink) stoppedByTarget(err error) bool {
	return t.lost != nil && errors.Is(err, t.lost)
}

// targetGone reports an error of the target's connection that running
// again once it answers gets past: the server shutting down or gone, the
// connection refused, reset, killed or lost (conn.Lost). The end of ctx
// and a lost replication connection (the source's, which the stream
// reconnects itself) are not.
func targetGone(err error) bool {
	return !errors.Is(err, binlog.ErrConnection) && conn.Lost(err)
}

// startStream runs r.stream into the applier in the background; stopStream
// ends it and waits for it.
func (r *syncRun) startStream(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	sink := &targetSink{app: r.app}
	stream := r.stream
	r.sink, r.streamDone = sink, done
	r.stopStream = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		r.streamErr = stream.Run(sctx, sink)
	}()
}

// awaitTarget waits, the stream stopped because the target went away
// (lost is why), until the target answers again, for at most
// WithTargetWait (waitServer), and prepares a stream from the position
// the target holds. The applier rolled back what it had not committed,
// and the position is saved in the same target transaction as the rows,
// so that resuming from it loses and repeats nothing. Cutover is refused
// meanwhile.
func (r *syncRun) awaitTarget(ctx context.Context, lost error) error {
	s := r.s
	resume := fmt.Sprintf("the target holds the changes up to %s, a new Run resumes there", r.app.Stats().Position)
	var st *checkpoint.Stream
	err := r.waitServer(ctx, Target, lost, time.Now(), resume, "stream "+s.streamName(), func(ctx context.Context) (err error) {
		st, err = r.app.Start(ctx)
		return err
	})
	if err != nil {
		return err
	}
	position := r.facts.start
	if st != nil {
		position = st.Position
	}
	if r.stream, err = r.newStream(position); err != nil {
		return err
	}
	s.setPhase(PhaseCatchingUp)
	s.logger().Info("sync: resuming the stream", "position", position)
	return nil
}

// onServers runs step (one of Run's steps before the stream: the checks
// at its start, the copy, the stream's opening) and runs it again each
// time it fails because a server went away (lostSide), once that server
// answers: the step resumes from what the target holds (the copy from its
// checkpoint, the catch-up from the copy's position). Each outage is
// waited for as waitServer says; a step that fails again within
// outageBackoffMax of the server's return is the same outage. resume says,
// for messages, what the target holds and where a new Run resumes.
func (r *syncRun) onServers(ctx context.Context, resume string, step func() error) error {
	var since time.Time // when the outage began; zero before the first
	var last Side
	for {
		began := time.Now()
		err := step()
		if err == nil {
			return nil
		}
		side, lost := r.lostSide(err)
		if !lost {
			return err
		}
		if since.IsZero() || side != last || time.Since(began) > outageBackoffMax {
			since = time.Now()
		}
		last = side
		phase := r.s.Phase()
		probe := func(ctx context.Context) error { return r.ping(ctx, side) }
		if err := r.waitServer(ctx, side, err, since, resume, serverFault, probe); err != nil {
			return err
		}
		r.s.setPhase(phase)
	}
}

// lostSide reports an error that says a server went away, and which: the
// source when an EndpointError names it (conn.Lost: down, restarting,
// connection lost), the target when one names it or none names a side
// (targetGone). Errors joined (Plan's problems) must all say the same
// server went away: a refusal among them fails Run.
func (r *syncRun) lostSide(err error) (Side, bool) {
	var ee *EndpointError
	switch {
	case !errors.As(err, &ee):
		return Target, targetGone(err)
	case err == error(ee):
		switch ee.Side {
		case r.s.side(Source):
			return Source, conn.Lost(err)
		case r.s.side(Target):
			return Target, targetGone(err)
		}
		return ee.Side, false
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var side Side
		for i, e := range joined.Unwrap() {
			s, lost := r.lostSide(e)
			if !lost || (i > 0 && s != side) {
				return s, false
			}
			side = s
		}
		return side, true
	}
	return r.lostSide(errors.Unwrap(err))
}

// ping reaches side (Source or Target) through Run's pool, or a
// connection of its own before Run opened the pool.
func (r *syncRun) ping(ctx context.Context, side Side) error {
	db, cfg := r.src, r.s.source
	if side == Target {
		db, cfg = r.dst, r.s.target
	}
	if db != nil {
		return db.PingContext(ctx)
	}
	db, err := openSide(ctx, side, cfg, conn.Options{Timeouts: r.s.copier.cfg.timeouts, MaxConns: 1, Logger: r.s.logger()})
	if err != nil {
		return err
	}
	return db.Close()
}

// waitServer waits, side (the source or the target) gone since since
// (lost is why), until probe gets an answer from it, retrying with
// backoff; the phase is PhaseWaitingForTarget or PhaseWaitingForSource
// meanwhile, and Cutover is refused. The wait lasts at most WithTargetWait
// or WithSourceWait from since (then gaveUp). resume says what the target
// holds and where a new Run resumes; object names what probe reaches, for
// its errors. A probe error that is not the server being away, the wait
// passing and the end of ctx end the wait with an error.
func (r *syncRun) waitServer(ctx context.Context, side Side, lost error, since time.Time, resume, object string, probe func(context.Context) error) error {
	s := r.s
	name, phase, gone := "target", PhaseWaitingForTarget, targetGone
	endpoint := conn.Endpoint(s.target)
	if side == Source {
		name, phase, gone = "source", PhaseWaitingForSource, conn.Lost
		endpoint = conn.Endpoint(s.source)
	}
	limit, _ := s.outageWait(side)
	s.setPhase(phase)
	r.emit()
	log := s.logger().With(name, endpoint)
	log.Warn("sync: the "+name+" went away, waiting for it", "resume", resume, "wait", limit, "err", lost)
	wait := outageBackoffMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped %s; %s)", ctx.Err(), phase, resume)
		case req := <-s.requests:
			req.reply <- cutoverResult{err: fmt.Errorf("%w: %s", ErrNotInSync, phase)}
			attempt--
			continue
		case <-timer.C:
		}
		err := probe(ctx)
		if err == nil {
			log.Info("sync: the "+name+" is back, resuming", "after", time.Since(since).Round(time.Millisecond), "attempts", attempt)
			return nil
		}
		if ctx.Err() != nil {
			continue
		}
		if !gone(err) {
			sideErr := s.targetErr
			if side == Source {
				sideErr = s.sourceErr
			}
			return sideErr(object, fmt.Errorf("reconnecting after the %s went away (%v): %w", name, lost, err))
		}
		left := limit - time.Since(since)
		if left <= 0 {
			return s.gaveUp(side, since, fmt.Sprintf("%d attempts", attempt), resume, err)
		}
		log.Info("sync: the "+name+" is still away", "attempt", attempt, "err", err)
		r.emit()
		wait = min(2*wait, outageBackoffMax, left)
		timer.Reset(wait)
	}
}

// outageWait is how long the sync waits for side (Source or Target) to
// come back, and the option that sets it: a reverse sync waits for each
// server as long as the move does.
func (s *Sync) outageWait(side Side) (time.Duration, string) {
	if s.side(side) == Source {
		return s.cfg.sourceWait, "WithSourceWait"
	}
	return s.cfg.targetWait, "WithTargetWait"
}

// gaveUp is Run's error when side, gone since since, did not come back
// within its wait (outageWait): ErrConnect naming the server, how long
// the sync waited and the option. tried says what was tried meanwhile,
// resume what the target holds and where a new Run resumes, last is the
// last attempt's error.
func (s *Sync) gaveUp(side Side, since time.Time, tried, resume string, last error) error {
	limit, option := s.outageWait(side)
	sideErr := s.targetErr
	if side == Source {
		sideErr = s.sourceErr
	}
	return sideErr(serverFault, fmt.Errorf("%w: the server went away and did not come back within %s (waited %s, %s; %s): %s: %w",
		ErrConnect, limit, time.Since(since).Round(time.Millisecond), option, tried, resume, last))
}

// sourceAway is called by follow at each failed reading of the source's
// position while it waits for the source (since: when that began): it
// returns gaveUp's error once WithSourceWait passed.
func (r *syncRun) sourceAway(since time.Time, err error) error {
	s := r.s
	if limit, _ := s.outageWait(Source); time.Since(since) < limit {
		return nil
	}
	return s.gaveUp(Source, since, fmt.Sprintf("%d reconnects of the stream", r.stream.Stats().Reconnects),
		"the target holds the changes up to "+r.app.Stats().Position+", a new Run resumes there", err)
}
