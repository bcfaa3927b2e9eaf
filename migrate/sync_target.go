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

// The bounds of the wait between attempts to reach a target that went
// away, doubling after each failed one.
const (
	targetBackoffMin = 250 * time.Millisecond
	targetBackoffMax = 5 * time.Second
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
// WithTargetWait, and prepares a stream from the position the target
// holds. The applier rolled back what it had not committed, and the
// position is saved in the same target transaction as the rows, so that
// resuming from it loses and repeats nothing. Cutover is refused
// meanwhile.
func (r *syncRun) awaitTarget(ctx context.Context, lost error) error {
	s := r.s
	resume := fmt.Sprintf("the target holds the changes up to %s, a new Run resumes there", r.app.Stats().Position)
	var st *checkpoint.Stream
	err := r.waitTarget(ctx, lost, time.Now(), resume, "stream "+s.streamName(), func(ctx context.Context) (err error) {
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

// onTarget runs step (one of Run's steps before the stream: the copy, the
// first catch-up) and runs it again each time it fails because the target
// went away (targetLost), once the target answers: the step resumes from
// what the target holds (the copy from its checkpoint, the catch-up from
// the copy's position). Each outage is waited for up to WithTargetWait
// (waitTarget); a step that fails again within targetBackoffMax of the
// target's return is the same outage. resume says, for messages, what the
// target holds and where a new Run resumes.
func (r *syncRun) onTarget(ctx context.Context, resume string, step func() error) error {
	var since time.Time // when the outage began; zero before the first
	for {
		began := time.Now()
		err := step()
		if err == nil || !r.targetLost(err) {
			return err
		}
		if since.IsZero() || time.Since(began) > targetBackoffMax {
			since = time.Now()
		}
		phase := r.s.Phase()
		if err := r.waitTarget(ctx, err, since, resume, serverFault, r.dst.PingContext); err != nil {
			return err
		}
		r.s.setPhase(phase)
	}
}

// targetLost reports an error that says the target went away
// (targetGone), and that names no other side.
func (r *syncRun) targetLost(err error) bool {
	var ee *EndpointError
	if errors.As(err, &ee) && ee.Side != r.s.side(Target) {
		return false
	}
	return targetGone(err)
}

// waitTarget waits, the target gone since since (lost is why), until
// probe gets an answer from it, for at most WithTargetWait from since,
// retrying with backoff; the phase is PhaseWaitingForTarget meanwhile, and
// Cutover is refused. resume says what the target holds and where a new
// Run resumes; object names what probe reaches, for its errors. A probe
// error that is not the target being away, the wait passing (ErrConnect)
// and the end of ctx end the wait with an error.
func (r *syncRun) waitTarget(ctx context.Context, lost error, since time.Time, resume, object string, probe func(context.Context) error) error {
	s := r.s
	target := conn.Endpoint(s.target)
	s.setPhase(PhaseWaitingForTarget)
	r.emit()
	s.logger().Warn("sync: the target went away, waiting for it", "target", target, "resume", resume, "wait", s.cfg.targetWait, "err", lost)
	wait := targetBackoffMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped %s; %s)", ctx.Err(), PhaseWaitingForTarget, resume)
		case req := <-s.requests:
			req.reply <- cutoverResult{err: fmt.Errorf("%w: %s", ErrNotInSync, PhaseWaitingForTarget)}
			attempt--
			continue
		case <-timer.C:
		}
		err := probe(ctx)
		if err == nil {
			s.logger().Info("sync: the target is back, resuming", "target", target,
				"after", time.Since(since).Round(time.Millisecond), "attempts", attempt)
			return nil
		}
		if ctx.Err() != nil {
			continue
		}
		if !targetGone(err) {
			return s.targetErr(object, fmt.Errorf("reconnecting after the target went away (%v): %w", lost, err))
		}
		left := s.cfg.targetWait - time.Since(since)
		if left <= 0 {
			return s.targetErr(serverFault, fmt.Errorf("%w: the server went away and did not come back within %s (WithTargetWait; %d attempts); %s: %w",
				ErrConnect, s.cfg.targetWait, attempt, resume, err))
		}
		s.logger().Info("sync: the target is still away", "target", target, "attempt", attempt, "err", err)
		r.emit()
		wait = min(2*wait, targetBackoffMax, left)
		timer.Reset(wait)
	}
}

// onSource runs read, a read of the source's on the way to the stream, and
// runs it again each time it fails because the source went away
// (conn.Lost: down or restarting), with the backoff of the stream's
// reconnects and, like them, for as long as ctx lasts (the stream is made
// with no MaxAttempts): a source that restarts between the copy and the
// stream does not fail Run. Each attempt is logged.
func (r *syncRun) onSource(ctx context.Context, read func() error) error {
	wait := binlog.DefaultBackoffMin
	for {
		err := read()
		if err == nil || !conn.Lost(err) {
			return err
		}
		r.s.logger().Warn("sync: the source is unreachable, retrying", "source", conn.Endpoint(r.s.source), "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for the source: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, binlog.DefaultBackoffMax)
	}
}
