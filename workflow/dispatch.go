package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors recorded in a Failure when an event never reached a notifier.
var (
	// ErrQueueFull: the notifier's queue was full when the event was sent,
	// so the event was dropped for that notifier.
	ErrQueueFull = errors.New("workflow: notifier queue full, event dropped")
	// ErrDispatcherClosed: the event was sent after Close, or was still
	// waiting when Close's context ended.
	ErrDispatcherClosed = errors.New("workflow: dispatcher closed")
)

// DispatcherConfig tunes a Dispatcher. The zero value is valid: every zero
// field takes the default named in its comment.
type DispatcherConfig struct {
	// QueueSize is how many events wait per notifier before further
	// events are dropped for it (default 256).
	QueueSize int
	// MaxAttempts is how many times a delivery is tried, the first one
	// included (default 5). Errors wrapping ErrPermanent are not retried.
	MaxAttempts int
	// BaseDelay is the wait before the first retry, doubled for each
	// further one up to MaxDelay, with random jitter of up to half the
	// delay subtracted (defaults 1s and 5m).
	BaseDelay, MaxDelay time.Duration
	// AttemptTimeout bounds each call of Notify (default 30s).
	AttemptTimeout time.Duration
	// FailureHistory is how many of the latest failures Failures keeps
	// (default 100).
	FailureHistory int
	// Logger receives a warning for each failed attempt and an error for
	// each failure (default: discard).
	Logger *slog.Logger
	// OnFailure, if set, is called for each failure, from the notifier's
	// worker goroutine (or Send's caller for a dropped event); it must not
	// block for long, nor call Close.
	OnFailure func(Failure)
}

func (c *DispatcherConfig) setDefaults() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"QueueSize", int64(c.QueueSize)}, {"MaxAttempts", int64(c.MaxAttempts)},
		{"BaseDelay", int64(c.BaseDelay)}, {"MaxDelay", int64(c.MaxDelay)},
		{"AttemptTimeout", int64(c.AttemptTimeout)}, {"FailureHistory", int64(c.FailureHistory)},
	} {
		if f.v < 0 {
			return fmt.Errorf("workflow: DispatcherConfig.%s is negative", f.name)
		}
	}
	c.QueueSize = cmp.Or(c.QueueSize, 256)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 5)
	c.BaseDelay = cmp.Or(c.BaseDelay, time.Second)
	c.MaxDelay = cmp.Or(c.MaxDelay, 5*time.Minute)
	c.AttemptTimeout = cmp.Or(c.AttemptTimeout, 30*time.Second)
	c.FailureHistory = cmp.Or(c.FailureHistory, 100)
	if c.MaxDelay < c.BaseDelay {
		return fmt.Errorf("workflow: DispatcherConfig.MaxDelay %v is less than BaseDelay %v", c.MaxDelay, c.BaseDelay)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Failure is an event that did not reach one notifier.
type Failure struct {
	Notifier string
	Event    Event
	// Attempts is how many times Notify was called (0 for a dropped
	// event).
	Attempts int
	// Err is the last error: the notifier's, or ErrQueueFull or
	// ErrDispatcherClosed.
	Err error
	// Permanent is true when Err wraps ErrPermanent.
	Permanent bool
	At        time.Time
}

// DispatchStats counts what happened to one notifier's events.
type DispatchStats struct {
	Delivered, Failed, Dropped, Retries int64
	// Queued is the number of events waiting now.
	Queued int
}

// Dispatcher fans events out to several notifiers after the engine's
// transaction commits. Each notifier has its own bounded queue and worker
// goroutine, so a slow or failing notifier never delays another, nor the
// caller: Send never blocks. Failed deliveries are retried with
// exponential backoff and jitter; deliveries that still fail, permanent
// errors and dropped events are logged, passed to OnFailure and kept for
// Failures.
type Dispatcher struct {
	cfg     DispatcherConfig
	targets []*target
	ctx     context.Context // canceled when Close gives up draining
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex // guards closed and sending on the queues
	closed bool

	fmu      sync.Mutex
	failures []Failure // ring of the latest cfg.FailureHistory
	fnext    int
}

type target struct {
	name  string
	n     Notifier
	queue chan Event

	delivered, failed, dropped, retries atomic.Int64
}

// NewDispatcher starts a worker for each named notifier.
func NewDispatcher(notifiers map[string]Notifier, cfg DispatcherConfig) (*Dispatcher, error) {
	if len(notifiers) == 0 {
		return nil, errors.New("workflow: NewDispatcher: no notifiers")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg}
	for name, n := range notifiers {
		if name == "" {
			return nil, errors.New("workflow: NewDispatcher: a notifier has an empty name")
		}
		if n == nil {
			return nil, fmt.Errorf("workflow: NewDispatcher: notifier %q is nil", name)
		}
		d.targets = append(d.targets, &target{name: name, n: n, queue: make(chan Event, cfg.QueueSize)})
	}
	slices.SortFunc(d.targets, func(a, b *target) int { return cmp.Compare(a.name, b.name) })
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, t := range d.targets {
		d.wg.Add(1)
		go d.work(t)
	}
	return d, nil
}

// Send queues e for every notifier and returns at once. Where a queue is
// full, or the Dispatcher is closed, e is dropped for that notifier and the
// drop is recorded as a Failure.
func (d *Dispatcher) Send(e Event) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, t := range d.targets {
		if d.closed {
			d.fail(t, Failure{Notifier: t.name, Event: e, Err: ErrDispatcherClosed}, true)
			continue
		}
		select {
		case t.queue <- e:
		default:
			d.fail(t, Failure{Notifier: t.name, Event: e, Err: ErrQueueFull}, true)
		}
	}
}

