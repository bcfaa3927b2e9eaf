package dualwrite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// RelayOption configures a Relay.
type RelayOption func(*relayConfig) error

type relayConfig struct {
	workers     int
	batch       int
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	poll        time.Duration
	retention   time.Duration
	timeout     time.Duration
	alert       Alerter
	logger      *slog.Logger
}

// WithWorkers delivers up to n buckets at a time (default 4), each on its
// own connections to the primary and the secondary.
func WithWorkers(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 {
			return fmt.Errorf("dualwrite: WithWorkers: %d (want 1 or more)", n)
		}
		c.workers = n
		return nil
	}
}

// WithBatch delivers at most n entries of a bucket at a time (default 500).
func WithBatch(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 {
			return fmt.Errorf("dualwrite: WithBatch: %d entries (want 1 or more)", n)
		}
		c.batch = n
		return nil
	}
}

// WithMaxAttempts moves a change to the dead-letter table once the
// secondary rejected it n times (default 5).
func WithMaxAttempts(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 {
			return fmt.Errorf("dualwrite: WithMaxAttempts: %d (want 1 or more)", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the wait of a bucket after a failed delivery: min after
// the first failure, doubling up to max, each wait drawn between half and
// all of that (defaults 100ms and 30s).
func WithBackoff(min, max time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if min <= 0 || max < min {
			return fmt.Errorf("dualwrite: WithBackoff: %s to %s (want 0 < min <= max)", min, max)
		}
		c.minBackoff, c.maxBackoff = min, max
		return nil
	}
}

// WithPoll sets how long Run waits when there is nothing to deliver
// (default 100ms).
func WithPoll(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d <= 0 {
			return fmt.Errorf("dualwrite: WithPoll: %s (want more than 0)", d)
		}
		c.poll = d
		return nil
	}
}

// WithRetention keeps applied entries (Outbox.MarkApplied) for d before
// Run deletes them (default 24h).
func WithRetention(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d < 0 {
			return fmt.Errorf("dualwrite: WithRetention: negative %s", d)
		}
		c.retention = d
		return nil
	}
}

// WithDeliveryTimeout bounds one delivery (default 1 minute).
func WithDeliveryTimeout(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d <= 0 {
			return fmt.Errorf("dualwrite: WithDeliveryTimeout: %s (want more than 0)", d)
		}
		c.timeout = d
		return nil
	}
}

// WithAlert tells a about every change moved to the dead-letter table.
func WithAlert(a Alerter) RelayOption {
	return func(c *relayConfig) error {
		if a == nil {
			return errors.New("dualwrite: WithAlert: nil alerter")
		}
		c.alert = a
		return nil
	}
}

