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

// WithRetention keeps delivered entries for d before Run deletes them
// (default 24h).
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
// minute it deletes delivered entries older than the retention and
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

// Step makes one pass over the buckets that have entries to deliver and
// that no other relay holds, delivering one batch of each (WithWorkers at
// a time), and returns the entries delivered. It does nothing while the outbox is paused.
func (r *Relay) Step(ctx context.Context) (int, error) {
	var paused bool
	if err := r.o.db.QueryRowContext(ctx, "SELECT paused FROM "+r.o.outbox("dualwrite_state")+" WHERE id = 1").Scan(&paused); err != nil {
		return 0, fmt.Errorf("dualwrite: relay state: %w", err)
	}
	if paused {
		return 0, nil
	}
	// 64 probes of the pending index, whatever the outbox holds.
	rows, err := r.o.db.QueryContext(ctx, "SELECT b.bucket FROM "+r.o.outbox("dualwrite_buckets")+" b WHERE EXISTS (SELECT 1 FROM "+
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
	var (
		mu    sync.Mutex
		total int
		errs  []error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range min(r.cfg.workers, len(buckets)) {
		wg.Go(func() {
			for b := range next {
				n, err := r.deliverBucket(ctx, b)
				mu.Lock()
				total += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	for _, b := range buckets {
		next <- b
	}
	close(next)
	wg.Wait()
	return total, errors.Join(errs...)
}

// deliverBucket leases bucket, delivers one batch and records the outcome
// in the lease's transaction.
func (r *Relay) deliverBucket(ctx context.Context, bucket int) (int, error) {
	tx, err := r.o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("dualwrite: relay: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var failures int
	var single bool
	err = tx.QueryRowContext(ctx, "SELECT failures, single FROM "+r.o.outbox("dualwrite_buckets")+
		" WHERE bucket = "+strconv.Itoa(bucket)+" AND retry_at <= UTC_TIMESTAMP(6) FOR UPDATE SKIP LOCKED").Scan(&failures, &single)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // another relay holds it, or it waits for a retry
	}
	if err != nil {
		return 0, fmt.Errorf("dualwrite: relay: lease of bucket %d: %w", bucket, err)
	}
	limit := r.cfg.batch
	if single {
		limit = 1
	}
	entries, err := r.o.pending(ctx, tx, bucket, limit)
	if err != nil || len(entries) == 0 {
		return 0, err
	}

	dctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	derr := r.tr.Deliver(dctx, bucket, entries)
	cancel()
	buckets := r.o.outbox("dualwrite_buckets")
	switch {
	case derr == nil:
		ids := make([]uint64, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		if err := r.o.markDelivered(ctx, tx, ids); err != nil {
			return 0, fmt.Errorf("dualwrite: relay: marking bucket %d delivered: %w", bucket, err)
		}
		if failures > 0 || single {
			if _, err := tx.ExecContext(ctx, "UPDATE "+buckets+" SET failures = 0, single = 0, last_error = NULL WHERE bucket = "+strconv.Itoa(bucket)); err != nil {
				return 0, fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
		}
		r.count(int64(len(entries)), 0, 0)
		return len(entries), nil

	case errors.Is(derr, ErrRejected) && len(entries) > 1:
		// Find the rejected entry: deliver one at a time until one passes.
		r.cfg.logger.Info("dualwrite: batch rejected, delivering one entry at a time", "bucket", bucket, "err", derr)
		if _, err := tx.ExecContext(ctx, "UPDATE "+buckets+" SET single = 1, last_error = ? WHERE bucket = ?", derr.Error(), bucket); err != nil {
			return 0, fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
		}
		r.count(0, 1, 0)
		return 0, commit(tx, bucket)

	case errors.Is(derr, ErrRejected):
		e := entries[0]
		e.Attempts++
		if e.Attempts >= r.cfg.maxAttempts {
			d := DeadLetter{Entry: e, Error: derr.Error(), FailedAt: time.Now().UTC()}
			if err := r.o.bury(ctx, tx, d); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE "+buckets+" SET failures = 0, single = 0, last_error = NULL WHERE bucket = "+strconv.Itoa(bucket)); err != nil {
				return 0, fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
			}
			if err := commit(tx, bucket); err != nil {
				return 0, err
			}
			r.count(0, 1, 1)
			r.cfg.logger.Error("dualwrite: change moved to the dead-letter table", "id", e.ID, "table", e.Table, "key", e.Key, "err", derr)
			return 0, r.Alert(ctx)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+r.o.outbox("dualwrite_outbox")+" SET attempts = ? WHERE id = ?", e.Attempts, e.ID); err != nil {
			return 0, fmt.Errorf("dualwrite: relay: entry %d: %w", e.ID, err)
		}
		return 0, r.retryLater(ctx, tx, bucket, e.Attempts, derr)

	default:
		return 0, r.retryLater(ctx, tx, bucket, failures+1, derr)
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

// retryLater records a failed delivery of bucket and its backoff.
func (r *Relay) retryLater(ctx context.Context, tx *sql.Tx, bucket, failures int, derr error) error {
	wait := backoff(r.cfg, failures)
	r.cfg.logger.Warn("dualwrite: delivery failed, retrying later", "bucket", bucket, "failures", failures, "wait", wait, "err", derr)
	if _, err := tx.ExecContext(ctx, "UPDATE "+r.o.outbox("dualwrite_buckets")+
		" SET failures = ?, last_error = ?, retry_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE bucket = ?",
		failures, derr.Error(), wait.Microseconds(), bucket); err != nil {
		return fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
	}
	r.count(0, 1, 0)
	return commit(tx, bucket)
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

func commit(tx *sql.Tx, bucket int) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dualwrite: relay: bucket %d: %w", bucket, err)
	}
	return nil
}

// Cleanup deletes delivered entries older than the retention, in chunks,
// and returns how many.
func (r *Relay) Cleanup(ctx context.Context) (int64, error) {
	var total int64
	for {
		res, err := r.o.db.ExecContext(ctx, "DELETE FROM "+r.o.outbox("dualwrite_outbox")+
			" WHERE delivered_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND LIMIT 1000", r.cfg.retention.Microseconds())
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
