package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/binlog"
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
	since, held, target := time.Now(), r.app.Stats().Position, conn.Endpoint(s.target)
	s.setPhase(PhaseWaitingForTarget)
	r.emit()
	s.logger().Warn("sync: the target went away, waiting for it", "target", target, "holds", held, "wait", s.cfg.targetWait, "err", lost)
	wait := targetBackoffMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped %s; the target holds the changes up to %s, a new Run resumes there)", ctx.Err(), PhaseWaitingForTarget, held)
		case req := <-s.requests:
			req.reply <- cutoverResult{err: fmt.Errorf("%w: %s", ErrNotInSync, PhaseWaitingForTarget)}
			attempt--
			continue
		case <-timer.C:
		}
		st, err := r.app.Start(ctx)
		if err == nil {
			position := r.facts.start
			if st != nil {
				position = st.Position
			}
			if r.stream, err = r.newStream(position); err != nil {
				return err
			}
			s.setPhase(PhaseCatchingUp)
			s.logger().Info("sync: the target is back, resuming", "target", target, "position", position,
				"after", time.Since(since).Round(time.Millisecond), "attempts", attempt)
			return nil
		}
		if ctx.Err() != nil {
			continue
		}
		if !targetGone(err) {
			return s.targetErr("stream "+s.streamName(), fmt.Errorf("reconnecting after the target went away (%v): %w", lost, err))
		}
		left := s.cfg.targetWait - time.Since(since)
		if left <= 0 {
			return s.targetErr(serverFault, fmt.Errorf("%w: the server went away and did not come back within %s (WithTargetWait; %d attempts); the target holds the changes up to %s, a new Run resumes there: %w",
				ErrConnect, s.cfg.targetWait, attempt, held, err))
		}
		s.logger().Info("sync: the target is still away", "target", target, "attempt", attempt, "err", err)
		r.emit()
		wait = min(2*wait, targetBackoffMax, left)
		timer.Reset(wait)
	}
}