// Close stops accepting events and waits until every queued event has
// been delivered or has failed. If ctx ends first, deliveries in progress
// and backoff waits are abandoned, the events still queued are recorded as
// failures with ErrDispatcherClosed, and ctx's error is returned. Close may
// be called more than once.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, t := range d.targets {
			close(t.queue)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return wrapf(ctx.Err(), "dispatcher close")
	}
}

// Failures returns the latest failures, oldest first.
func (d *Dispatcher) Failures() []Failure {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	if len(d.failures) < d.cfg.FailureHistory {
		return slices.Clone(d.failures)
	}
	return append(slices.Clone(d.failures[d.fnext:]), d.failures[:d.fnext]...)
}

// Stats returns the counters of each notifier, by name.
func (d *Dispatcher) Stats() map[string]DispatchStats {
	out := make(map[string]DispatchStats, len(d.targets))
	for _, t := range d.targets {
		out[t.name] = DispatchStats{
			Delivered: t.delivered.Load(), Failed: t.failed.Load(),
			Dropped: t.dropped.Load(), Retries: t.retries.Load(), Queued: len(t.queue),
		}
	}
	return out
}

func (d *Dispatcher) work(t *target) {
	defer d.wg.Done()
	for e := range t.queue {
		d.deliver(t, e)
	}
}

func (d *Dispatcher) deliver(t *target, e Event) {
	log := d.cfg.Logger.With("notifier", t.name, "ticket", e.TicketID, "event", string(e.Kind))
	for attempt := 1; ; attempt++ {
		if d.ctx.Err() != nil {
			d.fail(t, Failure{Notifier: t.name, Event: e, Attempts: attempt - 1, Err: ErrDispatcherClosed}, false)
			return
		}
		err := d.attempt(t, e)
		if err == nil {
			t.delivered.Add(1)
			if attempt > 1 {
				log.Info("notification delivered after retries", "attempts", attempt)
			}
			return
		}
		if errors.Is(err, ErrPermanent) || attempt >= d.cfg.MaxAttempts || d.ctx.Err() != nil {
			d.fail(t, Failure{Notifier: t.name, Event: e, Attempts: attempt, Err: err}, false)
			return
		}
		delay := d.backoff(attempt)
		log.Warn("notification failed, will retry", "attempt", attempt, "retry_in", delay, "err", err)
		t.retries.Add(1)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-d.ctx.Done():
			timer.Stop()
			d.fail(t, Failure{Notifier: t.name, Event: e, Attempts: attempt, Err: fmt.Errorf("%w while waiting to retry: %w", ErrDispatcherClosed, err)}, false)
			return
		}
	}
}

// attempt calls Notify once, bounded by AttemptTimeout; a panic becomes a
// permanent error rather than the end of the host process.
func (d *Dispatcher) attempt(t *target, e Event) (err error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.AttemptTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = wrapf(ErrPermanent, "notifier %s panicked: %v", t.name, r)
		}
	}()
	return t.n.Notify(ctx, e)
}

// backoff is the wait after the given failed attempt: BaseDelay doubled
// per attempt, capped at MaxDelay, less up to half of it at random.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	delay := d.cfg.MaxDelay
	if shift := attempt - 1; shift < 62 && d.cfg.BaseDelay<<shift > 0 && d.cfg.BaseDelay<<shift < d.cfg.MaxDelay {
		delay = d.cfg.BaseDelay << shift
	}
	if half := int64(delay / 2); half > 0 {
		delay -= time.Duration(rand.Int64N(half + 1))
	}
	return delay
}

func (d *Dispatcher) fail(t *target, f Failure, dropped bool) {
	f.At = time.Now()
	f.Permanent = errors.Is(f.Err, ErrPermanent)
	if dropped {
		t.dropped.Add(1)
	} else {
		t.failed.Add(1)
	}
	d.cfg.Logger.Error("notification not delivered", "notifier", f.Notifier, "ticket", f.Event.TicketID,
		"event", string(f.Event.Kind), "attempts", f.Attempts, "permanent", f.Permanent, "err", f.Err)
	d.fmu.Lock()
	if len(d.failures) < d.cfg.FailureHistory {
		d.failures = append(d.failures, f)
	} else {
		d.failures[d.fnext] = f
		d.fnext = (d.fnext + 1) % d.cfg.FailureHistory
	}
	d.fmu.Unlock()
	if d.cfg.OnFailure != nil {
		d.cfg.OnFailure(f)
	}
}