// WithRelayLogger logs through l; default: discarded.
func WithRelayLogger(l *slog.Logger) RelayOption {
	return func(c *relayConfig) error {
		if l == nil {
			return errors.New("dualwrite: WithRelayLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// DeadLetter is a change the secondary rejected MaxAttempts times, moved
// out of the outbox with the last error.
type DeadLetter struct {
	Entry
	Error    string
	FailedAt time.Time
}

// Alerter is told about dead letters, after they are recorded, at least
// once each (see Relay.Alert). Alert errors are logged and the alert
// retried later. NotifierAlerter adapts a workflow.Notifier.
type Alerter interface {
	Alert(ctx context.Context, d DeadLetter) error
}

// AlertFunc is an Alerter function.
type AlertFunc func(ctx context.Context, d DeadLetter) error

// Alert calls f.
func (f AlertFunc) Alert(ctx context.Context, d DeadLetter) error { return f(ctx, d) }

// Relay delivers the outbox to the secondary through a Transport. Any
// number of relays, in any processes, share an outbox: a relay delivers a
// bucket only while it holds the row lock of the bucket's row in
// dualwrite_buckets (SELECT ... FOR UPDATE SKIP LOCKED, in a transaction
// on the primary that lasts one batch), so a bucket's entries are
// delivered by one relay at a time, in id order, and the lock of a relay
// that dies goes with its connection.
type Relay struct {
	o   *Outbox
	tr  Transport
	cfg relayConfig

	mu      sync.Mutex
	stats   RelayStats
	rateAt  time.Time
	rateN   int64
	cleaned time.Time
}

// RelayStats counts a relay's work since NewRelay.
type RelayStats struct {
	Delivered   int64 // entries delivered
	Retries     int64 // failed deliveries (to be retried)
	DeadLetters int64 // entries moved to the dead-letter table
	// Wakeups counts the idle waits of Run that a commit of a capturing
	// transaction in this process ended before the poll.
	Wakeups int64
	// DeliveredPerSecond is the rate over the last second or more.
	DeliveredPerSecond float64
}

// NewRelay returns a relay of o's outbox through tr.
func (o *Outbox) NewRelay(tr Transport, opts ...RelayOption) (*Relay, error) {
	if tr == nil {
		return nil, errors.New("dualwrite: NewRelay: nil transport")
	}
	cfg := relayConfig{workers: 4, batch: 500, maxAttempts: 5, minBackoff: 100 * time.Millisecond, maxBackoff: 30 * time.Second,
		poll: 100 * time.Millisecond, retention: 24 * time.Hour, timeout: time.Minute, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("dualwrite: nil relay option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	return &Relay{o: o, tr: tr, cfg: cfg, rateAt: time.Now()}, nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Relay) count(delivered, retries, dead int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Delivered += delivered
	r.stats.Retries += retries
	r.stats.DeadLetters += dead
	r.rateN += delivered
	if d := time.Since(r.rateAt); d >= time.Second {
		r.stats.DeliveredPerSecond = float64(r.rateN) / d.Seconds()
		r.rateAt, r.rateN = time.Now(), 0
	}
}

// Run delivers until ctx is done, then returns nil. Errors reaching the
// primary are logged and retried; it never gives up on its own. Every
// minute it deletes applied entries older than the retention and
// alerts dead letters not alerted yet.
//
// When a pass delivers nothing, Run waits for the poll (WithPoll), or
// until a transaction of the same Outbox commits changes in this process
// (Tx.Commit wakes it: RelayStats.Wakeups), whichever comes first. After
// two wakeups in a row whose passes delivered nothing (the buckets wait
// for a retry, the outbox is paused, another relay holds them) Run waits
// for the poll, so commits do not drive a relay that cannot deliver.
func (r *Relay) Run(ctx context.Context) error {
	woken, unsubscribe := r.o.commits.subscribe()
	defer unsubscribe()
	// idle counts the wakeups in a row whose pass delivered nothing; one
	// can be a commit that the pass before it delivered already.
	idle, wasWoken := 0, false
	for ctx.Err() == nil {
		n, err := r.Step(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.logger.Warn("dualwrite: relay step failed", "database", r.o.cfg.outboxDB, "err", err)
		}
		if time.Since(r.cleaned) > time.Minute {
			if _, err := r.Cleanup(ctx); err != nil && ctx.Err() == nil {
				r.cfg.logger.Warn("dualwrite: outbox cleanup failed", "database", r.o.cfg.outboxDB, "err", err)
			}
			if err := r.Alert(ctx); err != nil && ctx.Err() == nil {
				r.cfg.logger.Warn("dualwrite: dead-letter alerts failed", "database", r.o.cfg.outboxDB, "err", err)
			}
			r.cleaned = time.Now()
		}
		if n > 0 && err == nil {
			idle, wasWoken = 0, false
			continue
		}
		if wasWoken {
			idle++
		}
		wake := woken
		if idle >= 2 || err != nil {
			wake = nil
		}
		wasWoken = false
		poll := time.NewTimer(r.cfg.poll)
		select {
		case <-ctx.Done():
		case <-wake:
			wasWoken = true
			r.mu.Lock()
			r.stats.Wakeups++
			r.mu.Unlock()
		case <-poll.C:
			idle = 0
		}
		poll.Stop()
	}
	return nil
}

// leaseGroup is the most buckets one lease transaction holds: a pass
// leases the buckets it delivers in groups, one transaction on the
// primary each (lease, read, mark, commit: a few round trips for the
// group, not for each bucket), and leaves the other buckets to other
// relays meanwhile.
const leaseGroup = 16

// Step makes one pass over the buckets that have entries to deliver and
// that no other relay holds, delivering one batch of each (WithWorkers at
// a time), and returns the entries delivered. It does nothing while the
// outbox is paused. The buckets are leased in groups of up to 16, each
// group in one transaction on the primary that lasts until the group's
// last batch is delivered and marked.
func (r *Relay) Step(ctx context.Context) (int, error) {
	var paused bool
	if err := r.o.db.QueryRowContext(ctx, "SELECT paused FROM "+r.o.outbox("dualwrite_state")+" WHERE id = 1").Scan(&paused); err != nil {
		return 0, fmt.Errorf("dualwrite: relay state: %w", err)
	}
	if paused {
		return 0, nil
	}
	// 64 probes of the pending index, whatever the outbox holds; buckets
	// waiting for a retry are left out.
	rows, err := r.o.db.QueryContext(ctx, "SELECT b.bucket FROM "+r.o.outbox("dualwrite_buckets")+" b WHERE b.retry_at <= UTC_TIMESTAMP(6) AND EXISTS (SELECT 1 FROM "+
		r.o.outbox("dualwrite_outbox")+" o WHERE o.bucket = b.bucket AND o.delivered_at IS NULL)")
	if err != nil {
		return 0, fmt.Errorf("dualwrite: relay: pending buckets: %w", err)
	}
	var buckets []int
	for rows.Next() {
		var b int
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return 0, fmt.Errorf("dualwrite: relay: pending buckets: %w", err)
		}
		buckets = append(buckets, b)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("dualwrite: relay: pending buckets: %w", err)
	}
	rand.Shuffle(len(buckets), func(i, j int) { buckets[i], buckets[j] = buckets[j], buckets[i] })
	total := 0
	var errs []error
	for len(buckets) > 0 {
		group := buckets[:min(len(buckets), leaseGroup)]
		buckets = buckets[len(group):]
		n, err := r.deliverGroup(ctx, group)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// lease is a bucket leased for one batch, and its delivery.
type lease struct {
	bucket   int
	failures int
	single   bool
	entries  []Entry
	err      error // the transport's
}

// deliverGroup leases those of buckets no other relay holds, delivers one
// batch of each and records the outcomes, all in one transaction.
func (r *Relay) deliverGroup(ctx context.Context, buckets []int) (int, error) {
	tx, err := r.o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("dualwrite: relay: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	leases, err := r.lease(ctx, tx, buckets)
	if err != nil || len(leases) == 0 {
		return 0, err
	}
	if err := r.o.pendingOf(ctx, tx, leases, r.cfg.batch); err != nil {
		return 0, err
	}
	next := make(chan *lease)
	var wg sync.WaitGroup
	for range min(r.cfg.workers, len(leases)) {
		wg.Go(func() {
			for l := range next {
				dctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
				l.err = r.tr.Deliver(dctx, l.bucket, l.entries)
				cancel()
			}
		})
	}
	for _, l := range leases {
		if len(l.entries) > 0 {
			next <- l
		}
	}
	close(next)
	wg.Wait()

	var delivered []uint64
	var retries, dead int64
	var buried []DeadLetter
	for _, l := range leases {
		if len(l.entries) == 0 {
			continue
		}
		retry, d, err := r.record(ctx, tx, l)
		if err != nil {
			return 0, err
		}
		if l.err == nil {
			for _, e := range l.entries {
				delivered = append(delivered, e.ID)
			}
		}
		if retry {
			retries++
		}
		if d != nil {
			dead++
			buried = append(buried, *d)
		}
	}
	_, applied := r.tr.(ApplyingTransport)
	if err := r.o.markDelivered(ctx, tx, delivered, applied); err != nil {
		return 0, fmt.Errorf("dualwrite: relay: marking buckets %v delivered: %w", buckets, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("dualwrite: relay: buckets %v: %w", buckets, err)
	}
	r.count(int64(len(delivered)), retries, dead)
	if len(buried) == 0 {
		return len(delivered), nil
	}
	for _, d := range buried {
		r.cfg.logger.Error("dualwrite: change moved to the dead-letter table", "id", d.ID, "table", d.Table, "key", d.Key, "err", d.Error)
	}
	return len(delivered), r.Alert(ctx)
}

// lease locks the rows of those of buckets that no other relay holds and
// that do not wait for a retry (FOR UPDATE SKIP LOCKED), in tx.
func (r *Relay) lease(ctx context.Context, tx *sql.Tx, buckets []int) ([]*lease, error) {
	q := []byte("SELECT bucket, failures, single FROM " + r.o.outbox("dualwrite_buckets") + " WHERE bucket IN (")
	for i, b := range buckets {
		if i > 0 {
			q = append(q, ',')
		}
		q = strconv.AppendInt(q, int64(b), 10)
	}
	q = append(q, ") AND retry_at <= UTC_TIMESTAMP(6) FOR UPDATE SKIP LOCKED"...)
	rows, err := tx.QueryContext(ctx, string(q))
	if err != nil {
		return nil, fmt.Errorf("dualwrite: relay: lease of buckets %v: %w", buckets, err)
	}
	defer rows.Close()
	var out []*lease
	for rows.Next() {
		l := &lease{}
		if err := rows.Scan(&l.bucket, &l.failures, &l.single); err != nil {
			return nil, fmt.Errorf("dualwrite: relay: lease of buckets %v: %w", buckets, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dualwrite: relay: lease of buckets %v: %w", buckets, err)
	}
	return out, nil
}

// record records in tx the outcome of l's delivery: a failure and its
// backoff (retry), a rejected batch to be delivered one entry at a time,
// or the rejected entry's attempt or its move to the dead-letter table
// (d, to be logged and alerted once tx commits).
func (r *Relay) record(ctx context.Context, tx *sql.Tx, l *lease) (retry bool, d *DeadLetter, err error) {
	buckets := r.o.outbox("dualwrite_buckets")
	reset := func() error {
		if _, err := tx.ExecContext(ctx, "UPDATE "+buckets+" SET failures = 0, single = 0, last_error = NULL WHERE bucket = "+strconv.Itoa(l.bucket)); err != nil {
			return fmt.Errorf("dualwrite: relay: bucket %d: %w", l.bucket, err)
		}
		return nil
	}
	switch derr := l.err; {
	case derr == nil:
		if l.failures > 0 || l.single {
			return false, nil, reset()
		}
		return false, nil, nil

	case errors.Is(derr, ErrRejected) && len(l.entries) > 1:
		// Find the rejected entry: deliver one at a time until one passes.
		r.cfg.logger.Info("dualwrite: batch rejected, delivering one entry at a time", "bucket", l.bucket, "err", derr)
		if _, err := tx.ExecContext(ctx, "UPDATE "+buckets+" SET single = 1, last_error = ? WHERE bucket = ?", derr.Error(), l.bucket); err != nil {
			return false, nil, fmt.Errorf("dualwrite: relay: bucket %d: %w", l.bucket, err)
		}
		return true, nil, nil

	case errors.Is(derr, ErrRejected):
		e := l.entries[0]
		e.Attempts++
		if e.Attempts >= r.cfg.maxAttempts {
			d := DeadLetter{Entry: e, Error: derr.Error(), FailedAt: time.Now().UTC()}
			if err := r.o.bury(ctx, tx, d); err != nil {
				return false, nil, err
			}
			return true, &d, reset()
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+r.o.outbox("dualwrite_outbox")+" SET attempts = ? WHERE id = ?", e.Attempts, e.ID); err != nil {
			return false, nil, fmt.Errorf("dualwrite: relay: entry %d: %w", e.ID, err)
		}
		return true, nil, r.retryLater(ctx, tx, l.bucket, e.Attempts, derr)

	default:
		return true, nil, r.retryLater(ctx, tx, l.bucket, l.failures+1, derr)
	}
}

// Alert tells the alerter (WithAlert) about every dead letter not told
// yet, each marked once the alerter returned nil: a dead letter whose
// relay died before alerting is alerted by the next Alert of any relay
// (Run calls it every minute). Without an alerter it does nothing.
func (r *Relay) Alert(ctx context.Context) error {
	if r.cfg.alert == nil {
		return nil
	}
	tx, err := r.o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("dualwrite: dead-letter alerts: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	dead, err := r.o.deadLetters(ctx, tx, " WHERE alerted = 0 ORDER BY id FOR UPDATE SKIP LOCKED")
	if err != nil {
		return err
	}
	for _, d := range dead {
		if err := r.cfg.alert.Alert(ctx, d); err != nil {
			r.cfg.logger.Error("dualwrite: dead-letter alert failed", "id", d.ID, "err", err)
			continue
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+r.o.outbox("dualwrite_dead_letters")+" SET alerted = 1 WHERE id = ?", d.ID); err != nil {
			return fmt.Errorf("dualwrite: dead letter %d: %w", d.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dualwrite: dead-letter alerts: %w", err)
	}
	return nil
}

// retryLater records in tx a failed delivery of bucket and its backoff.
func (r *Relay) retryLater(ctx context.Context, tx *sql.Tx, bucket, failures int, derr error) error {
	wait := backoff(r.cfg, failures)
	r.cfg.logger.Warn("dualwrite: delivery failed, retrying later", "bucket", bucket, "failures", failures, "wait", wait, "err", derr)
	if _, err := tx.ExecContext(ctx, "UPDATE "+r.o.outbox("dualwrite_buckets")+
		" SET failures = ?, last_error = ?, retry_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE bucket = ?",
		failures, derr.Error(), wait.Microseconds(), bucket); err != nil {
		return fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
	}
	return nil
}

// backoff is the wait after the nth failure: exponential from the
// minimum to the maximum, each wait drawn between half and all of it.
func backoff(c relayConfig, n int) time.Duration {
	d := c.minBackoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Cleanup deletes applied entries (Outbox.MarkApplied) older than the
// retention, in chunks, and returns how many.
func (r *Relay) Cleanup(ctx context.Context) (int64, error) {
	var total int64
	for {
		res, err := r.o.db.ExecContext(ctx, "DELETE FROM "+r.o.outbox("dualwrite_outbox")+
			" WHERE applied_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND LIMIT 1000", r.cfg.retention.Microseconds())
		if err != nil {
			return total, fmt.Errorf("dualwrite: outbox cleanup: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("dualwrite: outbox cleanup: %w", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
