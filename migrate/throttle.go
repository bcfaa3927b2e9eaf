package migrate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/copyengine"
)

// Throttler is consulted by a Copier before it reads each chunk. Throttle
// returns nil when the copy may go on, possibly after waiting (for example
// while replica lag or the source's load is too high); it must return
// promptly with ctx.Err() when ctx is done. A non-nil error stops the copy
// and is returned by Run. It is called from several goroutines at once.
type Throttler interface {
	Throttle(ctx context.Context, table string) error
}

// ThrottlerFunc adapts a function to Throttler.
type ThrottlerFunc func(ctx context.Context, table string) error

// Throttle calls f.
func (f ThrottlerFunc) Throttle(ctx context.Context, table string) error { return f(ctx, table) }

var _ Throttler = ThrottlerFunc(nil)

// holder is a Throttler that says why it holds the work (LoadThrottler).
type holder interface{ Held() string }

// held says why th holds the work, "" when it does not or cannot say
// (a Throttler without a Held method).
func held(th Throttler) string {
	if h, ok := th.(holder); ok {
		return h.Held()
	}
	return ""
}

// throttle returns when c's throttler (WithThrottler), if any, lets the
// work on table (named qualified in an error) go on.
func (c *config) throttle(ctx context.Context, table, qualified string) error {
	if c.throttler == nil {
		return nil
	}
	if err := c.throttler.Throttle(ctx, table); err != nil {
		return fmt.Errorf("table %s: throttler: %w", qualified, err)
	}
	return nil
}

// rateLimiter paces work to at most perSecond units per second over all
// goroutines: each unit of work pushes the time the next may start.
type rateLimiter struct {
	perSecond float64
	mu        sync.Mutex
	next      time.Time
}

func newRateLimiter(perSecond float64) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{perSecond: perSecond}
}

// wait blocks until the work done so far is within the rate.
func (l *rateLimiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	d := time.Until(l.next)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// done records n units of work.
func (l *rateLimiter) done(n int64) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.perSecond * float64(time.Second)))
}

// engineConfig is the copy engine's configuration for an executor with
// config c: chunks of at most capBytes (engineChunkBytes), sized and paced
// by c's options (WithChunkRows, WithThrottler, WithRateLimit), progress
// reported by progress, read errors wrapped by sourceErr.
func (c *config) engineConfig(capBytes int64, progress func(), sourceErr func(object string, err error) error) copyengine.Config {
	rowRate, byteRate := newRateLimiter(c.rowsPerSecond), newRateLimiter(c.bytesPerSecond)
	cfg := copyengine.Config{
		ChunkBytes:       capBytes,
		ChunkRows:        c.chunkRows,
		ProgressInterval: c.progressInterval,
		Progress:         progress,
		SourceError:      sourceErr,
		Pace: func(ctx context.Context, t *copyengine.Table) error {
			if err := c.throttle(ctx, t.Name, t.QualifiedName()); err != nil {
				return err
			}
			if err := rowRate.wait(ctx); err != nil {
				return err
			}
			return byteRate.wait(ctx)
		},
		Wrote: func(rows, bytes int64) {
			rowRate.done(rows)
			byteRate.done(bytes)
		},
	}
	// Under a rate limit a chunk is at most what the limit allows in one
	// chunk time, so that pacing is smooth rather than a burst and a pause.
	if c.rowsPerSecond > 0 {
		cfg.MaxChunkRows = max(1, int(c.rowsPerSecond*c.chunkTime.Seconds()))
	}
	return cfg
}

// engineChunkBytes caps the encoded bytes of one chunk: an eighth of the
// memory budget holds rows, and each thread has up to three chunks in
// flight (one being read, one queued, one being written); under a byte
// rate limit, at most what the limit allows in one chunk time.
func (c *config) engineChunkBytes() int64 {
	n := c.chunkBytes()
	if bps := c.bytesPerSecond; bps > 0 {
		n = min(n, max(4<<10, int64(bps*c.chunkTime.Seconds())))
	}
	return n
}
